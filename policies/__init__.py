"""The sharing-policy engine: pure functions from (request, field metadata, agreements, consent
state) to a per-field decision. No database, no network, no clock it is not handed.

* :mod:`policies.model`: the frozen values the engine reads and answers (``QueryContext``,
  ``AttributeRequest``, ``Grant``, ``ConsentState``, ``Decision`` and its obligations).
* :mod:`policies.engine`: :func:`~policies.engine.decide`, deny by default, with the rule order in
  its docstring.
* :mod:`policies.transforms`: the release transforms (masks, keyed hash, year) and the derived
  predicates (``age_at_least``, ``resides_in``, ``owns_property_in``).
* :mod:`policies.errors`: ``PolicyError`` and its subclasses.

Imports only ``schemas`` and the pure vocabulary of ``catalogue`` (ADR 0001), so the rules can be
read and tested alone. The rules are described for departments and auditors in docs/policies.md.
"""
