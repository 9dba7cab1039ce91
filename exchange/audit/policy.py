"""Witness policies (c2sp.org/tlog-policy): which logs a verifier accepts, which witnesses it
knows, and which of them must have cosigned a checkpoint before it counts as published.

The file is lines of words separated by spaces or tabs; blank lines and ``#`` comments are
ignored::

    log <vkey> [<url>]
    witness <name> <vkey> [<url>]
    group <name> all|any|<k> <member>...
    quorum <name>|none

A group or the quorum may name only witnesses and groups defined on earlier lines; witnesses and
groups share one namespace, in which ``none`` is reserved; no two logs and no two witnesses may
wrap the same public key; there is exactly one quorum line. A checkpoint meets the policy when a
listed log signed it (the log's key name is its origin) and the quorum is satisfied by valid
cosignatures of listed witnesses (:mod:`exchange.audit.cosignature`).

:meth:`Policy.check` returns a :class:`Verdict` that says in plain words what is missing when
the policy is not met; it raises :class:`CheckpointError` only for a note no listed log signed
or a line of a listed key that does not verify (a forged cosignature is an error, not absence).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from exchange.audit.checkpoint import Checkpoint, NoteVerifier, parse_vkey
from exchange.audit.cosignature import Cosignature, CosignatureVerifier, parse_cosigner_vkey
from exchange.audit.errors import CheckpointError, WitnessPolicyError

__all__ = ["Group", "Log", "Policy", "Verdict", "Witness", "parse_policy"]

MAX_POLICY_CHARS = 256 * 1024
NONE = "none"


@dataclass(frozen=True)
class Witness:
    name: str
    verifier: CosignatureVerifier
    url: str | None = None


@dataclass(frozen=True)
class Log:
    verifier: NoteVerifier
    url: str | None = None

    @property
    def origin(self) -> str:
        return self.verifier.name


@dataclass(frozen=True)
class Group:
    name: str
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Verdict:
    """What a policy says of one note."""

    checkpoint: Checkpoint
    met: bool
    cosigned: Mapping[str, Cosignature]  # policy witness name -> its valid cosignature
    explanation: str  # one sentence, for people


@dataclass
class Policy:
    logs: list[Log] = field(default_factory=list)
    witnesses: dict[str, Witness] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    quorum: str = NONE

    def log_for(self, origin: str) -> Log | None:
        return next((log for log in self.logs if log.origin == origin), None)

    def check(self, note: str, *, origin: str | None = None) -> Verdict:
        """The verdict on *note*: signed by a listed log (of *origin*, when given), then the
        quorum over the valid cosignatures of listed witnesses."""
        checkpoint = self._log_checkpoint(note, origin)
        cosigned: dict[str, Cosignature] = {}
        for witness in self.witnesses.values():
            found = witness.verifier.find(note)
            if found is not None:
                cosigned[witness.name] = found
        met = self.satisfied(self.quorum, set(cosigned))
        return Verdict(checkpoint, met, cosigned, self._explain(met, cosigned))

    def satisfied(self, name: str, cosigned: set[str]) -> bool:
        """Whether the witness or group *name* witnessed, given who *cosigned*."""
        if name == NONE:
            return True
        if name in self.witnesses:
            return name in cosigned
        group = self.groups[name]
        count = sum(1 for member in group.members if self.satisfied(member, cosigned))
        return count >= group.threshold

    def _log_checkpoint(self, note: str, origin: str | None) -> Checkpoint:
        if not self.logs:
            raise CheckpointError("the witness policy lists no log")
        candidates = [log for log in self.logs if origin is None or log.origin == origin]
        if not candidates:
            raise CheckpointError(f"the witness policy does not list the log {origin}")
        problems = []
        for log in candidates:
            try:
                return log.verifier.verify(note, origin=log.origin)
            except CheckpointError as exc:
                problems.append(str(exc))
        raise CheckpointError("no log of the witness policy signed the checkpoint: " + problems[0])

    def describe_quorum(self) -> str:
        """The quorum in words: ``2 of A, B, C``, ``all of X, Y``, ``A`` or ``no witness``."""
        return "no witness" if self.quorum == NONE else self._describe(self.quorum)

    def _explain(self, met: bool, cosigned: Mapping[str, Cosignature]) -> str:
        who = ", ".join(sorted(cosigned)) or "no witness"
        if self.quorum == NONE:
            return "the policy asks for no witness"
        wanted = self._describe(self.quorum)
        if met:
            return f"the witness policy is met ({wanted}): cosigned by {who}"
        return f"the witness policy is not met: it needs {wanted}; cosigned by {who}"

    def _describe(self, name: str) -> str:
        if name in self.witnesses:
            return name
        group = self.groups[name]
        members = ", ".join(group.members)
        if group.threshold == len(group.members):
            return f"all of {members}" if len(group.members) > 1 else members
        return f"{group.threshold} of {members}"


def parse_policy(text: str) -> Policy:
    """The policy in *text*; :class:`WitnessPolicyError` naming the line of the first problem."""
    if not isinstance(text, str) or len(text) > MAX_POLICY_CHARS:
        raise WitnessPolicyError("the witness policy is too large")
    policy = Policy()
    quorums = 0
    keys: set[bytes] = set()
    for number, raw in enumerate(text.split("\n"), start=1):
        words = raw.replace("\t", " ").split(" ")
        words = [word for word in words if word]
        if not words or words[0].startswith("#"):
            continue
        try:
            kind = words[0]
            if kind == "log":
                _add_log(policy, words[1:], keys)
            elif kind == "witness":
                _add_witness(policy, words[1:], keys)
            elif kind == "group":
                _add_group(policy, words[1:])
            elif kind == "quorum":
                quorums += 1
                _set_quorum(policy, words[1:], quorums)
            else:
                raise WitnessPolicyError(f"unknown line kind {kind[:32]!r}")
        except (WitnessPolicyError, CheckpointError) as exc:
            raise WitnessPolicyError(f"line {number}: {exc}") from None
    if quorums != 1:
        raise WitnessPolicyError("the witness policy needs exactly one quorum line")
    return policy


def _add_log(policy: Policy, words: list[str], keys: set[bytes]) -> None:
    if len(words) not in (1, 2):
        raise WitnessPolicyError("a log line is: log <vkey> [<url>]")
    verifier = parse_vkey(words[0])
    _unique_key(keys, verifier.public_key, "log")
    policy.logs.append(Log(verifier, _url(words[1:])))


def _add_witness(policy: Policy, words: list[str], keys: set[bytes]) -> None:
    if len(words) not in (2, 3):
        raise WitnessPolicyError("a witness line is: witness <name> <vkey> [<url>]")
    name = _new_name(policy, words[0])
    verifier = parse_cosigner_vkey(words[1])
    _unique_key(keys, verifier.public_key, "witness")
    policy.witnesses[name] = Witness(name, verifier, _url(words[2:]))


def _add_group(policy: Policy, words: list[str]) -> None:
    if len(words) < 3:
        raise WitnessPolicyError("a group line is: group <name> all|any|<k> <member>...")
    name = _new_name(policy, words[0])
    members = tuple(words[2:])
    for member in members:
        if member not in policy.witnesses and member not in policy.groups:
            raise WitnessPolicyError(f"the group member {member[:64]!r} is not defined above")
    if len(set(members)) != len(members):
        raise WitnessPolicyError("a group lists a member twice")
    spec = words[1]
    if spec == "all":
        threshold = len(members)
    elif spec == "any":
        threshold = 1
    elif spec.isdecimal() and spec.isascii() and not spec.startswith("0"):
        threshold = int(spec)
        if threshold > len(members):
            raise WitnessPolicyError("a group's threshold is larger than its members")
    else:
        raise WitnessPolicyError("a group's threshold is all, any or a number from 1")
    policy.groups[name] = Group(name, threshold, members)


def _set_quorum(policy: Policy, words: list[str], quorums: int) -> None:
    if quorums > 1:
        raise WitnessPolicyError("the witness policy has a second quorum line")
    if len(words) != 1:
        raise WitnessPolicyError("a quorum line is: quorum <name>")
    name = words[0]
    if name != NONE and name not in policy.witnesses and name not in policy.groups:
        raise WitnessPolicyError(f"the quorum {name[:64]!r} is not defined above")
    policy.quorum = name


def _new_name(policy: Policy, name: str) -> str:
    if name == NONE:
        raise WitnessPolicyError("'none' is reserved")
    if name in policy.witnesses or name in policy.groups:
        raise WitnessPolicyError(f"the name {name[:64]!r} is defined twice")
    if len(name) > 128 or not name.isprintable():
        raise WitnessPolicyError("a name is at most 128 printable characters")
    return name


def _unique_key(keys: set[bytes], public_key: bytes, what: str) -> None:
    if public_key in keys:
        raise WitnessPolicyError(f"a {what} repeats a public key listed above")
    keys.add(public_key)


def _url(words: list[str]) -> str | None:
    if not words:
        return None
    parts = urlsplit(words[0])
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise WitnessPolicyError("a URL must be http or https with a host")
    return words[0].rstrip("/")
