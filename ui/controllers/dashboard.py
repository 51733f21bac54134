"""The dashboard: how escalation behaves over a chosen period, for supervisors and admins."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Controller, Request, Response, get
from markupsafe import Markup

from service.db import Connection
from service.errors import Invalid
from service.metrics import calibration, dashboard, shadow
from ui import charts, render
from ui.controllers.supervisor import supervisors_only
from ui.pages import context, signed_in
from ui.security import runtime_of

LABELS = {
    "confidence": "low confidence",
    "explicit_request": "asked for a person",
    "sentiment": "negative sentiment",
    "distress": "distress",
    "topic": "policy topic",
    "repeat_contact": "repeat contact",
    "loop": "loop",
    "approved": "approved unchanged",
    "edited": "edited",
    "taken_over": "taken over",
    "expired": "expired (budget)",
    "superseded": "superseded",
}


class DashboardController(Controller):
    path = "/dashboard"
    guards = [supervisors_only]

    @get("/")
    async def show(self, request: Request[Any, Any, Any], period: str = "7d") -> Response[str]:
        chosen = dashboard.PERIODS.get(period)
        if chosen is None:
            raise Invalid(f"period must be one of {', '.join(dashboard.PERIODS)}")
        runtime = runtime_of(request)
        policy = runtime.policies.current
        async_channels = [c.name for c in policy.channels.values() if c.mode == "async"]
        teams = signed_in(request).team_scope()

        async def load(conn: Connection) -> tuple[Any, ...]:
            data = await dashboard.figures(conn, chosen, teams)
            fit = await calibration.calibrate(
                conn,
                chosen.length,
                0.05,
                async_channels,
                policy.threshold_for("", None),
                teams=teams,
            )
            twin = (
                await shadow.compare(conn, chosen.length, limit=20, teams=teams)
                if runtime.shadow
                else None
            )
            return data, fit, twin

        data, fit, twin = await runtime.read(load)
        ctx = await context(request, "dashboard")
        graphs = _charts(data, chosen.bucket) | {"calibration": _calibration_chart(fit)}
        ctx |= {
            "data": data,
            "periods": list(dashboard.PERIODS),
            "charts": graphs,
            "labels": LABELS,
            "fit": fit,
            "twin": twin,
        }
        return render.page("dashboard.html", **ctx)


def _charts(data: dict[str, Any], bucket: str) -> dict[str, Markup]:
    rows = data["over_time"]
    labels = [_label(r["bucket"], bucket) for r in rows]
    types = sorted({t for r in rows for t in r["by_type"]})
    rate = [
        charts.Series(
            LABELS.get(t, t),
            [100 * r["by_type"].get(t, 0) / r["decisions"] if r["decisions"] else 0 for r in rows],
        )
        for t in types
    ]
    queue = data["queue"]
    return {
        # Markup: the SVG is built by our own code with every label escaped.
        "escalations": Markup(
            charts.bars(
                labels, rate, stacked=True, unit="%", title="Escalation rate by trigger type"
            )
        ),
        "outcomes": Markup(
            charts.share_bar(
                [(LABELS[o["key"]], o["pct"], o["n"]) for o in data["review_outcomes"]],
                title="Review outcomes",
            )
        ),
        "csat": Markup(
            charts.bars(
                [f"{LABELS.get(c['type'], c['type'])} (n={c['n']})" for c in data["csat"]],
                [charts.Series("average CSAT (1-5)", [c["csat"] for c in data["csat"]])],
                stacked=False,
                title="CSAT after escalation, by trigger type",
            )
        ),
        "queue": Markup(
            charts.bars(
                [_label(q["bucket"], bucket) for q in queue],
                [
                    charts.Series("held for review", [q["arrived"] for q in queue]),
                    charts.Series("handled by people", [q["by_people"] for q in queue]),
                    charts.Series("ran out of budget", [q["breached"] for q in queue]),
                ],
                stacked=False,
                title="Review load against what people handled",
            )
        ),
    }


def _calibration_chart(fit: dict[str, Any]) -> Markup:
    buckets = [b for b in fit["buckets"] if b["n"]]
    return Markup(
        charts.bars(
            [f"{b['from']:.1f}-{b['to']:.1f} (n={b['n']})" for b in buckets],
            [
                charts.Series(
                    "approved unchanged", [100 * (b["approved_unchanged"] or 0) for b in buckets]
                )
            ],
            stacked=False,
            unit="%",
            title="Drafts approved unchanged, by confidence",
        )
    )


def _label(iso: str, bucket: str) -> str:
    at = datetime.fromisoformat(iso)
    return at.strftime("%H:00") if bucket == "hour" else at.strftime("%d %b")
