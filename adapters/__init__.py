"""Connectors to departments' legacy sources (SQL databases, CSV and fixed-width files, HTTP).

The contract is :class:`adapters.base.SourceAdapter`; implementations register in the
entry-point group ``tongban.adapters`` (:mod:`adapters.registry`). A mapping document
(:mod:`adapters.mapping`) says where each catalogue field sits in the source and how to read
it. Adapters know the catalogue's field schemas but nothing of policies.
"""
