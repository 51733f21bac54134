"""People who review and take over: accounts, their teams and their personal API tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, String
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

from service.models.base import check_in, created_at_field, id_field, tz_field

ROLES = ("reviewer", "supervisor", "admin")
PRESENCE = ("online", "away", "offline")


class Team(SQLModel, table=True):
    __tablename__ = "team"
    name: str = Field(primary_key=True)
    created_at: datetime | None = created_at_field()


class Reviewer(SQLModel, table=True):
    __tablename__ = "reviewer"
    __table_args__ = (
        CheckConstraint(check_in("role", ROLES), name="reviewer_role_allowed"),
        CheckConstraint(check_in("presence", PRESENCE), name="reviewer_presence_allowed"),
        CheckConstraint("capacity >= 0", name="reviewer_capacity_nonnegative"),
        # Nobody ever holds more transfers than their capacity, whatever the concurrency.
        CheckConstraint("active_transfers BETWEEN 0 AND capacity", name="reviewer_within_capacity"),
    )
    id: uuid.UUID = id_field()
    email: str = Field(sa_column=Column(String, nullable=False, unique=True))
    display_name: str
    password_hash: str | None = None
    role: str = "reviewer"
    presence: str = "offline"
    capacity: int = 3
    active_transfers: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )
    last_assigned_at: datetime | None = tz_field()
    last_seen_at: datetime | None = tz_field()
    created_at: datetime | None = created_at_field()


class ReviewerTeam(SQLModel, table=True):
    __tablename__ = "reviewer_team"
    reviewer_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True), ForeignKey("reviewer.id", ondelete="CASCADE"), primary_key=True
        )
    )
    team: str = Field(sa_column=Column(String, ForeignKey("team.name"), primary_key=True))


class ReviewerToken(SQLModel, table=True):
    __tablename__ = "reviewer_token"
    id: uuid.UUID = id_field()
    reviewer_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True), ForeignKey("reviewer.id", ondelete="CASCADE"), nullable=False
        )
    )
    # SHA-256 of the token: tokens are long random strings, so a fast hash is enough.
    token_hash: str = Field(sa_column=Column(String, nullable=False, unique=True))
    created_at: datetime | None = created_at_field()
    revoked_at: datetime | None = tz_field()
