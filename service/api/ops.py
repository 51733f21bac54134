"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, Response, get

from service.metrics import prom
from service.runtime import Runtime


class OpsController(Controller):
    include_in_schema = False

    @get("/healthz")
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz")
    async def readyz(self, runtime: Runtime) -> Response[Any]:
        checks = {"postgres": "ok", "redis": "ok"}
        try:
            async with asyncio.timeout(2):
                await runtime.read(lambda conn: conn.execute("SELECT 1"))
        except Exception as exc:
            checks["postgres"] = f"unreachable: {type(exc).__name__}"
        try:
            async with asyncio.timeout(2):
                await runtime.redis.ping()
        except Exception as exc:
            checks["redis"] = f"unreachable: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return Response(
            {
                "status": "ready" if ready else "unavailable",
                "checks": checks,
                "policy_version": runtime.policies.current.version,
            },
            status_code=200 if ready else 503,
        )

    @get("/metrics", media_type="text/plain; version=0.0.4")
    async def metrics(self, runtime: Runtime) -> bytes:
        return await runtime.read(prom.render)
