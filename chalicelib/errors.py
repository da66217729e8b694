"""The root of every capability's exceptions; the API maps them to HTTP in one place."""

from __future__ import annotations

from typing import Any


class PhotofeedError(Exception):
    """Base of every error the domain raises on purpose."""

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(PhotofeedError):
    """Raised when a caller's input breaks a rule the domain enforces."""


class NotFound(PhotofeedError):
    """Raised when a named object does not exist or the caller may not know it does."""


class Unauthenticated(PhotofeedError):
    """Raised when a request carries no valid session: missing, malformed, expired or revoked."""


class PermissionDenied(PhotofeedError):
    """Raised when the caller is known but may not do this."""


class Conflict(PhotofeedError):
    """Raised when the request clashes with the current state (a name already taken)."""


class RateLimited(PhotofeedError):
    """Raised when a caller has tried too often; `retry_after` is in seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, {"retry_after": retry_after})
        self.retry_after = retry_after


class DependencyUnavailable(PhotofeedError):
    """Raised when a datastore or AWS service does not answer in time."""
