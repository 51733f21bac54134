"""Writes the audit trail inside the caller's transaction."""

from __future__ import annotations

import json
from typing import Any

from service import db
from service.db import Connection

INSERT = (
    "INSERT INTO audit_event (actor, kind, subject_type, subject_id, data) "
    "VALUES (:actor, :kind, :stype, :sid, CAST(:data AS jsonb))"
)


async def record(
    conn: Connection,
    actor: str,
    kind: str,
    subject_type: str,
    subject_id: object,
    **data: Any,
) -> None:
    await db.execute(
        conn,
        INSERT,
        {
            "actor": actor,
            "kind": kind,
            "stype": subject_type,
            "sid": str(subject_id),
            "data": json.dumps(data, default=str),
        },
    )


async def record_many(
    conn: Connection,
    actor: str,
    kind: str,
    subject_type: str,
    entries: list[tuple[object, dict[str, Any]]],
) -> None:
    """One row per (subject id, data), in one statement: a batch is audited like its parts."""
    if not entries:
        return
    await db.execute(
        conn,
        "INSERT INTO audit_event (actor, kind, subject_type, subject_id, data) "
        "SELECT :actor, :kind, :stype, sid, CAST(data AS jsonb) "
        "FROM unnest(CAST(:sids AS text[]), CAST(:datas AS text[])) AS e(sid, data)",
        {
            "actor": actor,
            "kind": kind,
            "stype": subject_type,
            "sids": [str(sid) for sid, _ in entries],
            "datas": [json.dumps(data, default=str) for _, data in entries],
        },
    )
