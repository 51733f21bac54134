"""A held draft waiting for a person: the review queue lives in this one table."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Column, DateTime, ForeignKey, Index, Integer, text
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

from service.models.base import check_in, created_at_field, id_field, tz_field

OPEN = ("pending", "claimed")
ENDED = ("approved", "edited", "taken_over", "expired", "superseded")
STATUSES = OPEN + ENDED
OUTCOME_BY = ("reviewer", "timeout")
FALLBACKS = ("send_draft", "transfer", "holding_message")


class Review(SQLModel, table=True):
    __tablename__ = "review"
    __table_args__ = (
        CheckConstraint(check_in("status", STATUSES), name="review_status_allowed"),
        CheckConstraint(
            f"outcome_by IS NULL OR {check_in('outcome_by', OUTCOME_BY)}",
            name="review_outcome_by_allowed",
        ),
        CheckConstraint(
            f"fallback IS NULL OR {check_in('fallback', FALLBACKS)}", name="review_fallback_allowed"
        ),
        CheckConstraint(
            "status <> 'claimed' OR (claimed_by IS NOT NULL AND lease_until IS NOT NULL)",
            name="review_claim_has_holder",
        ),
        # One open review per turn.
        Index(
            "review_one_open_per_turn",
            "turn_id",
            unique=True,
            postgresql_where=text("status IN ('pending', 'claimed')"),
        ),
        # The queue: open items by team, most urgent first.
        Index(
            "review_open_queue",
            "team",
            "deadline",
            "priority",
            postgresql_where=text("status IN ('pending', 'claimed')"),
        ),
        Index(
            "review_open_deadline",
            "deadline",
            postgresql_where=text("status IN ('pending', 'claimed')"),
        ),
        # Claim-next: pending items in the order the queue is served, by team and across teams;
        # and leases that ran out (claimable again before the sweeper returns them).
        Index(
            "review_pending_queue",
            "team",
            "deadline",
            text("priority DESC"),
            "created_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "review_pending_by_deadline",
            "deadline",
            text("priority DESC"),
            "created_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("review_lapsing_leases", "lease_until", postgresql_where=text("status = 'claimed'")),
        Index("review_conversation", "conversation_id"),
    )
    id: uuid.UUID = id_field()
    turn_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("turn.id"), nullable=False)
    )
    conversation_id: uuid.UUID = Field(
        sa_column=Column(UUID(as_uuid=True), ForeignKey("conversation.id"), nullable=False)
    )
    channel: str
    team: str
    status: str = "pending"
    priority: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    deadline: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    claimed_by: uuid.UUID | None = Field(
        default=None, sa_column=Column(UUID(as_uuid=True), ForeignKey("reviewer.id"), nullable=True)
    )
    lease_until: datetime | None = tz_field()
    draft_text: str
    final_text: str | None = None
    outcome_by: str | None = None
    fallback: str | None = None
    decided_by: uuid.UUID | None = Field(
        default=None, sa_column=Column(UUID(as_uuid=True), ForeignKey("reviewer.id"), nullable=True)
    )
    decided_at: datetime | None = tz_field()
    created_at: datetime | None = created_at_field()
