"""A conversation and its AI turns, each with the decision the policy made on it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlmodel import Field, SQLModel

from service.models.base import check_in, created_at_field, id_field, jsonb_field, tz_field

ACTIONS = ("send", "review", "transfer")
HANDLERS = ("ai", "review", "human")


class Conversation(SQLModel, table=True):
    __tablename__ = "conversation"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="conversation_channel_external_id"),
        CheckConstraint(check_in("handled_by", HANDLERS), name="conversation_handler_allowed"),
        CheckConstraint("csat IS NULL OR csat BETWEEN 1 AND 5", name="conversation_csat_range"),
        Index("conversation_customer_recent", "customer_id", "last_turn_at"),
        Index("conversation_last_turn", "last_turn_at"),  # retention: the oldest first
    )
    id: uuid.UUID = id_field()
    channel: str
    external_id: str
    customer_id: str
    handled_by: str = "ai"
    resolved: bool | None = None
    csat: int | None = None
    outcome_at: datetime | None = tz_field()
    turn_count: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )
    created_at: datetime | None = created_at_field()
    last_turn_at: datetime | None = created_at_field()


class Turn(SQLModel, table=True):
    __tablename__ = "turn"
    __table_args__ = (
        CheckConstraint("confidence BETWEEN 0 AND 1", name="turn_confidence_range"),
        CheckConstraint(
            "sentiment IS NULL OR sentiment BETWEEN -1 AND 1", name="turn_sentiment_range"
        ),
        # One idempotency key per channel: a retried request finds the first turn.
        Index(
            "turn_channel_idempotency_key",
            "channel",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        Index("turn_conversation_seq", "conversation_id", "seq", unique=True),
    )
    id: uuid.UUID = id_field()
    conversation_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("conversation.id"), nullable=False)
    )
    channel: str
    seq: int
    idempotency_key: str | None = None
    # SHA-256 of the request body, so a reused Idempotency-Key with another body is refused.
    request_hash: str | None = Field(default=None, max_length=64)
    message: str
    draft_text: str
    confidence: float = Field(sa_column=Column(Float, nullable=False))
    intent: str | None = None
    topics: list[str] = Field(
        default_factory=list,
        sa_column=Column(ARRAY(String), nullable=False, server_default=text("'{}'")),
    )
    sentiment: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    # What the semantic detector read (service/detection/reading.py), so replay needs no encoder.
    scores: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    locale: str | None = None
    metadata_: dict[str, Any] = Field(
        default=None,
        sa_column=Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    )
    created_at: datetime | None = created_at_field()


class Decision(SQLModel, table=True):
    __tablename__ = "decision"
    __table_args__ = (CheckConstraint(check_in("action", ACTIONS), name="decision_action_allowed"),)
    id: uuid.UUID = id_field()
    turn_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("turn.id"), nullable=False, unique=True)
    )
    action: str
    triggers: list[dict[str, Any]] = jsonb_field("'[]'::jsonb")
    rule_ids: list[str] = Field(
        default_factory=list,
        sa_column=Column(ARRAY(String), nullable=False, server_default=text("'{}'")),
    )
    policy_version: str
    # True: a person had the conversation, so the answer was their transfer, whatever the
    # policy's verdict (kept in triggers). Replay does not count these as the policy's decisions.
    owned: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    # The answer given to the channel, returned again verbatim to an idempotent retry.
    response: dict[str, Any] = jsonb_field()
    # What a candidate (shadow) policy would have decided on the same turn, if one ran.
    shadow: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    created_at: datetime | None = created_at_field()
