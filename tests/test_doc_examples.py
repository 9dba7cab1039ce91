"""Every shell example of README.md and docs/*.md, run verbatim against a served demo hub.

What is an example: a fenced block whose language is ``sh``, ``bash`` or ``console``. An
``sh``/``bash`` block is a script as written; a ``console`` block runs its ``$ `` lines (with the
lines that continue them after a trailing ``\\``) and leaves the other lines, its output, alone.
(The README's Python example is run by ``tests/exchange/test_client.py``.)

How a page runs (one test per page, ``test_examples_run[docs/catalogue.md]``):

1. A hub serves the demo world as the README's Quickstart has it (``./dev demo`` is
   ``TONGBAN_MODE=dev tongban demo`` then ``tongban serve``): :func:`tests.servers.demo_hub`,
   with the suite's 150 citizens instead of 2000, on a free port, one hub per page, so each page
   starts from the world a reader has after ``./dev demo``.
2. Its examples run in a scratch directory laid out as the checkout is after ``./dev demo``: the
   hub's installation (``tongban.toml``, ``var/``) and links to the checkout's own files, so a
   path an example names (``exchange/demo/catalogue/10-res-psb-household.yaml``) resolves; no
   ``TONGBAN_*`` variable is set (``tongban.toml`` says ``dev``, as the demo writes it); ``PATH``
   starts with the project's venv (``tongban``, ``python``, ``python3``).
3. All of a page's examples, in the page's order, make one ``bash`` script with
   ``set -Eeuo pipefail``, so a later example sees what an earlier one set (``TOKEN=...``) and any
   failing command fails the page, naming the file and the line of the failing example's fence,
   the command that failed, and the example's output.
4. The text of an example is changed in one way only: ``http://127.0.0.1:8000``, where the
   examples' hub listens, becomes the URL of the hub the test serves.
5. ``curl`` is a shell function that adds ``--fail-with-body --show-error`` (unless the example
   asks for ``-f`` itself), so an HTTP error fails the example, with the problem it got printed.
   Output is not compared, except for the examples marked ``fails``.

Markers, an HTML comment on the line right above the fence (any other ``<!-- example: -->``
comment fails :func:`test_markers_are_well_formed`):

- ``<!-- example: not run (WHY) -->``: the example is not run; it is reported as a skipped test,
  ``test_example_not_run[docs/performance.md:53]``, with WHY (pytest's ``-ra`` lists them). Only
  for what cannot run in a test: installing system packages, production set-ups, servers in the
  foreground, benchmarks, the test suite itself. A server an example starts in the foreground
  (``tongban serve``) is such a block: the hub the examples need is the one the test serves.
- ``<!-- example: fails -->``, on a ``console`` block: its last command must exit non-zero and
  print every output line the block shows for it (stdout and stderr together); the commands
  before it must succeed.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.profiles import only_under
from tests.servers import demo_hub, hub_environment

pytestmark = [
    pytest.mark.serves,
    only_under(
        "intl",
        "the examples run against the world a reader has after ./dev demo, an intl one; "
        "the suite's profile changes no page",
    ),
]

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELLS = frozenset({"sh", "bash", "console"})
ORIGIN = "http://127.0.0.1:8000"
"""Where the examples' hub listens (``tongban serve``'s default); rewritten to the test's hub."""

_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<language>[\w-]*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*example:(?P<text>.*?)-->\s*$")
_NOT_RUN = re.compile(r"^not run \((?P<reason>.+)\)$")

_PRELUDE = r"""
set -Eeuo pipefail
trap '__rc=$?; __cmd=${FUNCNAME:+${FUNCNAME[0]} $*}
printf "\nthis command failed (exit %s): %s\n" "$__rc" "${__cmd:-$BASH_COMMAND}" >&2' ERR
curl() {
  local arg
  for arg in "$@"; do
    case "$arg" in
      --fail | --fail-with-body | -[!-]*f*) command curl --show-error "$@"; return ;;
    esac
  done
  command curl --fail-with-body --show-error "$@"
}
"""


@dataclass(frozen=True)
class Example:
    """One fenced shell block of a page: where it is, its text (fence indentation removed) and
    the marker above it, if any."""

    page: Path
    line: int
    language: str
    text: str
    marker: str | None

    @property
    def where(self) -> str:
        return f"{_id(self.page)}:{self.line}"

    @property
    def reason_not_run(self) -> str | None:
        match = _NOT_RUN.match(self.marker or "")
        return match["reason"] if match else None

    def commands(self) -> list[str]:
        """The commands: the whole text, or a ``console`` block's ``$`` lines with the lines
        that continue them."""
        if self.language != "console":
            return [self.text]
        commands: list[str] = []
        continued = False
        for line in self.text.splitlines():
            if continued:
                commands[-1] += "\n" + line
            elif line.startswith("$ "):
                commands.append(line[2:])
            else:
                continue
            continued = line.endswith("\\")
        return commands

    def last_output(self) -> list[str]:
        """The output lines a ``console`` block shows after its last command."""
        lines = self.text.splitlines()
        last = max(i for i, line in enumerate(lines) if line.startswith("$ "))
        while lines[last].endswith("\\"):
            last += 1
        return [line for line in lines[last + 1 :] if line.strip()]


