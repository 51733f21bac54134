"""Creating transfers and announcing them to the channel (the transfers issue adds assignment)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from service.channels import outbox
from service.effects import Effects
from service.errors import NotFound


async def create(
    conn: AsyncConnection,
    *,
    conversation_id: uuid.UUID,
    channel: str,
    mode: str,
    team: str,
    reason: str,
    triggers: list[dict[str, Any]],
    summary: dict[str, Any] | None,
    turn_id: uuid.UUID | None = None,
    review_id: uuid.UUID | None = None,
    assigned_to: uuid.UUID | None = None,
    conversation_external_id: str | None = None,
) -> tuple[uuid.UUID, Effects]:
    status = "accepted" if assigned_to else "created"
    row = (
        await conn.execute(
            text(
                "INSERT INTO transfer (conversation_id, turn_id, review_id, channel, mode, team, "
                "reason, status, assigned_to, summary, triggers, accepted_at) VALUES (:conv, :turn, "
                ":review, :channel, :mode, :team, :reason, :status, :who, CAST(:summary AS jsonb), "
                "CAST(:triggers AS jsonb), CASE WHEN CAST(:who AS uuid) IS NULL THEN NULL ELSE now() END) "
                "RETURNING id"
            ),
            {
                "conv": conversation_id,
                "turn": turn_id,
                "review": review_id,
                "channel": channel,
                "mode": mode,
                "team": team,
                "reason": reason,
                "status": status,
                "who": assigned_to,
                "summary": json.dumps(summary) if summary is not None else None,
                "triggers": json.dumps(triggers),
            },
        )
    ).one()
    await conn.execute(
        text("UPDATE conversation SET handled_by = 'human' WHERE id = :id"), {"id": conversation_id}
    )
    effects = Effects()
    effects.deliver(
        await outbox.add(
            conn,
            channel=channel,
            event_type="transfer.created",
            dedupe_key=f"transfer.created:{row.id}",
            data={
                "transfer_id": str(row.id),
                "conversation_id": conversation_external_id,
                "mode": mode,
                "team": team,
                "reason": reason,
                "summary": summary,
            },
        )
    )
    effects.publish("transfer.created", transfer_id=row.id, team=team)
    return row.id, effects


async def get(conn: AsyncConnection, transfer_id: uuid.UUID) -> dict[str, Any]:
    row = (
        await conn.execute(
            text(
                "SELECT id, mode, team, status, assigned_to, summary, created_at, channel "
                "FROM transfer WHERE id = :id"
            ),
            {"id": transfer_id},
        )
    ).first()
    if row is None:
        raise NotFound(f"no transfer {transfer_id}")
    return dict(row._mapping)
