"""Read-only views for supervisors: the shadow policy's agreement with the live one."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from litestar import Controller
from litestar.params import Parameter

from service.api.routes import DURATION, get
from service.errors import Forbidden, Invalid
from service.metrics import calibration, shadow
from service.policy.durations import parse_duration
from service.reviewers.caller import Caller
from service.runtime import Runtime


class InsightsController(Controller):
    path = "/v1"
    tags = ["supervisor"]

    @get("/shadow", summary="How the shadow policy would have decided, against the live one")
    async def shadow_comparison(
        self,
        runtime: Runtime,
        caller: Caller,
        since: Annotated[str, Parameter(pattern=DURATION, description="e.g. 24h, 7d")] = "24h",
    ) -> dict[str, Any]:
        period = _period_for_supervisor(caller, since)
        result = await runtime.read(
            lambda conn: shadow.compare(conn, period, teams=caller.team_scope())
        )
        result["live_policy"] = runtime.policies.current.version
        result["shadow_policy"] = runtime.shadow.current.version if runtime.shadow else None
        return result

    @get("/calibration", summary="Confidence against review outcomes; a threshold for a target")
    async def calibration(
        self,
        runtime: Runtime,
        caller: Caller,
        since: Annotated[str, Parameter(pattern=DURATION, description="e.g. 30d")] = "30d",
        target: Annotated[float, Parameter(gt=0, lt=1)] = 0.05,
    ) -> dict[str, Any]:
        period = _period_for_supervisor(caller, since)
        if not 0 < target < 1:
            raise Invalid("target: must be between 0 and 1, e.g. 0.05", field="target")
        policy = runtime.policies.current
        async_channels = [c.name for c in policy.channels.values() if c.mode == "async"]
        return await runtime.read(
            lambda conn: calibration.calibrate(
                conn,
                period,
                target,
                async_channels,
                policy.threshold_for("", None),
                teams=caller.team_scope(),
            )
        )


def _period_for_supervisor(caller: Caller, since: str) -> timedelta:
    """Insights are for supervisors and admins; `since` is a duration such as 24h or 7d."""
    if caller.role not in ("supervisor", "admin"):
        raise Forbidden("supervisors and admins only")
    try:
        return parse_duration(since)
    except ValueError as err:
        raise Invalid(f"since: {err}", field="since") from err
