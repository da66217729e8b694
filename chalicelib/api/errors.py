"""HTTP errors and the one JSON error body every answer of ours uses.

    {"error": {"code": "validation_failed", "message": "...", "details": [...]}}

`code` is stable (clients branch on it); `message` is for people; `details` is
optional structure (which fields were wrong, when to retry).
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from chalicelib import errors as domain
from chalicelib.api.models import ApiModel


class ErrorDetail(ApiModel):
    model_config = ConfigDict(title="ErrorDetail")

    code: str
    message: str
    details: Any = None


class ErrorBody(ApiModel):
    """The body of every 4xx and 5xx answer."""

    model_config = ConfigDict(title="Error")

    error: ErrorDetail


class ApiError(Exception):
    """An answer other than success, with its status and stable code."""

    status = 400
    code = "bad_request"
    description = "The request is malformed."

    def __init__(self, message: str, details: Any = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The stable error body."""
    return {"error": {"code": code, "message": message, "details": details}}


class BadRequest(ApiError):
    status, code, description = 400, "bad_request", "The request is malformed."


class MalformedJson(ApiError):
    status, code, description = 400, "malformed_json", "The body is not valid JSON."


class ValidationFailed(ApiError):
    status, code, description = 400, "validation_failed", "A parameter or field is invalid."


class Unauthorized(ApiError):
    status, code, description = 401, "unauthorized", "A valid bearer token is required."


class Forbidden(ApiError):
    status, code, description = 403, "forbidden", "The caller may not do this."


class NotFound(ApiError):
    status, code, description = 404, "not_found", "No such object, or not visible to the caller."


class MethodNotAllowed(ApiError):
    status, code, description = 405, "method_not_allowed", "The path does not take this method."


class Conflict(ApiError):
    status, code, description = 409, "conflict", "The request clashes with the current state."


class PayloadTooLarge(ApiError):
    status, code, description = 413, "payload_too_large", "The body is larger than allowed."


class UnsupportedMediaType(ApiError):
    status, code, description = 415, "unsupported_media_type", "The body must be JSON."


class Unprocessable(ApiError):
    status, code, description = 422, "unprocessable", "Well-formed, but breaks a rule."


class TooManyRequests(ApiError):
    status, code, description = 429, "rate_limited", "Too many attempts; retry later."


class InternalError(ApiError):
    status, code, description = 500, "internal_error", "An unexpected error; it was logged."


class ServiceUnavailable(ApiError):
    status, code, description = 503, "unavailable", "A dependency is down; retry later."


# What a 401 answers (RFC 6750): the scheme, no detail an attacker could use.
BEARER_CHALLENGE = 'Bearer realm="photofeed"'


def from_domain(exc: domain.PhotofeedError) -> ApiError:
    """The HTTP answer for a domain error: the one place this mapping lives."""
    if isinstance(exc, domain.Unauthenticated):
        return Unauthorized(exc.message, exc.details, {"WWW-Authenticate": BEARER_CHALLENGE})
    if isinstance(exc, domain.RateLimited):
        return TooManyRequests(exc.message, exc.details, {"Retry-After": str(exc.retry_after)})
    for domain_type, api_type in _DOMAIN_TO_API:
        if isinstance(exc, domain_type):
            return api_type(exc.message, exc.details)
    return BadRequest(exc.message, exc.details)


_DOMAIN_TO_API: list[tuple[type[domain.PhotofeedError], type[ApiError]]] = [
    (domain.NotFound, NotFound),
    (domain.PermissionDenied, Forbidden),
    (domain.Conflict, Conflict),
    (domain.InvalidInput, Unprocessable),
    (domain.DependencyUnavailable, ServiceUnavailable),
]

# Chalice answers some requests itself (405, its own error types, unhandled exceptions)
# with {"Code": ..., "Message": ...}; the middleware rewrites those into our body.
CHALICE_CODES: dict[str, type[ApiError]] = {
    "BadRequestError": BadRequest,
    "UnauthorizedError": Unauthorized,
    "ForbiddenError": Forbidden,
    "NotFoundError": NotFound,
    "MethodNotAllowedError": MethodNotAllowed,
    "ConflictError": Conflict,
    "UnprocessableEntityError": Unprocessable,
    "TooManyRequestsError": TooManyRequests,
    "RequestTimeoutError": ServiceUnavailable,
    "UnsupportedMediaType": UnsupportedMediaType,
    "BadRequest": BadRequest,
    "InternalServerError": InternalError,
}
