"""Connectors to departments' legacy sources (SQL, CSV and fixed-width files, HTTP APIs).

Empty until the adapters issue lands; the package exists now so that the layering of
docs/adr/0001-package-layering.md is in place from the first commit.
"""
