"""JSON Schemas (2020-12) for every document that crosses a boundary, and the error root.

This package imports nothing from the project. Schemas live as plain files in ``json/`` so that
departments and clients can read them without Python; :func:`validator` returns a ready
``jsonschema`` validator with the cross-file ``$ref`` s resolved.
"""

from schemas._loader import SCHEMA_NAMES, load_schema, validator
from schemas.errors import ProblemDetail, TongbanError

__all__ = ["SCHEMA_NAMES", "ProblemDetail", "TongbanError", "load_schema", "validator"]
