"""GmSSL's failure lines kept out of the process's standard error.

GmSSL (``gmssl-pyx``) reports a failed SM2 verification by writing its source location to file
descriptor 2 (``…/sm2_sign.c:265:sm2_fast_verify():``), with no flag to turn it off. A caller
that sends many bad signatures would fill the hub's log with them, so
:func:`gmssl_stderr_filtered` runs a GmSSL call with descriptor 2 pointed at a scratch file,
then puts descriptor 2 back and passes on everything written meanwhile except GmSSL's own
location lines: what another thread of the process wrote to standard error during the call
(a log record) still reaches it, only later by the length of one call.

Calls are serialised by one lock (GmSSL's calls hold the GIL anyway). The scratch file is the
process's own (made again after a fork), unlinked from the start, and emptied after each call.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["gmssl_stderr_filtered"]

_T = TypeVar("_T")
_STDERR = 2
_GMSSL_LINE = re.compile(rb"[^\n]*\.c:[0-9]+:[A-Za-z_0-9]+\(\):[^\n]*\n?")
"""A location line of GmSSL's ``error_print``: ``<file>.c:<line>:<function>():``."""
_lock = threading.Lock()
_scratch: dict[int, int] = {}  # pid -> descriptor of that process's scratch file


def gmssl_stderr_filtered(call: Callable[[], _T]) -> _T:
    """``call()``, with GmSSL's location lines written to standard error meanwhile dropped and
    everything else written there passed on after it returns."""
    with _lock:
        scratch = _scratch_file()
        saved = os.dup(_STDERR)
        try:
            os.dup2(scratch, _STDERR)
            try:
                return call()
            finally:
                os.dup2(saved, _STDERR)
                _pass_on(scratch, saved)
        finally:
            os.close(saved)


def _scratch_file() -> int:
    pid = os.getpid()
    descriptor = _scratch.get(pid)
    if descriptor is None:
        _scratch.clear()  # a parent's descriptor, inherited over a fork, is not ours to share
        handle = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the process's life
        descriptor = _scratch[pid] = os.dup(handle.fileno())
        handle.close()
    return descriptor


def _pass_on(scratch: int, stderr: int) -> None:
    """Write what *scratch* holds, less GmSSL's lines, to *stderr*; empty *scratch*."""
    size = os.lseek(scratch, 0, os.SEEK_END)
    if not size:
        return
    os.lseek(scratch, 0, os.SEEK_SET)
    written = b""
    while len(written) < size:
        chunk = os.read(scratch, size - len(written))
        if not chunk:
            break
        written += chunk
    os.ftruncate(scratch, 0)
    os.lseek(scratch, 0, os.SEEK_SET)
    rest = _GMSSL_LINE.sub(b"", written)
    while rest:
        rest = rest[os.write(stderr, rest) :]
