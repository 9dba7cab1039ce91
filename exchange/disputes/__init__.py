"""Disputes between departments over a sharing matter (数据共享争议, 《政务数据共享条例》 art. 28).

Modules: ``models`` (tables), ``errors``, ``matters`` (the matter a dispute is about and the
departments it concerns), ``service`` (opening, the steps, the clocks, the audit entries),
``reading`` (views).
"""
