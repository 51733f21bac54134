"""The database engine and the unit of work: one transaction, committed by its single owner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from service.settings import Settings


def create_engine(settings: Settings, *, pool_size: int | None = None) -> AsyncEngine:
    return create_async_engine(
        settings.async_database_url(),
        pool_size=pool_size or settings.db_pool_size,
        max_overflow=10,
        pool_pre_ping=False,
        # asyncpg caches prepared statements per connection; our statements are few and fixed.
        connect_args={"server_settings": {"application_name": "hitl"}},
    )


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """BEGIN ... COMMIT (or ROLLBACK on error). Callers act on side effects only after it exits."""
    async with engine.begin() as conn:
        yield conn
