"""Getting the hub's checkpoints cosigned by the witnesses of its policy (c2sp.org/tlog-witness).

The hub's witness policy (``TONGBAN_WITNESS_POLICY_FILE``, c2sp.org/tlog-policy) lists the
witnesses, their keys and their submission URLs, and the quorum that makes a checkpoint count as
published. :meth:`Witnessing.submit` sends the newest signed checkpoint to every witness that has
not cosigned it yet, ``add-checkpoint`` with an RFC 9162 consistency proof from the size that
witness last cosigned, and keeps each cosignature it gets back once it verifies with that
witness's key. A ``409`` tells the hub the size the witness really holds; the hub proves
consistency from there once (a hub whose records of its witnesses were rewritten still talks to
them correctly, and a hub whose log was rewritten gets refused). Whatever goes wrong with one
witness is recorded in ``audit_witnesses`` in the hub's own words and does not stop the others,
nor queries: receipts are still signed by the hub, and ``/readyz``, ``/metrics`` and the console
show how far the witnessed checkpoint lags behind the log.

:meth:`Witnessing.note` is the newest checkpoint's note with every stored cosignature appended,
and :meth:`Witnessing.verdict` what the policy says of it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from exchange import clock
from exchange.audit import merkle
from exchange.audit.checkpoint import b64, parse_checkpoint, split_note
from exchange.audit.checkpoints import CheckpointSigner, SignedCheckpoint
from exchange.audit.cosignature import Cosignature
from exchange.audit.errors import CheckpointError, WitnessPolicyError
from exchange.audit.log import TreeReader
from exchange.audit.models import AuditCheckpoint, AuditCosignature, AuditHead, AuditWitness
from exchange.audit.policy import Log, Policy, Verdict, Witness, parse_policy
from exchange.db import unit_of_work

__all__ = ["Submission", "WitnessGap", "WitnessStatus", "Witnessing"]

log = logging.getLogger("tongban.audit")

SIZE_MEDIA_TYPE = "text/x.tlog.size"
MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Submission:
    """How one submission to one witness went."""

    witness: str
    size: int
    ok: bool
    reason: str | None = None


@dataclass(frozen=True)
class WitnessStatus:
    name: str
    cosigner: str
    url: str | None
    cosigned_size: int
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class WitnessGap:
    """How far the witnessed log lags behind the log: for /readyz, /metrics and the console."""

    policy: str
    configured: bool
    log_size: int
    checkpoint_size: int
    witnessed_size: int
    witnesses: tuple[WitnessStatus, ...]

    @property
    def unwitnessed_entries(self) -> int:
        return max(0, self.log_size - self.witnessed_size)

    @property
    def failing(self) -> list[str]:
        return sorted(w.name for w in self.witnesses if w.last_error is not None)


class Witnessing:
    """The hub's witness policy and its submissions."""

    def __init__(
        self,
        signer: CheckpointSigner,
        policy: Policy,
        *,
        timeout_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        policy_text: str | None = None,
    ) -> None:
        self.signer = signer
        self.policy = _with_own_log(policy, signer)
        self.policy_text = policy_text if policy_text is not None else "quorum none\n"
        if not any(line.split()[:1] == ["log"] for line in self.policy_text.splitlines()):
            self.policy_text = f"log {signer.vkey()}\n{self.policy_text}"
        self._timeout = timeout_s
        self._transport = transport

    @classmethod
    def from_file(cls, signer: CheckpointSigner, path: Path | None) -> Witnessing:
        """The policy in *path*; with no file, a policy of no witnesses (``quorum none``): the
        hub's own signature is then all a checkpoint has, and every verifier is told so."""
        if path is None:
            return cls(signer, Policy())
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise WitnessPolicyError(
                f"the witness policy {path} cannot be read ({type(exc).__name__})"
            ) from None
        try:
            policy = parse_policy(text)
        except WitnessPolicyError as exc:
            raise WitnessPolicyError(f"the witness policy {path}, {exc}") from None
        return cls(signer, policy, policy_text=text)

    @property
    def configured(self) -> bool:
        return self.policy.quorum != "none" or bool(self.policy.witnesses)

    def describe(self) -> str:
        """The quorum in words, e.g. ``2 of A, B, C``."""
        return self.policy.describe_quorum()

    # -- serving -------------------------------------------------------------------------------

    def note(self, session: Session, checkpoint: SignedCheckpoint) -> str:
        """The checkpoint's note with every stored cosignature line of its size appended."""
        lines = session.scalars(
            select(AuditCosignature.line)
            .where(AuditCosignature.size == checkpoint.size)
            .order_by(AuditCosignature.cosigner, AuditCosignature.key_id)
        )
        return checkpoint.note + "".join(f"{line}\n" for line in lines)

    def verdict(self, note: str) -> Verdict:
        """What the policy says of *note*; a cosignature line that does not verify (a forged
        row of ``audit_cosignatures``, say) makes it not met and says so, it never raises."""
        try:
            return self.policy.check(note, origin=self.signer.origin)
        except CheckpointError as exc:
            text, _ = split_note(note)
            return Verdict(parse_checkpoint(text), False, {}, f"the note does not verify: {exc}")

    def forged_cosignatures(self, session: Session) -> list[str]:
        """Every stored cosignature of a policy witness that does not verify on the stored
        checkpoint of its size, in words (``tongban audit verify --policy``)."""
        witnesses = {_key(w): w for w in self.policy.witnesses.values()}
        found = []
        rows = session.scalars(select(AuditCosignature).order_by(AuditCosignature.size))
        for row in rows:
            witness = witnesses.get((row.cosigner, row.key_id))
            if witness is None:
                continue
            checkpoint = session.get(AuditCheckpoint, row.size)
            problem = f"the stored cosignature of {witness.name} at size {row.size}"
            if checkpoint is None:
                found.append(f"{problem} has no checkpoint of that size")
                continue
            try:
                cosignature = witness.verifier.find(f"{checkpoint.note}{row.line}\n")
            except CheckpointError:
                cosignature = None
            if cosignature is None or cosignature.timestamp != row.timestamp:
                found.append(f"{problem} does not verify")
        return found

    def monitored(self) -> list[tuple[str, str | None, str | None]]:
        """Each policy witness with a URL asked for the newest checkpoint of this log it
        cosigned (tlog-witness monitoring GET): (name, note, None), (name, None, None) when it
        has cosigned none, or (name, None, why it could not be asked)."""
        origin_hash = hashlib.sha256(self.signer.origin.encode("utf-8")).hexdigest()
        answers: list[tuple[str, str | None, str | None]] = []
        for witness in self.policy.witnesses.values():
            if witness.url is None:
                continue
            try:
                with httpx.Client(timeout=self._timeout, transport=self._transport) as client:
                    response = client.get(f"{witness.url}/{origin_hash}/checkpoint")
            except httpx.HTTPError as exc:
                answers.append((witness.name, None, f"cannot be reached ({type(exc).__name__})"))
                continue
            if response.status_code == 404:
                answers.append((witness.name, None, None))
            elif response.status_code != 200 or len(response.content) > MAX_RESPONSE_BYTES:
                answers.append((witness.name, None, f"answered {response.status_code}"))
            else:
                answers.append((witness.name, response.text, None))
        return answers

    def newest_witnessed(self, session: Session) -> tuple[str, Verdict] | None:
        """The newest checkpoint that meets the policy, with its cosignatures, and the verdict."""
        sizes = session.scalars(
            select(AuditCosignature.size).distinct().order_by(AuditCosignature.size.desc())
        ).all()
        if self.policy.quorum == "none":
            latest = self.signer.latest(session)
            sizes = [latest.size] if latest is not None else []
        for size in sizes:
            row = session.get(AuditCheckpoint, size)
            if row is None:
                continue
            note = self.note(session, SignedCheckpoint(row.size, row.root, row.note, row.signed_at))
            verdict = self.verdict(note)
            if verdict.met:
                return note, verdict
        return None

    def status(self, session: Session) -> list[WitnessStatus]:
        """Each witness of the policy, with what the hub last heard from it."""
        found = []
        for witness in self.policy.witnesses.values():
            state = session.get(
                AuditWitness, (witness.verifier.name, witness.verifier.key_id.hex())
            )
            found.append(
                WitnessStatus(
                    name=witness.name,
                    cosigner=witness.verifier.name,
                    url=witness.url,
                    cosigned_size=0 if state is None else state.cosigned_size,
                    last_success_at=None if state is None else state.last_success_at,
                    last_attempt_at=None if state is None else state.last_attempt_at,
                    last_error=None if state is None else state.last_error,
                )
            )
        return found

    def gap(self, session: Session) -> WitnessGap:
        """The log's size, the newest checkpoint's, the newest witnessed one's, each witness."""
        head = session.get(AuditHead, 1)
        latest = self.signer.latest(session)
        found = self.newest_witnessed(session)
        return WitnessGap(
            policy=self.describe(),
            configured=self.configured,
            log_size=0 if head is None else head.size,
            checkpoint_size=0 if latest is None else latest.size,
            witnessed_size=0 if found is None else found[1].checkpoint.size,
            witnesses=tuple(self.status(session)),
        )

    # -- submitting ----------------------------------------------------------------------------

    def submit(self, sessions: sessionmaker[Session]) -> list[Submission]:
        """Send the newest checkpoint to every witness with a URL that has not cosigned it."""
        with unit_of_work(sessions) as session:
            latest = self.signer.latest(session)
        if latest is None:
            return []
        results = []
        for witness in self.policy.witnesses.values():
            if witness.url is None:
                continue
            results.append(self._submit_one(sessions, witness, latest))
        return results

    def _submit_one(
        self, sessions: sessionmaker[Session], witness: Witness, latest: SignedCheckpoint
    ) -> Submission:
        key = _key(witness)
        with unit_of_work(sessions) as session:
            state = session.get(AuditWitness, key)
            known = 0 if state is None else state.cosigned_size
            have = session.get(AuditCosignature, (latest.size, *key)) is not None
        if have:
            return Submission(witness.name, latest.size, True)
        try:
            cosignature = self._exchange(sessions, witness, latest, old=min(known, latest.size))
        except _Refused as refused:
            self._record(sessions, witness, None, refused.reason)
            log.warning("witness %s refused checkpoint %d: %s", witness.name, latest.size, refused)
            return Submission(witness.name, latest.size, False, refused.reason)
        self._record(sessions, witness, cosignature, None)
        return Submission(witness.name, latest.size, True)

    def _exchange(
        self, sessions: sessionmaker[Session], witness: Witness, latest: SignedCheckpoint, old: int
    ) -> Cosignature:
        """POST add-checkpoint from *old*; on 409, once more from the witness's size."""
        for attempt in range(2):
            body = self._request_body(sessions, latest, old)
            response = self._post(witness, body)
            if response.status_code == 200:
                return self._cosignature(witness, latest, response)
            if response.status_code == 409 and attempt == 0:
                held = _held_size(response)
                if held > latest.size:
                    raise _Refused(
                        f"the witness has cosigned size {held}, larger than the hub's newest "
                        f"checkpoint {latest.size}: the log may have been cut back"
                    )
                old = held
                continue
            raise _Refused(_status_reason(response.status_code))
        raise _Refused("the witness kept answering 409")

    def _request_body(
        self, sessions: sessionmaker[Session], latest: SignedCheckpoint, old: int
    ) -> bytes:
        proof: Sequence[bytes] = ()
        if 0 < old < latest.size:
            with unit_of_work(sessions) as session:
                tree = TreeReader(session)
                tree.preload(merkle.consistency_path(old, latest.size))
                proof = merkle.consistency_proof(old, latest.size, tree.get)
        lines = [f"old {old}", *(b64(node) for node in proof)]
        return ("".join(f"{line}\n" for line in lines) + "\n" + latest.note).encode("utf-8")

    def _post(self, witness: Witness, body: bytes) -> httpx.Response:
        assert witness.url is not None  # noqa: S101 - only witnesses with a URL are submitted to
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport) as client:
                response = client.post(
                    f"{witness.url}/add-checkpoint",
                    content=body,
                    headers={"Content-Type": "text/plain; charset=utf-8"},
                )
                response.read()
        except httpx.HTTPError as exc:
            raise _Refused(f"the witness cannot be reached ({type(exc).__name__})") from None
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise _Refused("the witness's answer is too large")
        return response

    def _cosignature(
        self, witness: Witness, latest: SignedCheckpoint, response: httpx.Response
    ) -> Cosignature:
        """The witness's own valid cosignature out of a 200 answer."""
        try:
            text = response.content.decode("utf-8")
            found = witness.verifier.find(latest.note + text)
        except (UnicodeDecodeError, CheckpointError):
            raise _Refused("the witness answered with a cosignature that does not verify") from None
        if found is None:
            raise _Refused("the witness answered without a cosignature of its key")
        if (found.checkpoint.size, found.checkpoint.root) != (latest.size, latest.root):
            raise _Refused("the witness cosigned another checkpoint")
        return found

    def _record(
        self,
        sessions: sessionmaker[Session],
        witness: Witness,
        cosignature: Cosignature | None,
        error: str | None,
    ) -> None:
        now = clock.now()
        key = _key(witness)
        with unit_of_work(sessions, write=True) as session:
            state = session.get(AuditWitness, key, with_for_update=True)
            if state is None:
                state = AuditWitness(
                    cosigner=key[0], key_id=key[1], url=witness.url or "", cosigned_size=0
                )
                session.add(state)
            state.url = witness.url or ""
            state.last_attempt_at = now
            state.last_error = None if error is None else error[:200]
            if cosignature is not None:
                size = cosignature.checkpoint.size
                state.cosigned_size = max(state.cosigned_size, size)
                state.last_success_at = now
                if session.get(AuditCosignature, (size, *key)) is None:
                    session.add(
                        AuditCosignature(
                            size=size,
                            cosigner=key[0],
                            key_id=key[1],
                            timestamp=cosignature.timestamp,
                            line=cosignature.line,
                            received_at=now,
                        )
                    )


