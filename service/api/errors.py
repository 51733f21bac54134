"""Maps errors to the contract's JSON shape: {status_code, detail, extra}; never a 500 for bad input."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import redis.exceptions
from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException

from service.errors import DomainError

log = logging.getLogger("service.api")


def _body(status: int, detail: str, extra: Any = None) -> Response[Any]:
    return Response({"status_code": status, "detail": detail, "extra": extra}, status_code=status)


def domain_error(_: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    return _body(exc.status, exc.detail, exc.extra or None)


def validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """Name the offending field in the detail itself, not only in `extra`."""
    problems = exc.extra if isinstance(exc.extra, list) else []
    parts = []
    for p in problems:
        if isinstance(p, dict):
            key = p.get("key") or p.get("source") or "body"
            parts.append(f"{key}: {p.get('message', 'invalid')}")
    # Without a field the whole body failed to decode: say so rather than echo the parser.
    detail = "; ".join(parts) or f"body: malformed JSON ({exc.detail})"
    return _body(400, detail, problems or None)


def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    detail = exc.detail
    if isinstance(exc.__cause__, SerializationException):
        detail = f"body: malformed JSON ({exc.detail})"
    elif exc.status_code == 413:
        detail = "request body too large (the limit is 256 KiB)"
    return Response(
        {"status_code": exc.status_code, "detail": detail, "extra": exc.extra or None},
        status_code=exc.status_code,
        headers=exc.headers,
    )


def too_deep(_: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    """Only a body nested thousands deep reaches the decoder's recursion limit."""
    return _body(400, "body: JSON nested too deeply (a turn is a few levels deep)")


RETRY_AFTER = "5"  # seconds: a restarting PostgreSQL or Redis is usually back by then


def unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """PostgreSQL or Redis cannot be reached: 503 with Retry-After, never a 500 (CONTRACT 4).
    Nothing was acknowledged, so the channel's retry (with its Idempotency-Key) is safe."""
    log.warning("dependency unreachable on %s %s: %r", request.method, request.url.path, exc)
    return Response(
        {
            "status_code": 503,
            "detail": "a dependency (PostgreSQL or Redis) is unreachable or too slow; retry shortly",
            "extra": None,
        },
        status_code=503,
        headers={"Retry-After": RETRY_AFTER},
    )


def _closed_under_us(exc: BaseException | None) -> bool:
    """asyncpg's client-side error for a connection the server closed during the request: the
    pool has already taken it back ("released back to the pool", "connection is closed").
    Other interface errors are our own mistakes and stay 500s."""
    return isinstance(exc, asyncpg.exceptions.InterfaceError) and (
        "released back to the pool" in str(exc) or "connection is closed" in str(exc)
    )


def interface_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if _closed_under_us(exc):
        return unavailable(request, exc)
    return internal_error(request, exc)


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _body(500, "internal error")


# What a stopped, restarting or stalled server looks like from here.
UNREACHABLE: tuple[type[BaseException], ...] = (
    ConnectionError,  # refused, reset: the socket itself
    TimeoutError,  # asyncpg's pool acquire and command timeouts
    asyncpg.exceptions.QueryCanceledError,  # statement_timeout
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, cannot connect now
    asyncpg.exceptions.ConnectionDoesNotExistError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)

HANDLERS: dict[Any, Any] = {
    **dict.fromkeys(UNREACHABLE, unavailable),
    asyncpg.exceptions.InterfaceError: interface_error,
    DomainError: domain_error,
    ValidationException: validation_error,
    HTTPException: http_error,
    RecursionError: too_deep,
    Exception: internal_error,
}
