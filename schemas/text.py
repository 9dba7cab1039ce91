"""Free text that people read: refuse control and bidirectional-formatting characters.

Text a citizen, an officer or an auditor reads (a consent request's purpose, an agreement's
justification, a refusal's reasons, a catalogue title) must show what it says. A bidi override
(U+202E) can make ``txt.exe`` read as ``exe.txt``; a NUL, a carriage return or a line feed can
split or hide a line in a log, an export or a terminal. Such text is refused where it enters,
naming where it is (a field, a JSON pointer) and the kind of character, never the value.

Refused everywhere: C0 controls (U+0000–U+001F) but LF where a text may have several lines,
DEL and C1 controls (U+007F–U+009F), the bidi marks, embeddings, overrides and isolates
(U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), the Unicode line and paragraph
separators (U+2028, U+2029), and lone surrogates (not text at all). Everything else, CJK
punctuation and full-width forms included, is accepted.

One checker, :func:`text_problem`; :func:`document_text_problems` walks a parsed JSON / YAML
document with it (catalogue descriptors, agreement applications), and the HTTP layer wraps it
in a pydantic type. This module imports nothing from the project.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Final

from schemas.errors import ProblemDetail
from schemas.explain import pointer

__all__ = ["MULTILINE_DOCUMENT_KEYS", "document_text_problems", "text_problem"]

_BIDI: Final = frozenset({0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)})
_SEPARATORS: Final = frozenset({0x2028, 0x2029})

MULTILINE_DOCUMENT_KEYS: Final = frozenset({"summary", "description", "condition", "justification"})
"""Members of descriptors and agreement applications that may hold several lines (LF only)."""


def _kind(code: int, *, multiline: bool) -> str | None:
    if code == 0x0A:
        return None if multiline else "a line break"
    if code == 0x0D:
        return "a carriage return"
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return "a control character"
    if code in _BIDI:
        return "a bidirectional formatting character"
    if code in _SEPARATORS:
        return "a Unicode line or paragraph separator"
    if 0xD800 <= code <= 0xDFFF:
        return "a lone surrogate"
    return None


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` may not be shown as text, or None when it may.

    The answer names the first offending character by its code point (``U+202E``), never the
    text around it. With ``multiline``, LF (U+000A) separates lines; CR never does."""
    for char in value:
        code = ord(char)
        if code >= 0x20 and code < 0x7F:
            continue
        kind = _kind(code, multiline=multiline)
        if kind is not None:
            return f"contains {kind} (U+{code:04X}); control and bidi characters are not allowed"
    return None


def document_text_problems(
    document: object,
    *,
    multiline_keys: Collection[str] = MULTILINE_DOCUMENT_KEYS,
    at: tuple[str | int, ...] = (),
) -> Iterator[ProblemDetail]:
    """A problem at the JSON pointer of every string (member names too) that
    :func:`text_problem` refuses; a member named in ``multiline_keys`` may hold LF."""
    if isinstance(document, str):
        multiline = bool(at) and isinstance(at[-1], str) and at[-1] in multiline_keys
        problem = text_problem(document, multiline=multiline)
        if problem is not None:
            yield ProblemDetail(pointer=pointer(at), detail=problem)
    elif isinstance(document, dict):
        for key, value in document.items():
            name = str(key)
            problem = text_problem(name)
            if problem is not None:
                yield ProblemDetail(pointer=pointer(at), detail=f"a member name {problem}")
                continue
            yield from document_text_problems(value, multiline_keys=multiline_keys, at=(*at, name))
    elif isinstance(document, list):
        for index, item in enumerate(document):
            yield from document_text_problems(item, multiline_keys=multiline_keys, at=(*at, index))