def _key(witness: Witness) -> tuple[str, str]:
    """The witness's row key: its cosigner key's name and hex key id (policy names are local)."""
    return witness.verifier.name, witness.verifier.key_id.hex()


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _held_size(response: httpx.Response) -> int:
    media = response.headers.get("content-type", "").split(";")[0].strip()
    text = response.text
    if media != SIZE_MEDIA_TYPE or not text.endswith("\n") or not text[:-1].isdecimal():
        raise _Refused("the witness answered 409 without its tree size")
    return int(text[:-1])


def _status_reason(status: int) -> str:
    reasons = {
        400: "the witness refused the request as malformed (400)",
        403: "the witness does not trust the hub's signature (403)",
        404: "the witness does not know this log (404)",
        409: "the witness holds another tree size (409)",
        422: "the witness found the checkpoint inconsistent with what it saw before (422)",
    }
    return reasons.get(status, f"the witness answered {status}")


def _with_own_log(policy: Policy, signer: CheckpointSigner) -> Policy:
    """The policy, listing the hub's own log: a policy that lists logs must list this hub's key
    (else every checkpoint would fail it); one that lists none gets it added."""
    own = signer.verifier()
    listed = policy.log_for(signer.origin)
    if listed is None:
        if policy.logs:
            raise WitnessPolicyError(
                f"the witness policy lists logs but not this hub's ({signer.origin})"
            )
        policy.logs.append(Log(own))
    elif listed.verifier.vkey() != own.vkey():
        raise WitnessPolicyError("the witness policy lists another key for this hub's log")
    return policy
