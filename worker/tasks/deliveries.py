"""webhooks.deliver: one signed attempt of an outbox row, and the next attempt scheduled on failure."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from service.channels import deliveries, outbox, signing
from service.metrics import prom
from service.runtime import Runtime

log = logging.getLogger(__name__)


async def deliver(ctx: dict[str, Any], outbox_id: str) -> str:
    runtime: Runtime = ctx["runtime"]
    http: httpx.AsyncClient = ctx["http"]
    begun = await runtime.commit(lambda conn: deliveries.begin(conn, uuid.UUID(outbox_id)))
    if begun is None:
        return "not due"
    delivery, signing_secrets = begun
    policy = runtime.policies.current
    channel = policy.channels.get(delivery.channel)
    url = channel.webhook_url if channel else None
    error: str | None
    if delivery.disabled:  # added after the receiver said 410: not sent until a retry
        error = f"not sent: the endpoint is disabled ({delivery.disabled})"
    elif not url:
        error = f"channel {delivery.channel!r} has no webhook_url in the policy"
    else:
        target = await pin(url, policy.allow_private_webhooks)
        if isinstance(target, str):
            error = target
        else:
            error = await _post(http, target, delivery, signing_secrets, runtime)
    outcome = await runtime.commit(
        lambda conn: deliveries.record(conn, delivery, error, runtime.settings)
    )
    prom.WEBHOOKS.labels(
        {"delivered": "delivered", "gave up": "failed"}.get(outcome, "retry")
    ).inc()
    if error is not None:
        log.warning("webhook attempt %s of %s failed: %s", delivery.attempts, delivery.id, error)
    return outcome


@dataclass(frozen=True)
class Target:
    """A webhook URL pinned to the one address that was checked: the connection goes to that
    address (Host and TLS SNI still name the host), so a DNS answer that changes between the
    check and the connection (DNS rebinding) cannot point a delivery at a private network."""

    url: str  # with the address in place of the host name
    host: str  # the Host header: the URL's own host[:port]
    sni: str | None  # the TLS server name, for https


async def pin(url: str, allow_private: bool) -> Target | str:
    """The URL pinned to its resolved address, or why it may not be delivered to. A host that
    does not resolve is an error (retried), never taken for a public one."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except OSError as exc:
        return f"cannot resolve {host}: {exc}"
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        return f"cannot resolve {host}: no address"
    if not allow_private and any(not a.is_global for a in addresses):
        return f"{url} resolves to a private address (webhooks.allow_private_addresses is false)"
    chosen = addresses[0]
    netloc = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    if parts.port:
        netloc += f":{parts.port}"
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    shown = host + (f":{parts.port}" if parts.port else "")
    return Target(pinned, shown, host if parts.scheme == "https" else None)


async def _post(
    http: httpx.AsyncClient,
    target: Target,
    delivery: outbox.Delivery,
    secrets_: list[str],
    runtime: Runtime,
) -> str | None:
    headers = signing.sign_headers(str(delivery.id), datetime.now(UTC), delivery.body, secrets_)
    headers["Host"] = target.host
    limit = runtime.settings.webhook_timeout_seconds
    try:
        # The whole attempt, not each phase (connect, write, read), is bounded by the limit.
        async with asyncio.timeout(limit):
            response = await http.post(
                target.url,
                content=delivery.body.encode(),
                headers=headers,
                timeout=limit,
                extensions={"sni_hostname": target.sni} if target.sni else None,
            )
    except TimeoutError:
        return f"no answer within {limit:g} s"
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if 200 <= response.status_code < 300:
        return None
    if response.status_code == 410:
        return deliveries.GONE
    return f"HTTP {response.status_code}"
