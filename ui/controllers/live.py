"""The one WebSocket a page holds (/ui/ws?view=...): re-rendered blocks pushed on every change.

While it is open the person counts as online for transfer offers (service/reviewers/presence.py); a page with
nothing live to show (view=presence) holds one for that alone.

htmx's ws extension swaps each top-level element of a message into the element with the same
id, so a message is simply the page's named block rendered again from Postgres. Re-rendering
rather than patching keeps the order (earliest deadline first) and counts right whatever was
missed; bursts of events are coalesced so a busy queue costs one render per socket per tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from service.db import Connection
from service.reviewers import presence
from service.reviewers.caller import Caller
from service.reviews import service as reviews
from ui import live, render, review_view
from ui.controllers.handoffs import handoffs_context, transfer_context
from ui.controllers.queue import queue_context
from ui.controllers.supervisor import supervisor_context
from ui.security import caller_of, same_origin, store_of

log = logging.getLogger(__name__)

# A lone event is rendered after a short pause (to gather its siblings: a claim often comes
# with a release); in a burst, one socket re-renders at most every MIN_INTERVAL seconds, so a
# busy queue costs a bounded amount of rendering per reviewer.
COALESCE_SECONDS = 0.05
MIN_INTERVAL = 0.25
REFUSED = 4403  # before accept: the server answers the handshake with 403
VIEWS = frozenset({"queue", "handoffs", "supervisor", "review", "transfer", "presence"})
ONE_ITEM = frozenset({"review", "transfer"})  # views of one item, named by ?id=
SUPERVISORS = ("supervisor", "admin")


def _relevant(event: dict[str, Any], me: Caller, view: str, item_id: str | None) -> bool:
    kind = str(event.get("kind", ""))
    if kind == "resync":
        return True
    if view == "presence":
        return False
    if kind == "agent.presence":  # your own switch on Handoffs; who is online for supervisors
        return view == "supervisor" or (view == "handoffs" and event.get("agent") == str(me.id))
    if view == "review":
        return event.get("review_id") == item_id
    if view == "transfer":
        return event.get("transfer_id") == item_id
    team = event.get("team")
    if team is not None and not me.can_see(str(team)):
        return False
    if view == "handoffs":
        return kind.startswith("transfer.")
    return kind.startswith("review.")


async def _render(
    socket: WebSocket[Any, Any, Any], me: Caller, view: str, item_id: str | None, csrf: str
) -> str:
    runtime = socket.app.state.runtime
    base = {"caller": me, "csrf": csrf, "nav": view, "flash": None}
    if view == "queue":
        return render.render("queue.html", "live", **base, **await queue_context(runtime, me))
    if view == "handoffs":
        page: dict[str, Any] = base | await handoffs_context(runtime, me)
        return "".join(render.render("handoffs.html", b, **page) for b in ("presence", "live"))
    if view == "supervisor":
        return render.render(
            "supervisor.html", "live", **base, **await supervisor_context(runtime, me)
        )
    if view == "transfer":
        page = base | await transfer_context(runtime, me, uuid.UUID(str(item_id)))
        return "".join(render.render("transfer.html", b, **page) for b in ("status", "transcript"))
    rid = uuid.UUID(str(item_id))

    async def load(conn: Connection) -> dict[str, Any] | None:
        await reviews.get_for_reviewer(conn, rid, me)
        return await review_view.load(conn, rid, me)

    ctx = await runtime.read(load)
    if ctx is None:
        return ""
    ctx |= base | {"notice": None, "reply": "", "hold": ""}
    return "".join(render.render("review.html", b, **ctx) for b in ("status", "actions"))


async def _drain_client(socket: WebSocket[Any, Any, Any]) -> None:
    """Reads (and ignores) what the browser sends, to notice when it goes away."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await socket.receive_data(mode="text")


async def _pump(
    socket: WebSocket[Any, Any, Any],
    queue: asyncio.Queue[dict[str, Any]],
    reader: asyncio.Task[None],
    me: Caller,
    view: str,
    item_id: str | None,
    sid: str | None,
    csrf: str,
) -> None:
    """Sends the view's blocks now, then again after every relevant change until the page goes."""
    store = store_of(socket.app.state.runtime)
    if view == "presence":  # nothing to show: hold the socket until the page goes
        await reader
        return
    # Anything that changed between the page's render and the subscription is caught here.
    await socket.send_text(await _render(socket, me, view, item_id, csrf))
    loop, last_sent = asyncio.get_running_loop(), 0.0
    while not reader.done():
        getter = asyncio.ensure_future(queue.get())
        await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            return
        if not _relevant(getter.result(), me, view, item_id):
            continue
        await asyncio.sleep(max(COALESCE_SECONDS, MIN_INTERVAL - (loop.time() - last_sent)))
        while not queue.empty():
            queue.get_nowait()
        if not await store.alive(sid):  # signed out or expired: stop serving this page
            await socket.close(code=4401)
            return
        await socket.send_text(await _render(socket, me, view, item_id, csrf))
        last_sent = loop.time()


@websocket("/ui/ws")
async def live_socket(socket: WebSocket[Any, Any, Any]) -> None:
    me = caller_of(socket)
    sid = socket.scope.get("state", {}).get("session_id")
    session = socket.scope.get("state", {}).get("session")
    view = socket.query_params.get("view", "queue")
    item_id = socket.query_params.get("id")
    if me is None or session is None or not same_origin(socket.scope) or view not in VIEWS:
        await socket.close(code=REFUSED)
        return
    if view == "supervisor" and me.role not in SUPERVISORS:  # the page's own guard, again
        await socket.close(code=REFUSED)
        return
    if view in ONE_ITEM:
        try:
            uuid.UUID(str(item_id))
        except ValueError:
            await socket.close(code=REFUSED)
            return
    runtime = socket.app.state.runtime
    hub = live.hub_of(socket.app)
    # A presence-only socket listens to nothing: its queue stays out of the hub.
    queue = hub.subscribe() if view != "presence" else asyncio.Queue[dict[str, Any]](maxsize=1)
    await socket.accept()
    reader = asyncio.create_task(_drain_client(socket))
    token, keeper = None, None
    try:
        try:
            token = await presence.arrive(runtime, me)
            keeper = asyncio.create_task(_stay(socket, me, token, sid))
        except Exception:  # Redis or Postgres trouble: the page still gets its updates
            log.warning("presence of %s not counted", me.email, exc_info=True)
        if view != "presence":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(hub.ready.wait(), 2.0)
        await _pump(socket, queue, reader, me, view, item_id, sid, session.csrf)
    except (WebSocketDisconnect, RuntimeError):
        pass
    except Exception:
        log.exception("live socket failed")
    finally:
        hub.unsubscribe(queue)
        reader.cancel()
        if keeper is not None:
            keeper.cancel()
        if token is not None:
            presence.leave(runtime, me, token, keeper)
        with contextlib.suppress(Exception):
            await socket.close()


async def _stay(socket: WebSocket[Any, Any, Any], me: Caller, token: str, sid: str | None) -> None:
    """Keeps the person counted while the page is open; closes the socket once signed out."""
    runtime = socket.app.state.runtime
    store = store_of(runtime)

    async def still_signed_in() -> bool:
        return await store.alive(sid)

    try:
        await presence.stay(runtime, me, token, still_signed_in)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.warning("presence of %s not kept", me.email, exc_info=True)
        return
    with contextlib.suppress(Exception):
        await socket.close(code=4401)
