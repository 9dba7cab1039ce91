"""Request-body text that people will read, checked where it enters (``schemas.text``).

``DisplayText`` is one line (a purpose, a title, a legal basis); ``DisplayParagraph`` may hold
several lines separated by LF (a justification, a refusal's reasons). Both refuse CR, every other
C0 / C1 control, DEL, the bidi-formatting characters and lone surrogates, with a 422
problem+json whose pointer names the field and whose detail names the code point, never the
value. Length limits stay with each field (``Field(max_length=…)``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from schemas.text import text_problem

__all__ = ["DisplayParagraph", "DisplayText"]


def _line(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _paragraph(value: str) -> str:
    problem = text_problem(value, multiline=True)
    if problem is not None:
        raise ValueError(problem)
    return value


DisplayText = Annotated[str, AfterValidator(_line)]
DisplayParagraph = Annotated[str, AfterValidator(_paragraph)]
