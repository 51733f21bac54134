"""The one way to the database: an asyncpg pool, statements with `:name` parameters compiled
once, rows that read by name, and the unit of work (one transaction, committed by its owner).
SQLModel tables (service/models) stay the schema that Alembic migrates; nothing runs through
SQLAlchemy at run time."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any, TypeVar

import asyncpg

from service.settings import Settings, to_libpq_url

M = TypeVar("M")
Params = dict[str, Any] | None


class Row(asyncpg.Record):
    """A row that reads by column name as an attribute too (`row.id`), as well as `row["id"]`.
    Record's own methods (get, items, keys, values) win: no column of ours has those names."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


# What asyncpg hands out: a bare connection, or one borrowed from a pool.
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


def _server_settings(settings: Settings, application: str) -> dict[str, str]:
    """The server cancels a statement past the timeout (QueryCanceledError); the client gives
    up 2 s later (command_timeout) if the server itself stopped answering. PgBouncer refuses
    session settings at connect: there the role's own statement_timeout applies."""
    if settings.db_pgbouncer:
        return {"application_name": application}
    timeout = str(int(settings.db_statement_timeout_seconds * 1000))
    return {"application_name": application, "statement_timeout": timeout}


@asynccontextmanager
async def transaction(
    pool: asyncpg.Pool, acquire_within: float | None = None
) -> AsyncIterator[Connection]:
    """BEGIN ... COMMIT (or ROLLBACK on error). Callers act on side effects only after it exits.
    acquire_within: seconds to wait for a free connection (TimeoutError past it)."""
    async with pool.acquire(timeout=acquire_within) as conn, conn.transaction():
        yield conn


@lru_cache(maxsize=1024)
def _compiled(sql: str) -> Statement:
    # Our SQL is a fixed set of constants (and a few built from them by team filter): the cache
    # holds them all, so each text is turned into asyncpg's form once per process.
    return Statement(sql)


def statement(sql: str | Statement) -> Statement:
    """A statement compiled once: a text is looked up (or compiled), a Statement is itself."""
    return sql if isinstance(sql, Statement) else _compiled(sql)


async def rows(conn: Connection, sql: str | Statement, params: Params = None) -> list[Row]:
    """Every row a statement returns."""
    s = statement(sql)
    return await conn.fetch(s.sql, *s.args(params or {}))  # type: ignore[return-value]


async def first(conn: Connection, sql: str | Statement, params: Params = None) -> Row | None:
    """The first row a statement returns, or None."""
    s = statement(sql)
    return await conn.fetchrow(s.sql, *s.args(params or {}))  # type: ignore[return-value]


async def one(conn: Connection, sql: str | Statement, params: Params = None) -> Row:
    """The one row a statement returns (an error if there is none)."""
    row = await first(conn, sql, params)
    if row is None:
        raise LookupError(f"no row for: {statement(sql).sql.strip().splitlines()[0]}")
    return row


async def column(conn: Connection, sql: str | Statement, params: Params = None) -> list[Any]:
    """The first column of every row a statement returns (ids, mostly)."""
    return [row[0] for row in await rows(conn, sql, params)]


async def value(conn: Connection, sql: str | Statement, params: Params = None) -> Any:
    """The first column of the first row, or None when there is no row."""
    s = statement(sql)
    return await conn.fetchval(s.sql, *s.args(params or {}))


async def execute(conn: Connection, sql: str | Statement, params: Params = None) -> int:
    """Runs a write; returns how many rows it touched (from the command tag, "UPDATE 3")."""
    s = statement(sql)
    tag = await conn.execute(s.sql, *s.args(params or {}))
    count = tag.rsplit(" ", 1)[-1]
    return int(count) if count.isdigit() else 0


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


def read_as(model: Callable[..., M], found: Iterable[Row]) -> list[M]:
    """Rows as a typed read model whose fields are the statement's columns, by name."""
    return [model(**dict(row.items())) for row in found]


def json_value(value: Any) -> Any:
    """A JSON value as Python: a json/jsonb column is decoded by the pool's codec already; a
    JSON text built in SQL (a `::text` or a bare connection without the codec) is not."""
    return json.loads(value) if isinstance(value, str) else value


class Statement:
    """A SQL text with named parameters, compiled once for asyncpg (which prepares and caches it)."""

    def __init__(self, sql: str) -> None:
        self.sql, self.names = named(sql)

    def args(self, params: dict[str, Any]) -> list[Any]:
        return [params[name] for name in self.names]


async def create_pool(
    settings: Settings, size: int | None = None, *, application: str = "hitl"
) -> asyncpg.Pool:
    """The process's one pool. asyncpg prepares each statement once per connection and caches
    it (SQLAlchemy's per-call overhead was a third of a decision's CPU in profiles)."""
    return await asyncpg.create_pool(
        to_libpq_url(settings.database_url or ""),
        min_size=min(2, size or settings.db_pool_size),
        max_size=size or settings.db_pool_size,
        server_settings=_server_settings(settings, application),
        command_timeout=settings.db_statement_timeout_seconds + 2,
        # PgBouncer hands a server connection to another client after each transaction, and a
        # prepared statement lives on one server connection: none are cached there.
        statement_cache_size=0 if settings.db_pgbouncer else 1024,
        init=json_codecs,
        record_class=Row,
        # We set no session state (SET LOCAL only): skip asyncpg's RESET ALL round trip per release.
        reset=_keep_session,
    )


async def connect(settings: Settings) -> asyncpg.Connection:
    """One connection made as the pool makes them (rows by name, JSON decoded), for a script or
    a test that runs a use-case outside a Runtime."""
    url = to_libpq_url(settings.database_url or "")
    conn: asyncpg.Connection = await asyncpg.connect(url, record_class=Row)
    await json_codecs(conn)
    return conn


async def json_codecs(conn: asyncpg.Connection) -> None:
    """json and jsonb decoded to Python on the way out; on the way in they take JSON text, which
    is what every statement passes (json.dumps at the call, or a literal)."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, schema="pg_catalog", encoder=str, decoder=json.loads, format="text"
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    return None
