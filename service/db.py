"""The database engine and the unit of work: one transaction, committed by its single owner."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from service.settings import Settings, to_libpq_url

M = TypeVar("M")


def create_engine(settings: Settings, *, pool_size: int | None = None) -> AsyncEngine:
    url = settings.async_database_url()
    connect_args: dict[str, Any] = {
        "server_settings": _server_settings(settings, "hitl"),
        "command_timeout": settings.db_statement_timeout_seconds + 2,
    }
    if settings.db_pgbouncer:
        # A prepared statement lives on one server connection, which PgBouncer hands to another
        # client after the transaction: none are cached, and each gets a name of its own.
        url += ("&" if "?" in url else "?") + "prepared_statement_cache_size=0"
        connect_args |= {
            "statement_cache_size": 0,
            "prepared_statement_name_func": lambda: f"__hitl_{uuid.uuid4().hex}__",
        }
    return create_async_engine(
        url,
        pool_size=pool_size or settings.db_pool_size,
        max_overflow=10,
        pool_pre_ping=False,
        pool_timeout=settings.db_acquire_timeout_seconds,
        # asyncpg caches prepared statements per connection; our statements are few and fixed.
        connect_args=connect_args,
    )


def _server_settings(settings: Settings, application: str) -> dict[str, str]:
    """The server cancels a statement past the timeout (QueryCanceledError); the client gives
    up 2 s later (command_timeout) if the server itself stopped answering. PgBouncer refuses
    session settings at connect: there the role's own statement_timeout applies."""
    if settings.db_pgbouncer:
        return {"application_name": application}
    timeout = str(int(settings.db_statement_timeout_seconds * 1000))
    return {"application_name": application, "statement_timeout": timeout}


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """BEGIN ... COMMIT (or ROLLBACK on error). Callers act on side effects only after it exits."""
    async with engine.begin() as conn:
        yield conn


async def column(conn: AsyncConnection, sql: str, params: dict[str, Any]) -> list[Any]:
    """The first column of every row a statement returns (ids, mostly)."""
    return list((await conn.execute(text(sql), params)).scalars())


async def rows(conn: AsyncConnection, sql: str, params: dict[str, Any]) -> list[Row[Any]]:
    """Every row a statement returns."""
    return list((await conn.execute(text(sql), params)).all())


async def one(conn: AsyncConnection, sql: str, params: dict[str, Any]) -> Row[Any]:
    """The one row a statement returns (an error if there is none)."""
    return (await conn.execute(text(sql), params)).one()


async def first(conn: AsyncConnection, sql: str, params: dict[str, Any]) -> Row[Any] | None:
    """The first row a statement returns, or None."""
    return (await conn.execute(text(sql), params)).first()


def named(sql: str) -> tuple[str, tuple[str, ...]]:
    """Turns `:name` parameters into asyncpg's `$n`, once, for statements on the hot path."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _PARAM.sub(number, sql), tuple(names)


_PARAM = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


def of_teams(column: str, teams: Sequence[str] | None) -> str:
    """The condition limiting a query to these teams (bound as :teams); none for every team."""
    return "" if teams is None else f" AND {column} = ANY(:teams)"


def read_as(model: Callable[..., M], found: Iterable[Row[Any]]) -> list[M]:
    """Rows as a typed read model whose fields are the statement's columns, by name."""
    return [model(**row._mapping) for row in found]


def json_value(value: Any) -> Any:
    """A JSON column as Python: a pool connection hands it back as text, one under SQLAlchemy
    (or one with a codec) has it decoded already."""
    return json.loads(value) if isinstance(value, str) else value


# What asyncpg hands out: a bare connection, or one borrowed from a pool.
PgConnection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


class Statement:
    """A SQL text with named parameters, compiled once for asyncpg (which prepares and caches it)."""

    def __init__(self, sql: str) -> None:
        self.sql, self.names = named(sql)

    def args(self, params: dict[str, Any]) -> list[Any]:
        return [params[name] for name in self.names]


async def create_pool(settings: Settings, size: int = 10) -> asyncpg.Pool:
    """A raw asyncpg pool for the decision hot path, where SQLAlchemy's per-call overhead showed
    up as a third of the request's CPU in profiles."""
    return await asyncpg.create_pool(
        to_libpq_url(settings.database_url or ""),
        min_size=min(2, size),
        max_size=size,
        server_settings=_server_settings(settings, "hitl-turns"),
        command_timeout=settings.db_statement_timeout_seconds + 2,
        statement_cache_size=0 if settings.db_pgbouncer else 100,
        # The hot path sets no session state: skip asyncpg's RESET ALL round trip per release.
        reset=_keep_session,
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    return None


async def driver_connection(conn: AsyncConnection) -> PgConnection:
    """The asyncpg connection under a SQLAlchemy one, inside the same transaction: lets a
    use-case run the hot path's compiled statements without a second implementation."""
    raw = await conn.get_raw_connection()
    if conn.in_transaction() and getattr(raw.dbapi_connection, "_transaction", ...) is None:
        # SQLAlchemy's asyncpg adapter sends BEGIN with the first statement it runs itself: a
        # driver statement before that ran outside the transaction, its row locks released at
        # once (two concurrent offers of one transfer each reserved a slot). Begin it now.
        await conn.exec_driver_sql("SELECT 1")
    return raw.driver_connection  # type: ignore[return-value]
