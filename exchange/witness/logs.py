"""The logs a witness trusts: for each origin, the keys (Ed25519, or SM2 for a ``gm`` hub's log)
whose signatures on a checkpoint of that origin it accepts (c2sp.org/tlog-witness: "configured
with a list of supported log public keys"), and the hash of that log's tree, taken from its
keys' type as the client SDK does: SHA-256 for Ed25519, SM3 for SM2 (docs/gm.md). A log's keys
are all of one type (a tree has one hash; a ``gm`` migration starts a new origin).

They come from ``log <vkey> [<url>]`` lines of a c2sp.org/tlog-policy file (read with
:func:`exchange.audit.policy.parse_policy`; its witness, group and quorum lines are checked and
otherwise ignored, and a file of log lines alone may leave out the quorum line) and from
verifier keys given one by one. A log's key name is its origin (tlog-policy); a log may have
several keys (a rotation), and no key may be named twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from exchange.audit.checkpoint import SM2_SM3, NoteVerifier, parse_vkey
from exchange.audit.errors import CheckpointError, WitnessPolicyError
from exchange.audit.merkle import TREE_HASHES
from exchange.audit.policy import parse_policy
from exchange.witness.errors import WitnessConfigError

__all__ = ["LogTree", "TrustedLogs", "trusted_logs"]


@dataclass(frozen=True)
class LogTree:
    """The hash of one log's RFC 9162 tree: its node hash and its empty tree's root."""

    profile: str  # "intl" (SHA-256) or "gm" (SM3)
    node_hash: Callable[[bytes, bytes], bytes]
    empty_root: bytes

    @classmethod
    def of(cls, key: NoteVerifier) -> LogTree:
        profile = "gm" if key.signature_type == SM2_SM3 else "intl"
        _, node_hash, empty_root = TREE_HASHES[profile]
        return cls(profile, node_hash, empty_root)


@dataclass(frozen=True)
class TrustedLogs:
    """Origin -> the verifiers of that log's keys."""

    by_origin: dict[str, tuple[NoteVerifier, ...]]

    def __post_init__(self) -> None:
        if not self.by_origin:
            raise WitnessConfigError("the witness trusts no log: name one with --logs or --log")

    @classmethod
    def of(cls, verifiers: Iterable[NoteVerifier]) -> TrustedLogs:
        by_origin: dict[str, list[NoteVerifier]] = {}
        seen: set[bytes] = set()
        for verifier in verifiers:
            if verifier.public_key in seen:
                raise WitnessConfigError(f"the key of the log {verifier.name} is named twice")
            seen.add(verifier.public_key)
            keys = by_origin.setdefault(verifier.name, [])
            if keys and keys[0].signature_type != verifier.signature_type:
                raise WitnessConfigError(
                    f"the log {verifier.name} has keys of two types (Ed25519 and SM2): a log's "
                    "tree has one hash"
                )
            keys.append(verifier)
        return cls({origin: tuple(keys) for origin, keys in by_origin.items()})

    def keys_of(self, origin: str) -> tuple[NoteVerifier, ...]:
        """The verifiers of *origin*'s keys; empty for a log this witness does not know."""
        return self.by_origin.get(origin, ())

    def tree_of(self, origin: str) -> LogTree:
        """The hash of *origin*'s tree, from its keys' type (a log this witness knows)."""
        return LogTree.of(self.by_origin[origin][0])

    @property
    def origins(self) -> list[str]:
        return sorted(self.by_origin)


def trusted_logs(policy_text: str | None = None, vkeys: Sequence[str] = ()) -> TrustedLogs:
    """The logs of a tlog-policy text (its ``log`` lines) and of single verifier keys."""
    verifiers: list[NoteVerifier] = []
    if policy_text is not None:
        verifiers.extend(_policy_logs(policy_text))
    for number, vkey in enumerate(vkeys, start=1):
        try:
            verifiers.append(parse_vkey(vkey))
        except CheckpointError as exc:
            raise WitnessConfigError(f"--log number {number}: {exc.detail}") from None
    return TrustedLogs.of(verifiers)


def _policy_logs(text: str) -> list[NoteVerifier]:
    if not any(line.split()[:1] == ["quorum"] for line in text.splitlines()):
        text = f"{text}\nquorum none\n"  # the logs alone: the witness has no quorum to meet
    try:
        policy = parse_policy(text)
    except WitnessPolicyError as exc:
        raise WitnessConfigError(f"the logs file: {exc.detail}") from None
    return [log.verifier for log in policy.logs]