def parse(page: Path) -> tuple[list[Example], list[str]]:
    """The shell examples of ``page``, and what is wrong with its markers."""
    lines = page.read_text("utf-8").splitlines()
    examples: list[Example] = []
    problems: list[str] = []
    marker: tuple[int, str] | None = None
    index = 0
    while index < len(lines):
        where = f"{_id(page)}:{index + 1}"
        if found := _MARKER.match(lines[index]):
            text = found["text"].strip()
            if text != "fails" and not _NOT_RUN.match(text):
                problems.append(f"{where}: unknown example marker {text!r}")
            marker = (index, text)
            index += 1
            continue
        fence = _FENCE.match(lines[index])
        if fence is None:
            if marker is not None:
                problems.append(f"{_id(page)}:{marker[0] + 1}: a marker not right above a block")
                marker = None
            index += 1
            continue
        end = index + 1
        while end < len(lines) and not re.match(r"^\s*```\s*$", lines[end]):
            end += 1
        language = fence["language"]
        if language in SHELLS:
            indent = len(fence["indent"])
            text = "\n".join(line[indent:] for line in lines[index + 1 : end])
            example = Example(page, index + 1, language, text, marker and marker[1])
            if example.marker == "fails" and language != "console":
                problems.append(f"{where}: 'fails' is for a console block")
            if language == "console" and not example.commands():
                problems.append(f"{where}: a console block without a '$ ' command")
            examples.append(example)
        elif marker is not None:
            problems.append(f"{where}: a marker above a {language or 'plain'} block")
        marker = None
        index = end + 1
    return examples, problems


def _all() -> Iterator[Example]:
    for page in PAGES:
        yield from parse(page)[0]


def _pages_to_run() -> list[Path]:
    return [p for p in PAGES if any(e.reason_not_run is None for e in parse(p)[0])]


def _id(page: Path) -> str:
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else str(page)


def script(examples: list[Example], base: str, progress: Path) -> str:
    """One bash script of a page's examples, each announced in the output and in ``progress``."""
    parts = [_PRELUDE]
    for example in examples:
        parts.append(f"printf '%s\\n' {example.line} >> {shlex.quote(str(progress))}\n")
        parts.append(f"printf '\\n### %s\\n' {shlex.quote(example.where)}\n")
        commands = [command.replace(ORIGIN, base) for command in example.commands()]
        if example.marker == "fails":
            parts.extend(f"{command}\n" for command in commands[:-1])
            parts.append(_must_fail(commands[-1], example.last_output()))
        else:
            parts.extend(f"{command}\n" for command in commands)
    return "".join(parts)


def _must_fail(command: str, shown: list[str]) -> str:
    checks = "".join(
        f'grep -Fxq -- {shlex.quote(line)} <<<"$__out" || '
        f"{{ echo 'expected output line missing: '{shlex.quote(line)} >&2; exit 1; }}\n"
        for line in shown
    )
    return (
        f"if __out=$( {{ {command}\n}} 2>&1 ); then\n"
        "  printf '%s\\n' \"$__out\"\n"
        "  echo 'expected this command to fail; it exited 0' >&2; exit 1\n"
        "fi\n"
        "printf '%s\\n' \"$__out\"\n" + checks
    )


def scratch(workdir: Path) -> None:
    """``workdir`` (a demo installation) made to look like the checkout after ``./dev demo``."""
    for entry in ROOT.iterdir():
        if entry.name.startswith(".") or entry.name in {"var", "tongban.toml"}:
            continue
        if not (workdir / entry.name).exists():
            (workdir / entry.name).symlink_to(entry)


def test_markers_are_well_formed() -> None:
    problems = [problem for page in PAGES for problem in parse(page)[1]]
    assert not problems, "\n".join(problems)


