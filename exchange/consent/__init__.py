"""Citizen consent (单独同意, PIPL art. 14 and 29).

``models``: the tables; ``errors``: its errors; ``service``: the writes (ask, approve or refuse,
change, revoke, use, expire); ``states``: where a consent or request stands at a given time, and
the consent states the exchange checks; ``artefact``: the signed artefact the citizen keeps as a
receipt; ``reading``: the lookups and views of systems and citizens; ``jobs``: the expiry sweep.
"""
