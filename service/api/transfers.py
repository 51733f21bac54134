"""Transfers over JSON: read (channel or reviewer), accept, reply and close (reviewer), cancel
(the channel, when the customer left), and a reviewer's presence, which decides who is offered
new transfers."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller
from litestar.params import Parameter

from service.api.routes import get, post, put
from service.db import Connection
from service.reviewers import presence
from service.reviewers.caller import Caller
from service.runtime import Runtime
from service.transfers import repository
from service.transfers import service as transfers
from service.transfers.schemas import view as transfer_view


class CloseIn(msgspec.Struct):
    resolution: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    # What the person did, for the AI to resume with; made from the transcript when absent.
    note: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class ReplyIn(msgspec.Struct):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]


class PresenceIn(msgspec.Struct):
    presence: Literal["online", "away", "offline"]


class TransferController(Controller):
    path = "/v1/transfers"
    tags = ["transfers"]

    @get("/", summary="Open transfers of the caller's teams, oldest first")
    async def list_transfers(
        self, runtime: Runtime, caller: Caller, status: Literal["open"] = "open"
    ) -> list[dict[str, Any]]:
        rows = await runtime.read(lambda conn: repository.list_open(conn, caller.team_scope()))
        return [transfer_view(r) for r in rows]

    @get("/{transfer_id:uuid}", summary="A transfer's status, assignee and warm summary")
    async def get_transfer(
        self, transfer_id: uuid.UUID, runtime: Runtime, principal: str | Caller
    ) -> dict[str, Any]:
        async def load(conn: Connection) -> dict[str, Any]:
            if isinstance(principal, Caller):
                row = await transfers.get_for_reviewer(conn, transfer_id, principal)
            else:
                row = await transfers.get_for_channel(conn, transfer_id, principal)
            return transfer_view(row, await repository.messages(conn, transfer_id))

        return await runtime.read(load)

    @post("/{transfer_id:uuid}/accept", status_code=200, summary="Take the conversation")
    async def accept(
        self, transfer_id: uuid.UUID, runtime: Runtime, caller: Caller
    ) -> dict[str, Any]:
        row = await runtime.commit(lambda c: transfers.accept(c, caller, transfer_id))
        return transfer_view(row)

    @post(
        "/{transfer_id:uuid}/close",
        status_code=200,
        summary="Hand the conversation back to the AI, with how it ended",
    )
    async def close(
        self, transfer_id: uuid.UUID, data: CloseIn, runtime: Runtime, principal: str | Caller
    ) -> dict[str, Any]:
        caller = principal if isinstance(principal, Caller) else None
        channel = principal if isinstance(principal, str) else None
        row = await runtime.commit(
            lambda c: transfers.close(
                c, transfer_id, data.resolution, caller=caller, channel=channel, note=data.note
            )
        )
        return transfer_view(row)

    @post(
        "/{transfer_id:uuid}/reply",
        status_code=201,
        summary="Send a message to the customer (the person who accepted the transfer)",
    )
    async def reply(
        self,
        transfer_id: uuid.UUID,
        data: ReplyIn,
        runtime: Runtime,
        caller: Caller,
        idempotency_key: Annotated[
            str | None, Parameter(header="Idempotency-Key", required=False, max_length=200)
        ] = None,
    ) -> dict[str, Any]:
        """Retried with the same Idempotency-Key, the message is sent once."""
        message = await runtime.commit(
            lambda c: transfers.reply(c, caller, transfer_id, data.text, idempotency_key)
        )
        return {"id": message.id, "at": message.at.isoformat(), "text": data.text}

    @post(
        "/{transfer_id:uuid}/cancel",
        status_code=200,
        summary="Withdraw a transfer nobody has accepted yet (the customer left)",
    )
    async def cancel(
        self, transfer_id: uuid.UUID, runtime: Runtime, principal: str | Caller
    ) -> dict[str, Any]:
        caller = principal if isinstance(principal, Caller) else None
        channel = principal if isinstance(principal, str) else None
        row = await runtime.commit(
            lambda c: transfers.cancel(c, transfer_id, caller=caller, channel=channel)
        )
        return transfer_view(row)


class PresenceController(Controller):
    path = "/v1/me"
    tags = ["reviewer"]

    @put(
        "/presence",
        summary="Set whether you can be offered transfers now; repeat `online` to stay online",
    )
    async def set_presence(
        self, data: PresenceIn, runtime: Runtime, caller: Caller
    ) -> dict[str, Any]:
        """`online` holds for `renew_within_seconds`: a client that stops saying so (it crashed,
        its machine slept) goes offline, and what was offered to it moves on."""
        await presence.declare(runtime, caller, data.presence)
        renew = presence.API_LAPSE_SECONDS if data.presence == "online" else None
        return {"presence": data.presence, "renew_within_seconds": renew}
