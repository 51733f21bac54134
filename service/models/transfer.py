"""A hand-off of a conversation to a human team, warm (with a summary) or cold (routing only)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Identity,
    Index,
    Integer,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlmodel import Field, SQLModel

from service.models.base import check_in, created_at_field, id_field, jsonb_field, tz_field

MODES = ("warm", "cold")
STATUSES = ("created", "offered", "queued", "accepted", "closed", "cancelled")
# While a transfer is open a person has the conversation: the AI never answers it.
OPEN = ("created", "offered", "queued", "accepted")
WAITING = ("created", "offered", "queued")  # not yet accepted: it has a place in the queue
SENDERS = ("customer", "person", "system")  # system: a holding message from the policy
REASONS = ("trigger", "sync_low_confidence", "take_over", "timeout")


class Transfer(SQLModel, table=True):
    __tablename__ = "transfer"
    __table_args__ = (
        CheckConstraint(check_in("mode", MODES), name="transfer_mode_allowed"),
        CheckConstraint(check_in("status", STATUSES), name="transfer_status_allowed"),
        CheckConstraint(check_in("reason", REASONS), name="transfer_reason_allowed"),
        Index(
            "transfer_waiting_by_team",
            "team",
            text("priority DESC"),
            "created_at",
            postgresql_where=text(check_in("status", WAITING)),
        ),
        # The invariant of ownership: a conversation has at most one person at a time.
        Index(
            "transfer_one_open_per_conversation",
            "conversation_id",
            unique=True,
            postgresql_where=text(check_in("status", OPEN)),
        ),
        # A review is taken over or times out into at most one transfer.
        Index(
            "transfer_one_per_review",
            "review_id",
            unique=True,
            postgresql_where=text("review_id IS NOT NULL"),
        ),
        Index(
            "transfer_accepted_by_team",
            "team",
            "accepted_at",
            postgresql_where=text("accepted_at IS NOT NULL"),
        ),
        Index(
            "transfer_offers_due", "offer_expires_at", postgresql_where=text("status = 'offered'")
        ),
        Index("transfer_by_conversation", "conversation_id"),  # deleted with its conversation
        Index(
            "transfer_load",
            "assigned_to",
            postgresql_where=text("status IN ('offered', 'accepted')"),
        ),
        CheckConstraint(
            "status NOT IN ('offered', 'accepted') OR assigned_to IS NOT NULL",
            name="transfer_offer_has_agent",
        ),
    )
    id: uuid.UUID = id_field()
    conversation_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("conversation.id"), nullable=False)
    )
    turn_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(UUID(as_uuid=True), ForeignKey("turn.id"), nullable=True)
    )
    review_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(UUID(as_uuid=True), ForeignKey("review.id"), nullable=True)
    )
    channel: str
    mode: str
    team: str
    reason: str = "trigger"
    status: str = "created"
    assigned_to: uuid.UUID | None = Field(
        default=None, sa_column=Column(UUID(as_uuid=True), ForeignKey("reviewer.id"), nullable=True)
    )
    summary: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    triggers: list[dict[str, Any]] = jsonb_field("'[]'::jsonb")
    # Higher first in the team's queue: a person at risk (distress) before everyone else.
    priority: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    # Agents who let an offer lapse: the next offer goes to someone else.
    passed_by: list[uuid.UUID] = Field(
        default_factory=list,
        sa_column=Column(ARRAY(UUID(as_uuid=True)), nullable=False, server_default=text("'{}'")),
    )
    offered_at: datetime | None = tz_field()
    offer_expires_at: datetime | None = tz_field()
    resolution: str | None = None
    created_at: datetime | None = created_at_field()
    accepted_at: datetime | None = tz_field()
    closed_at: datetime | None = tz_field()


class TransferEvent(SQLModel, table=True):
    """Every step of a transfer's life, with its time and actor."""

    __tablename__ = "transfer_event"
    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    transfer_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("transfer.id"), nullable=False, index=True)
    )
    at: datetime | None = created_at_field()
    actor: str
    status: str
    detail: dict[str, Any] = jsonb_field()


class TransferMessage(SQLModel, table=True):
    """What the customer and the person said to each other while the transfer was open: the
    customer's turns (with the AI's draft, kept for the person, never sent) and the replies."""

    __tablename__ = "transfer_message"
    __table_args__ = (
        CheckConstraint(check_in("sender", SENDERS), name="transfer_message_sender_allowed"),
        UniqueConstraint("turn_id", name="transfer_message_one_per_turn"),
        Index("transfer_message_by_transfer", "transfer_id", "id"),
        # A reply retried with the same Idempotency-Key is sent once.
        Index(
            "transfer_message_idempotency_key",
            "transfer_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
    )
    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    transfer_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("transfer.id"), nullable=False)
    )
    at: datetime | None = created_at_field()
    sender: str
    author: str | None = None  # the person's email for a reply
    text: str
    turn_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(UUID(as_uuid=True), ForeignKey("turn.id"), nullable=True)
    )
    draft_text: str | None = None  # the AI's draft for a customer message
    idempotency_key: str | None = Field(default=None, max_length=200)
    triggers: list[dict[str, Any]] = jsonb_field("'[]'::jsonb")
