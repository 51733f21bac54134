"""Standard Webhooks signing: the headers a receiver verifies with the `standardwebhooks` library."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign_headers(
    msg_id: str, timestamp: datetime, body: str, secrets_: list[str]
) -> dict[str, str]:
    """Headers for one delivery; several secrets (during a rotation) give several signatures."""
    signatures = [Webhook(secret).sign(msg_id, timestamp, body) for secret in secrets_]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
    }
