"""The prune every ten minutes: what the policy's `retention` no longer keeps, in small batches,
for at most BUDGET_SECONDS a run (bench/history.py at 10 M turns: about 2,600 turns with their
conversations and decisions a second, so some 17 M turns a day). A run is bounded because
arq's lease on every running job lasts as long as the longest job timeout: one hour-long job
would leave any job of a killed worker waiting an hour before another worker may take it."""

from __future__ import annotations

import logging
from typing import Any

from service import retention
from service.runtime import Runtime

log = logging.getLogger(__name__)

BUDGET_SECONDS = 45.0  # within the job's 60 s timeout, the same as every other job's


async def prune_old(ctx: dict[str, Any]) -> dict[str, int]:
    runtime: Runtime = ctx["runtime"]
    pruned = await retention.prune(
        runtime.pg, runtime.policies.current.retention, budget_seconds=BUDGET_SECONDS
    )
    if any(pruned.rows.values()):
        log.info("retention: pruned %s", pruned)
    return pruned.rows | {"turns": pruned.turns}