def run(examples: list[Example], base: str, workdir: Path, scripts: Path) -> str | None:
    """Run a page's ``examples`` in ``workdir`` against the hub at ``base``; ``None`` if they
    all passed, else what failed: the example's page and fence line, its commands, its output."""
    progress = scripts / "progress"
    (scripts / "examples.sh").write_text(script(examples, base, progress), "utf-8")
    venv = str(Path(sys.executable).parent)
    ran = subprocess.run(
        ["bash", "--noprofile", "--norc", str(scripts / "examples.sh")],  # noqa: S607 - PATH's bash
        cwd=workdir,
        env=hub_environment(PATH=f"{venv}{os.pathsep}{os.environ.get('PATH', '')}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        check=False,
    )
    if ran.returncode == 0:
        return None
    started = progress.read_text("utf-8").split() if progress.exists() else []
    failed = next((e for e in examples if started and e.line == int(started[-1])), None)
    if failed is None:
        return f"the examples' script failed before its first example\n{ran.stdout}"
    commands = "\n".join(failed.commands())
    output = ran.stdout[ran.stdout.rfind(f"### {failed.where}") :]
    return (
        f"{failed.where}: this example failed (bash exited {ran.returncode})\n"
        f"--- its commands ---\n{commands}\n--- the output ---\n{output}"
    )


@pytest.mark.parametrize("page", _pages_to_run(), ids=_id)
def test_examples_run(page: Path, tmp_path: Path) -> None:
    examples = [e for e in parse(page)[0] if e.reason_not_run is None]
    workdir = tmp_path / "checkout"
    with demo_hub(workdir) as hub:
        scratch(workdir)
        failure = run(examples, hub.base, workdir, tmp_path)
    if failure:
        pytest.fail(failure, pytrace=False)


@pytest.mark.parametrize(
    "example", [e for e in _all() if e.reason_not_run is not None], ids=lambda e: e.where
)
def test_example_not_run(example: Example) -> None:
    """Reported, never passed: each example marked ``not run``, with its reason."""
    pytest.skip(f"{example.where}: not run ({example.reason_not_run})")


PAGE = """\
# A page

```sh
TOKEN=$(echo secret)
```

<!-- example: not run (a server in the foreground) -->
```bash
tongban serve
```

```console
$ echo "$TOKEN" \\
    again
secret again
$ echo done
done
```

<!-- example: fails -->
```console
$ echo 'shown' && false
shown
```
"""


def test_a_page_runs_in_one_shell_and_console_blocks_run_their_commands(tmp_path: Path) -> None:
    (tmp_path / "page.md").write_text(PAGE, "utf-8")
    examples, problems = parse(tmp_path / "page.md")

    assert problems == []
    assert [(e.line, e.reason_not_run) for e in examples] == [
        (3, None),
        (8, "a server in the foreground"),
        (12, None),
        (21, None),
    ]
    assert examples[2].commands() == ['echo "$TOKEN" \\\n    again', "echo done"]
    runnable = [e for e in examples if e.reason_not_run is None]
    assert run(runnable, "http://127.0.0.1:1", tmp_path, tmp_path) is None


def test_a_failing_example_is_named_by_its_page_and_line(tmp_path: Path) -> None:
    page = PAGE.replace("$ echo done", "$ curl -s http://127.0.0.1:8000/nowhere")
    (tmp_path / "page.md").write_text(page, "utf-8")
    examples = [e for e in parse(tmp_path / "page.md")[0] if e.reason_not_run is None]

    failure = run(examples, "http://127.0.0.1:9", tmp_path, tmp_path) or ""

    assert failure.startswith(f"{tmp_path / 'page.md'}:12: this example failed")
    assert "curl -s http://127.0.0.1:8000/nowhere" in failure
    assert "this command failed (exit 7): curl -s http://127.0.0.1:9/nowhere" in failure


def test_an_example_marked_fails_must_fail_and_show_its_output(tmp_path: Path) -> None:
    for broken in ("$ echo 'shown' && true", "$ echo 'not shown' && false"):
        (tmp_path / "page.md").write_text(PAGE.replace("$ echo 'shown' && false", broken), "utf-8")
        examples = [e for e in parse(tmp_path / "page.md")[0] if e.reason_not_run is None]

        failure = run(examples, "http://127.0.0.1:1", tmp_path, tmp_path) or ""

        assert failure.startswith(f"{tmp_path / 'page.md'}:21: this example failed"), failure


def test_a_marker_must_be_known_and_right_above_a_shell_block(tmp_path: Path) -> None:
    (tmp_path / "page.md").write_text(
        "<!-- example: skip -->\n```sh\ntrue\n```\n\n<!-- example: not run (why) -->\n\n"
        "```sh\ntrue\n```\n<!-- example: fails -->\n```sh\nfalse\n```\n"
        "```console\noutput only\n```\n",
        "utf-8",
    )
    problems = [p.split(": ", 1)[1] for p in parse(tmp_path / "page.md")[1]]

    assert problems == [
        "unknown example marker 'skip'",
        "a marker not right above a block",
        "'fails' is for a console block",
        "a console block without a '$ ' command",
    ]
