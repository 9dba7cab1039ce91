"""What ``tongban audit verify`` found (:func:`exchange.audit.verify.verify_log`): the kinds of
check in their order, and the report that counts, per kind, the problems and what could not be
checked."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

__all__ = ["KINDS", "Problem", "VerifyReport"]

KINDS = (
    "sequence",
    "leaf",
    "column",
    "node",
    "head",
    "checkpoint",
    "shrink",
    "map",
    "witness",
    "consent",
    "agreement",
)
"""The kinds of check, in the order :mod:`exchange.audit.verify` lists them."""


@dataclass(frozen=True)
class Problem:
    """What one kind of check found: the first bad index (None when the problem has none, as a
    checkpoint's signature), how many are bad, and the first one in plain words."""

    first_index: int | None
    count: int
    message: str


@dataclass
class VerifyReport:
    """What :func:`verify_log` found: how many entries it read, stored nodes and checkpoints and
    held notes it checked; per kind (:data:`KINDS`) the ``problems`` and the checks that could
    not be made (``unchecked``); the verified head and, if one is stored, its checkpoint note;
    and the recomputed root at every size asked about (each checkpoint's, each held note's, the
    head's)."""

    entries: int = 0
    nodes: int = 0
    checkpoints: int = 0
    held: int = 0
    maps: int = 0  # signed map roots that held
    problems: dict[str, Problem] = field(default_factory=dict)
    unchecked: dict[str, Problem] = field(default_factory=dict)
    head: tuple[int, bytes] | None = None  # the head's (size, root), once verified
    head_note: str | None = None  # the stored checkpoint note of the verified head, if any
    roots: dict[int, bytes] = field(default_factory=dict, repr=False)
    map_roots: dict[int, bytes] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unchecked

    @property
    def first(self) -> Problem | None:
        """The problem of the first kind, in the order of the checks."""
        return next((self.problems[kind] for kind in KINDS if kind in self.problems), None)

    @property
    def first_bad_index(self) -> int | None:
        return None if self.first is None else self.first.first_index

    @property
    def problem(self) -> str | None:
        return None if self.first is None else self.first.message

    def add(self, kind: str, index: int | None, message: str, count: int = 1) -> None:
        _count(self.problems, kind, index, message, count)

    def skip(self, kind: str, index: int | None, message: str) -> None:
        _count(self.unchecked, kind, index, message, 1)


def _count(found: dict[str, Problem], kind: str, index: int | None, message: str, n: int) -> None:
    known = found.get(kind)
    found[kind] = (
        Problem(index, n, message) if known is None else replace(known, count=known.count + n)
    )
