"""The audit trail: who did what to which object, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Identity, Index
from sqlmodel import Field, SQLModel

from service.models.base import created_at_field, jsonb_field


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (Index("audit_event_at", "at"),)  # retention: the oldest first
    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    at: datetime | None = created_at_field()
    actor: str  # "channel:email", "reviewer:<id>", "worker"
    kind: str  # "turn.decided", "review.approved", ...
    subject_type: str
    subject_id: str = Field(index=True)
    data: dict[str, Any] = jsonb_field()
