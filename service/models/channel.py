"""What belongs to a channel: its API keys, its webhook secret and its outbox of deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, DateTime, Index, Integer, String, func, text
from sqlmodel import Field, SQLModel

from service.models.base import check_in, created_at_field, id_field, jsonb_field, tz_field

OUTBOX_STATUSES = ("pending", "delivered", "failed")


class ChannelKey(SQLModel, table=True):
    __tablename__ = "channel_key"
    id: uuid.UUID = id_field()
    channel: str = Field(index=True)
    key_hash: str = Field(sa_column=Column(String, nullable=False, unique=True))
    prefix: str
    created_at: datetime | None = created_at_field()
    revoked_at: datetime | None = tz_field()


class ChannelSecret(SQLModel, table=True):
    __tablename__ = "channel_secret"
    channel: str = Field(primary_key=True)
    # Stored in the clear: we must sign with it. The previous secret keeps signing for a day
    # after a rotation so receivers can roll over without dropping deliveries.
    secret: str
    previous_secret: str | None = None
    rotated_at: datetime | None = tz_field()
    created_at: datetime | None = created_at_field()


class OutboxEvent(SQLModel, table=True):
    """One webhook delivery; its id is the `webhook-id` sent on every attempt."""

    __tablename__ = "outbox_event"
    __table_args__ = (
        CheckConstraint(check_in("status", OUTBOX_STATUSES), name="outbox_status_allowed"),
        Index(
            "outbox_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("outbox_failed", "created_at", postgresql_where=text("status = 'failed'")),
        Index(
            "outbox_finished",
            "created_at",
            postgresql_where=text("status IN ('delivered', 'failed')"),
        ),
    )
    id: uuid.UUID = id_field()
    # Makes each side effect happen once: e.g. "review.completed:<review id>".
    dedupe_key: str = Field(sa_column=Column(String, nullable=False, unique=True))
    channel: str
    event_type: str
    payload: dict[str, Any] = jsonb_field()
    status: str = "pending"
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    next_attempt_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    locked_until: datetime | None = tz_field()
    last_error: str | None = None
    created_at: datetime | None = created_at_field()
    delivered_at: datetime | None = tz_field()
    # A supervisor's retry gives a delivery the whole retry window again, from then.
    retried_at: datetime | None = tz_field()


class WebhookEndpointDisabled(SQLModel, table=True):
    """A channel whose receiver answered 410 Gone: nothing is sent to it until a supervisor
    retries its deliveries, which removes the row."""

    __tablename__ = "webhook_endpoint_disabled"
    channel: str = Field(primary_key=True)
    reason: str
    disabled_at: datetime | None = created_at_field()
