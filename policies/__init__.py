"""The sharing-policy engine: pure functions from (request, field metadata, agreements, consent
state) to a per-field decision. No database, no network, no clock it is not handed.

Empty until the exchange issue lands; the package exists now so that the layering of
docs/adr/0001-package-layering.md is in place from the first commit.
"""
