"""webhooks.deliver: one signed attempt of an outbox row, and the next attempt scheduled on failure."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from service import db
from service.channels import outbox, secrets, signing
from service.metrics import prom
from service.runtime import DELIVER_JOB, Runtime

log = logging.getLogger(__name__)


async def deliver(ctx: dict[str, Any], outbox_id: str) -> str:
    runtime: Runtime = ctx["runtime"]
    http: httpx.AsyncClient = ctx["http"]
    event_id = uuid.UUID(outbox_id)
    async with db.transaction(runtime.engine) as conn:
        delivery = await outbox.claim(conn, event_id)
        if delivery is None:
            return "not due"
        signing_secrets = await secrets.signing_secrets(conn, delivery.channel)
    policy = runtime.policies.current
    channel = policy.channels.get(delivery.channel)
    url = channel.webhook_url if channel else None
    error = None
    if not url:
        error = f"channel {delivery.channel!r} has no webhook_url in the policy"
    elif not policy.allow_private_webhooks and await _is_private(url):
        error = f"{url} resolves to a private address (webhooks.allow_private_addresses is false)"
    else:
        error = await _post(http, url, delivery, signing_secrets.all(), runtime)
    return await _record(runtime, delivery, error)


async def _post(
    http: httpx.AsyncClient,
    url: str,
    delivery: outbox.Delivery,
    secrets_: list[str],
    runtime: Runtime,
) -> str | None:
    headers = signing.sign_headers(str(delivery.id), datetime.now(UTC), delivery.body, secrets_)
    try:
        response = await http.post(
            url,
            content=delivery.body.encode(),
            headers=headers,
            timeout=runtime.settings.webhook_timeout_seconds,
        )
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


async def _record(runtime: Runtime, delivery: outbox.Delivery, error: str | None) -> str:
    settings = runtime.settings
    async with db.transaction(runtime.engine) as conn:
        if error is None:
            await outbox.mark_delivered(conn, delivery.id)
            prom.WEBHOOKS.labels("delivered").inc()
            return "delivered"
        age = (datetime.now(UTC) - delivery.created_at).total_seconds()
        delay = outbox.backoff_delay(
            delivery.attempts,
            settings.webhook_backoff_base_seconds,
            settings.webhook_backoff_max_seconds,
        )
        give_up = age + delay > settings.webhook_retry_for_seconds or "private address" in error
        next_at = await outbox.mark_retry(
            conn, delivery.id, delay_seconds=delay, error=error, give_up=give_up
        )
    prom.WEBHOOKS.labels("failed" if give_up else "retry").inc()
    log.warning("webhook attempt %s of %s failed: %s", delivery.attempts, delivery.id, error)
    if next_at is not None:
        try:
            await runtime.redis.enqueue_job(
                DELIVER_JOB,
                str(delivery.id),
                _job_id=f"{DELIVER_JOB}:{delivery.id}:{delivery.attempts}",
                _defer_by=delay,
            )
        except Exception:
            log.warning("could not schedule the retry; the sweeper will", exc_info=True)
    return "gave up" if give_up else "will retry"


async def _is_private(url: str) -> bool:
    """Refuse loopback, private, link-local and reserved targets unless the policy allows them."""
    host = urlsplit(url).hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False  # unresolvable: the POST fails and is retried like any network error
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return True
    return False
