"""The process's Prometheus counters and the scrape-time queue gauges."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from service import db
from service.db import Connection

REGISTRY = CollectorRegistry()

DECISIONS = Counter(
    "hitl_decisions_total",
    "Decisions by action and channel",
    ["action", "channel"],
    registry=REGISTRY,
)
TRIGGERS = Counter(
    "hitl_triggers_total",
    "Fired triggers by type and channel",
    ["trigger", "channel"],
    registry=REGISTRY,
)
DECISION_SECONDS = Histogram(
    "hitl_decision_seconds",
    "Time to decide POST /v1/turns",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
    registry=REGISTRY,
)
REVIEW_OUTCOMES = Counter(
    "hitl_review_outcomes_total", "Review endings by status", ["status"], registry=REGISTRY
)
WEBHOOKS = Counter(
    "hitl_webhook_attempts_total",
    "Webhook delivery attempts by result",
    ["result"],
    registry=REGISTRY,
)
TRANSFERS = Counter(
    "hitl_transfers_total",
    "Transfers by mode, team and deciding trigger",
    ["mode", "team", "trigger"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge("hitl_queue_depth", "Open reviews by team", ["team"], registry=REGISTRY)
QUEUE_OLDEST = Gauge(
    "hitl_queue_oldest_seconds",
    "Age of the oldest open review by team",
    ["team"],
    registry=REGISTRY,
)
BREACHES = Gauge(
    "hitl_budget_breaches_today", "Reviews that ran out of budget today", registry=REGISTRY
)


async def render(conn: Connection) -> bytes:
    rows = await db.rows(
        conn,
        "SELECT team, count(*) AS n, EXTRACT(EPOCH FROM now() - min(created_at)) AS oldest "
        "FROM review WHERE status IN ('pending', 'claimed') GROUP BY team",
    )
    QUEUE_DEPTH.clear()
    QUEUE_OLDEST.clear()
    for r in rows:
        QUEUE_DEPTH.labels(r.team).set(r.n)
        QUEUE_OLDEST.labels(r.team).set(float(r.oldest))
    breaches = await db.value(
        conn,
        "SELECT count(*) FROM review WHERE status = 'expired' AND decided_at >= date_trunc('day', now())",
    )
    BREACHES.set(breaches or 0)
    return generate_latest(REGISTRY)
