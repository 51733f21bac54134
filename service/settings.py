"""The one Settings object (environment prefix HITL_), built once at start-up and passed down."""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HITL_", extra="ignore")

    database_url: str | None = None
    redis_url: str | None = None
    policy_path: Path = Path("policies/default.yaml")
    # A candidate policy evaluated beside the live one on every turn, stored, never acted on.
    shadow_policy_path: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    secret_key: str | None = None
    # Where the embedded services, the generated secret key and other local state live.
    state_dir: Path = Path(".hitl")
    # Prefix of every Redis key and pub/sub channel, so several deployments (or test runs)
    # can share one Redis without seeing each other's jobs.
    redis_prefix: str = "hitl"
    max_body_bytes: int = 256 * 1024
    # How often the sweeper re-finds overdue reviews and undelivered webhooks in Postgres.
    sweep_interval_seconds: int = Field(default=5, ge=1, le=60)
    # First webhook retry delay; doubles each attempt (with jitter) up to webhook_backoff_max.
    webhook_backoff_base_seconds: float = 2.0
    webhook_backoff_max_seconds: float = 3600.0
    webhook_retry_for_seconds: float = 26 * 3600.0
    webhook_timeout_seconds: float = 10.0
    review_lease_seconds: int = 120
    db_pool_size: int = 40  # one pool: requests, jobs and the decision path
    # A slow database fails a request (503 with Retry-After) instead of hanging it: no statement
    # runs longer than this, and no request waits longer than that for a pooled connection.
    db_statement_timeout_seconds: float = Field(default=10.0, gt=0)
    db_acquire_timeout_seconds: float = Field(default=5.0, gt=0)
    # The database URL is a PgBouncer in transaction mode: no prepared statements kept across
    # transactions, no session settings at connect (set statement_timeout on the role instead:
    # ALTER ROLE hitl SET statement_timeout = '10s'; the client still gives up 2 s after it).
    db_pgbouncer: bool = False
    # Addresses (or CIDRs, comma-separated; "*" for any) of reverse proxies whose
    # X-Forwarded-For and X-Forwarded-Proto are believed: the client's address for the sign-in
    # limit, https for Secure cookies, HSTS and the WebSocket's Origin check. None by default.
    trusted_proxies: str = ""

    @property
    def services_dir(self) -> Path:
        """Where `hitl up` keeps its embedded PostgreSQL and Redis, and other commands find them."""
        return self.state_dir / "services"

    def with_services(self, database_url: str, redis_url: str) -> Settings:
        """These settings, with the embedded servers' URLs for whatever was not configured."""
        return self.model_copy(
            update={
                "database_url": self.database_url or database_url,
                "redis_url": self.redis_url or redis_url,
            }
        )

    def async_database_url(self) -> str:
        """The URL in the form SQLAlchemy's asyncpg dialect expects."""
        if not self.database_url:
            raise RuntimeError("HITL_DATABASE_URL is not set and no embedded database is running")
        return to_asyncpg_url(self.database_url)

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once into the state folder."""
        if self.secret_key:
            return self.secret_key
        path = self.state_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key


def to_asyncpg_url(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url!r}")


def to_libpq_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)
