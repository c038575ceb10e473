"""One exception hierarchy for the whole platform.

Each class knows its HTTP status and its machine-readable ``code``; the HTTP app factory
turns any :class:`BobakuError` into the error envelope
``{"status": "error", "error": {"code", "message", "details"}}``, so handlers raise and
never build error responses themselves.
"""

from __future__ import annotations

from typing import Any


class BobakuError(Exception):
    """Base of every error we raise on purpose."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_envelope(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        error["details"] = self.details if self.details is not None else {}
        return {"status": "error", "error": error}


class BadRequest(BobakuError):
    status = 400
    code = "bad_request"


class MalformedJSON(BadRequest):
    code = "malformed_json"


class ValidationFailed(BobakuError):
    """The request was well-formed but a field is wrong; ``details.fields`` names each."""

    status = 422
    code = "validation_failed"


class Unauthorized(BobakuError):
    status = 401
    code = "unauthorized"


class Forbidden(BobakuError):
    status = 403
    code = "forbidden"


class TenantForbidden(Forbidden):
    """A caller reached for another franchise's data; always logged as a security event."""

    code = "tenant_forbidden"


class NotFound(BobakuError):
    status = 404
    code = "not_found"


class FranchiseNotFound(NotFound):
    """A franchise id that names no franchise: reading it is a 404 and creates nothing."""

    code = "franchise_not_found"


class Conflict(BobakuError):
    status = 409
    code = "conflict"


class ConcurrencyConflict(Conflict):
    """An append to an aggregate lost the race: its expected sequence was stale."""

    code = "concurrency_conflict"

    def __init__(self, subject: str, expected: int, actual: int | None = None) -> None:
        super().__init__(
            f"aggregate {subject} moved on: expected last sequence {expected}"
            + (f", found {actual}" if actual is not None else ""),
            details={"subject": subject, "expected": expected, "actual": actual},
        )
        self.subject = subject
        self.expected = expected
        self.actual = actual


class PayloadTooLarge(BobakuError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(BobakuError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(BobakuError):
    status = 429
    code = "rate_limited"


class DependencyUnavailable(BobakuError):
    status = 503
    code = "dependency_unavailable"


class EventSchemaError(BobakuError):
    """An event does not match the JSON Schema of its type and version."""

    status = 500
    code = "event_schema_error"
