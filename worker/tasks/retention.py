"""The nightly prune: what the policy's `retention` no longer keeps, in small batches."""

from __future__ import annotations

import logging
from typing import Any

from service import retention
from service.runtime import Runtime

log = logging.getLogger(__name__)


async def prune_old(ctx: dict[str, Any]) -> dict[str, int]:
    runtime: Runtime = ctx["runtime"]
    pruned = await retention.prune(runtime.engine, runtime.policies.current.retention)
    if any(pruned.rows.values()):
        log.info("retention: pruned %s", pruned)
    return pruned.rows | {"turns": pruned.turns}
