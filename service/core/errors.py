"""Domain errors. The HTTP layer maps each class to a status code; nothing here knows HTTP."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a use-case raises on purpose."""

    title = "Request cannot be processed"

    def __init__(self, detail: str, *, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class Malformed(DomainError):
    """The request itself is malformed (a header or parameter that cannot be parsed)."""

    title = "Bad request"


class NotFound(DomainError):
    """The resource does not exist, or the caller may not know it exists."""

    title = "Not found"


class Forbidden(DomainError):
    """The caller is authenticated but not allowed to do this."""

    title = "Forbidden"


class Unauthenticated(DomainError):
    """No valid credentials were presented."""

    title = "Unauthorized"


class Conflict(DomainError):
    """The request clashes with the current state (duplicate, concurrent use, wrong state)."""

    title = "Conflict"


class Invalid(DomainError):
    """The request is well-formed but its content breaks a rule; `errors` names the fields."""

    title = "Validation failed"


class PreconditionFailed(DomainError):
    """An `If-Match` precondition did not hold: the caller's copy is stale."""

    title = "Precondition failed"


class Gone(DomainError):
    """The resource existed but is no longer usable (expired link)."""

    title = "Gone"
