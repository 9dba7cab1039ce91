"""The audit log: every exchange decision, released or denied, as a canonical entry that names
the subject only by a keyed pseudonym and never holds an attribute value.

``models``: the tables; ``errors``: its errors; ``log``: appending, in batches, to the Merkle
tree (``merkle``, ``canonical``, ``sink``); ``reading``: search, entries, exports and a
citizen's accesses; ``stats``: counts and anomaly rules for auditors; ``proofs``: inclusion and
consistency proofs; ``checkpoint``: the signed-note format, ``checkpoints``: signing them;
``verify``: checking the whole log; ``jobs``: the scheduled checkpoint.
"""
