"""``tongban`` run in this process: :func:`exchange.cli.main`, the console script's own entry
point, with the arguments, environment, working directory and standard input a subprocess
would get, and its exit code and streams handed back as a subprocess's are.

What a command does (publish, sync, join shares …) is the same code either way, without the
second or so an interpreter takes to start and import the hub. Each command group keeps at
least one test through the installed script as a real subprocess (exit code, stdout, one-line
stderr), so the process boundary stays tested too.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

__all__ = ["tongban_in_process"]


def tongban_in_process(
    cwd: Path, *args: str, env: Mapping[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``tongban ARGS`` in ``cwd`` with exactly ``env`` as its environment, in this process."""
    from exchange.cli import main

    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")
    code = 0
    argv = ["tongban", *args]
    with _as_a_process(cwd, argv, env, stdin), redirect_stdout(out), redirect_stderr(err):
        try:
            main()
        except SystemExit as exit:
            code = _exit_code(exit)
    return subprocess.CompletedProcess(["tongban", *args], code, _text(out), _text(err))


@contextmanager
def _as_a_process(
    cwd: Path, argv: list[str], env: Mapping[str, str], stdin: str | None
) -> Iterator[None]:
    """This process's directory, arguments, environment, standard input and umask (which
    ``main`` sets to 077) as a subprocess's, and back afterwards."""
    saved = (os.getcwd(), sys.argv, dict(os.environ), sys.stdin, os.umask(0o022))
    os.umask(saved[4])
    try:
        os.chdir(cwd)
        sys.argv = argv
        os.environ.clear()
        os.environ.update(env)
        sys.stdin = io.TextIOWrapper(io.BytesIO((stdin or "").encode()), encoding="utf-8")
        yield
    finally:
        directory, sys.argv, environment, sys.stdin, umask = saved
        os.chdir(directory)
        os.environ.clear()
        os.environ.update(environment)
        os.umask(umask)


def _exit_code(exit: SystemExit) -> int:
    """The exit status a process would have; a message, as Python does, goes to stderr."""
    if exit.code is None:
        return 0
    if isinstance(exit.code, int):
        return exit.code
    sys.stderr.write(f"{exit.code}\n")
    return 1


def _text(stream: io.TextIOWrapper) -> str:
    stream.flush()
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    return buffer.getvalue().decode("utf-8")
