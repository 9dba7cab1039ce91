"""A transparency-log witness (见证方, c2sp.org/tlog-witness): a service that a department, the
audit bureau or a neighbouring city runs so that the hub's operator cannot rewrite the audit
log unnoticed. It cosigns a log's checkpoint only when the checkpoint extends the latest one it
cosigned for that log, and serves that latest checkpoint to monitors.

A room of its own, apart from the hub: it shares no database, key or setting with a hub and
imports only the audit log's note, cosignature, policy and Merkle code and the owner-only file
helpers. ``errors``: its refusals; ``request``: reading an add-checkpoint request;
``logs``: the logs it trusts; ``keys``: its key file; ``state``: its state database and the
compare-and-swap; ``service``: the protocol's checks, in order; ``config``: putting one
together. Its HTTP face is ``exchange/api/witness.py``, its command ``tongban witness``
(``exchange/cli/witness.py``); docs/witness.md is the operator's guide.
"""
