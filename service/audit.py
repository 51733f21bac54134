"""Writes the audit trail inside the caller's transaction."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

INSERT = (
    "INSERT INTO audit_event (actor, kind, subject_type, subject_id, data) "
    "VALUES (:actor, :kind, :stype, :sid, CAST(:data AS jsonb))"
)


async def record(
    conn: AsyncConnection,
    actor: str,
    kind: str,
    subject_type: str,
    subject_id: object,
    **data: Any,
) -> None:
    await conn.execute(
        text(INSERT),
        {
            "actor": actor,
            "kind": kind,
            "stype": subject_type,
            "sid": str(subject_id),
            "data": json.dumps(data, default=str),
        },
    )
