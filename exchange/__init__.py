"""The composition root: the hub itself, composed from the lower packages (schemas, catalogue,
policies, adapters).

Loose here is infrastructure only: ``app`` (the FastAPI app of a hub), ``hub`` (the one
composition, :class:`exchange.hub.Hub`), ``settings``, ``db``, ``errors`` (the hub-wide errors),
``logs``, ``files`` (files only the hub's operator may read). Everything else is in a room named
by the question it answers:

==================  ==============================================================
``security/``       Who may call? Client authentication, identity providers, the
                    hub's keys, key custody, the key schedule, resident IDs.
``sources/``        Where does a resource's data come from? The source registry
                    and the encrypted hub-side cache.
``query/``          What may a case system receive, and in what form?
``agreements/``     Sharing agreements (共享协议) for conditional fields.
``consent/``        Citizens' consents (授权) where a field needs one.
``audit/``          Who saw what and why: the Merkle log, checkpoints, ``verify``.
``jobs/``           When scheduled work runs (the scheduler only; each domain
                    declares its own work in its ``jobs.py``).
``api/``            HTTP only: routes, dependencies, problem+json.
``cli/``            ``tongban <group>``: one module per command group.
``client/``         The Python SDK for case systems (imports nothing of the project).
``demo/``           The demo city: legacy stores, catalogue, systems.
``witness/``        A transparency-log witness of the audit log, run apart from the
                    hub by another party (``tongban witness``): its state, its key,
                    the protocol's checks.
==================  ==============================================================
"""
