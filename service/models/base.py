"""Column helpers shared by the tables: ids, database-side timestamps, JSONB."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlmodel import Field


def id_field() -> Any:
    return Field(
        default_factory=uuid.uuid4,
        sa_column=Column(
            UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
        ),
    )


def created_at_field() -> Any:
    # Timestamps come from the database clock: deadlines are compared with now() there.
    return Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def tz_field(nullable: bool = True, index: bool = False) -> Any:
    return Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index)
    )


def jsonb_field(default: str = "'{}'::jsonb") -> Any:
    return Field(
        default=None, sa_column=Column(JSONB, nullable=False, server_default=text(default))
    )


def check_in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


__all__ = ["check_in", "created_at_field", "datetime", "id_field", "jsonb_field", "tz_field"]
