"""Errors of the batch channel. Messages name agreements, systems, keys and extracts, never a
person (a bad subject is pointed at by its place in the list, never quoted)."""

from __future__ import annotations

from schemas import TongbanError

__all__ = [
    "BatchChunkNotFound",
    "BatchError",
    "BatchExtractExpired",
    "BatchExtractNotFound",
    "BatchGmUnsupported",
    "BatchKeyExists",
    "BatchKeyUnknown",
    "BatchNotAgreed",
    "BatchPopulationRefused",
    "BatchRangeNotSatisfiable",
    "InvalidBatchKey",
]


class BatchError(TongbanError):
    """The batch channel refused a request; the base of its errors."""

    code = "batch_error"
    status = 400
    title = "Batch channel error"


class BatchNotAgreed(BatchError):
    """The caller has no approved agreement in force with that id that names the batch
    channel (共享方式 ``batch``); nothing is extracted."""

    code = "batch_not_agreed"
    status = 403
    title = "No agreement for the batch channel"


class BatchPopulationRefused(BatchError):
    """The people asked for are not what the agreement allows: more than the configured
    number, listed twice, a purpose the agreement does not name, or a division when the sources
    can only be read person by person."""

    code = "batch_population_refused"
    status = 422
    title = "Population refused"


class InvalidBatchKey(BatchError):
    """An encryption key for batch extracts is a public EC P-256 or OKP X25519 JWK with a
    ``kid``; this one is not."""

    code = "invalid_batch_key"
    status = 422
    title = "Invalid encryption key"


class BatchKeyExists(BatchError):
    """The system already registered a different key under that ``kid``; a key id names one
    key."""

    code = "batch_key_exists"
    status = 409
    title = "Key id already registered"


class BatchKeyUnknown(BatchError):
    """The extract names an encryption key the system has not registered."""

    code = "batch_key_unknown"
    status = 422
    title = "Unknown encryption key"


class BatchExtractNotFound(BatchError):
    """No extract with that id for the caller (another system's is not found either)."""

    code = "batch_extract_not_found"
    status = 404
    title = "Extract not found"


class BatchChunkNotFound(BatchError):
    """The extract has no chunk with that number (chunks count from 0)."""

    code = "batch_chunk_not_found"
    status = 404
    title = "Chunk not found"


class BatchExtractExpired(BatchError):
    """The extract expired and its chunks were deleted; ask for a new one."""

    code = "batch_extract_expired"
    status = 410
    title = "Extract expired"


class BatchGmUnsupported(BatchError):
    """Under the national-crypto profile (gm) the hub makes no batch extract: no SM2
    public-key encryption scheme for JOSE is standardised that a consumer could decrypt with
    standard tools, and the hub will not fall back to international algorithms on a gm
    deployment."""

    code = "batch_gm_unsupported"
    status = 409
    title = "Batch extracts unavailable under the gm profile"


class BatchRangeNotSatisfiable(BatchError):
    """The byte range asked of a chunk (HTTP ``Range``) lies wholly outside it; the answer's
    ``Content-Range`` gives the chunk's length (RFC 9110 §15.5.17)."""

    code = "batch_range_not_satisfiable"
    status = 416
    title = "Range not satisfiable"
