"""What one witness is made of, and the one place it is put together (for ``tongban witness
serve`` and for tests): its key file, the logs it trusts, its state."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from exchange.audit.policy import MAX_POLICY_CHARS
from exchange.witness.errors import WitnessConfigError
from exchange.witness.keys import read_key_file
from exchange.witness.logs import TrustedLogs, trusted_logs
from exchange.witness.service import Witness
from exchange.witness.state import WitnessState

__all__ = ["WitnessConfig"]


@dataclass(frozen=True)
class WitnessConfig:
    key_file: Path
    state: str  # a file path (SQLite) or an SQLAlchemy URL
    logs_file: Path | None = None  # a c2sp.org/tlog-policy file: its log lines
    log_vkeys: tuple[str, ...] = ()

    def trusted_logs(self) -> TrustedLogs:
        policy_text = None
        if self.logs_file is not None:
            try:
                with self.logs_file.open(encoding="utf-8") as handle:
                    policy_text = handle.read(MAX_POLICY_CHARS + 1)
            except (OSError, UnicodeDecodeError) as exc:
                reason = type(exc).__name__
                raise WitnessConfigError(f"cannot read {self.logs_file} ({reason})") from None
        return trusted_logs(policy_text, self.log_vkeys)

    def open(self, *, clock: Callable[[], float] = time.time) -> Witness:
        """The witness, its state opened (and created, on first start)."""
        cosigner = read_key_file(self.key_file)
        logs = self.trusted_logs()
        return Witness(cosigner, logs, WitnessState.open(self.state), clock=clock)
