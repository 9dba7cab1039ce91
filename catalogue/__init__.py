"""The catalogue registry (资源目录): departments, systems and their keys, data resources with
their fields, and service items; versioned publishing, search and DCAT-AP export.

Knows nothing of the exchange. The service functions take a SQLAlchemy session; the caller owns
the unit of work and commits.
"""
