"""Correction requests (校核纠错, 异议): wrong data corrected at its source and everywhere it went.

Modules: ``models`` (tables), ``errors``, ``disputes`` (the disputed mark on releases, cached),
``service`` (filing, answering, the clock, the audit entries), ``notices`` (the signed notices
to every system that received the old value, and their inbox), ``reading`` (views).
"""
