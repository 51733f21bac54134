"""Domain errors: a stable code and a status hint, free of any web framework."""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


class DomainError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class Invalid(DomainError):
    """Bad input: the detail names the field and what would be accepted, and `field` says
    which one, for clients that highlight it."""

    status, code = 400, "invalid"


class Unauthorized(DomainError):
    """No credentials, or ones we do not know."""

    status, code = 401, "unauthorized"


class Forbidden(DomainError):
    """Known, but not allowed this: another team's item, a role too low."""

    status, code = 403, "forbidden"


class NotFound(DomainError):
    status, code = 404, "not_found"


class Conflict(DomainError):
    """The item moved on (claimed by someone else, already decided, closed): the detail says
    how, in words a reviewer can act on."""

    status, code = 409, "conflict"


class KeyReused(DomainError):
    """An Idempotency-Key sent again with a different body (Stripe's rule: refuse, never guess)."""

    status, code = 422, "idempotency_key_reused"


def found(row: T | None, missing: str) -> T:
    """The row looked up, or NotFound saying what was missing."""
    if row is None:
        raise NotFound(missing)
    return row
