"""The review page over real HTTP: claiming by opening, the four actions, races and leases."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
from ui_client import Desk, held_turn, submit
from websockets.asyncio.client import connect

HTMX = {"HX-Request": "true"}


async def two_desks(server: str, reviewer: Any) -> tuple[Desk, Desk]:
    await reviewer("rita@example.com")
    await reviewer("sam@example.com")
    rita, sam = Desk(server), Desk(server)
    await rita.sign_in("rita@example.com")
    await sam.sign_in("sam@example.com")
    return rita, sam


async def test_opening_claims_and_others_see_who_holds_it(
    server: str, http: httpx.AsyncClient, channel_key: Any, reviewer: Any, db: asyncpg.Connection
) -> None:
    key = await channel_key("letters")
    review_id = await submit(http, key, held_turn(message="Where is my parcel?"))
    rita, sam = await two_desks(server, reviewer)
    async with rita, sam:
        page = await rita.get(f"/ui/reviews/{review_id}")
        assert page.status_code == 200
        for text in (
            "Where is my parcel?",
            '<label class="section-title" for="reply">Reply</label>',
            ">Approve</button>",
            ">Send edited</button>",
            ">Take over</button>",
            ">Release</button>",
            "You hold this item",
            "Confidence",
            "Time left",
            "Why it was held",
            "Conversation so far",
        ):
            assert text in page.text, text
        assert await db.fetchval("SELECT status FROM review") == "claimed"
        other = await sam.get(f"/ui/reviews/{review_id}")
        assert "Held by Rita (rita@example.com)" in other.text
        assert 'data-key="a" disabled' in other.text
        # Sam forces the form anyway: refused, and told why; his text is kept.
        r = await sam.post(f"/ui/reviews/{review_id}/edit", {"reply": "Sam's words"})
        assert r.status_code == 409
        assert (
            "Cannot edit this review: it is held by rita@example.com." in r.text
            and "Sam&#39;s words</textarea>" in r.text
        )
        # Rita sends an edit; Sam then sees what happened.
        r = await rita.post(f"/ui/reviews/{review_id}/edit", {"reply": "It arrives Friday."})
        assert r.status_code == 303 and r.headers["location"] == "/ui/queue"
        row = await db.fetchrow("SELECT status, final_text FROM review")
        assert tuple(row) == ("edited", "It arrives Friday.")
        r = await sam.post(f"/ui/reviews/{review_id}/approve", headers=HTMX)
        assert r.status_code == 409
        assert 'id="review-status" hx-swap-oob="true"' in r.text
        assert "Sent edited by Rita (rita@example.com) at" in r.text
        assert 'data-key="a" disabled' in r.text


async def test_after_an_action_the_next_most_urgent_item_opens(
    server: str, http: httpx.AsyncClient, channel_key: Any, reviewer: Any, db: asyncpg.Connection
) -> None:
    letters, email = await channel_key("letters"), await channel_key("letters")
    first = await submit(http, letters, held_turn())
    second = await submit(http, email, held_turn())
    rita, sam = await two_desks(server, reviewer)
    async with rita, sam:
        await rita.get(f"/ui/reviews/{first}")
        r = await rita.post(f"/ui/reviews/{first}/approve", headers=HTMX)
        assert r.status_code == 204 and r.headers["hx-redirect"] == f"/ui/reviews/{second}"
        assert await db.fetchval("SELECT status FROM review WHERE id = $1", second) == "claimed"
        page = await rita.get(f"/ui/reviews/{second}")
        assert "Approved: the draft goes to customer" in page.text  # the flash of the last action
        assert await db.fetchval("SELECT final_text FROM review WHERE id = $1", first)


async def test_empty_edit_is_refused_and_take_over_makes_a_handoff(
    server: str, http: httpx.AsyncClient, channel_key: Any, reviewer: Any, db: asyncpg.Connection
) -> None:
    key = await channel_key("letters")
    review_id = await submit(http, key, held_turn())
    rita, sam = await two_desks(server, reviewer)
    async with rita, sam:
        await rita.get(f"/ui/reviews/{review_id}")
        r = await rita.post(f"/ui/reviews/{review_id}/edit", {"reply": "   "})
        assert r.status_code == 400 and "Text must not be empty." in r.text
        r = await rita.post(f"/ui/reviews/{review_id}/take-over")
        assert r.status_code == 303
        row = await db.fetchrow("SELECT status, mode, assigned_to FROM transfer")
        assert row["status"] == "accepted" and row["mode"] == "warm"
        page = await rita.get("/ui/handoffs")
        assert page.status_code == 200 and "Yours" in page.text


async def test_heartbeat_keeps_the_hold_and_leaving_gives_it_back(
    server: str, http: httpx.AsyncClient, channel_key: Any, reviewer: Any, db: asyncpg.Connection
) -> None:
    key = await channel_key("letters")
    review_id = await submit(http, key, held_turn())
    rita, sam = await two_desks(server, reviewer)
    async with rita, sam:
        page = await rita.get(f"/ui/reviews/{review_id}")
        hold = page.text.split('data-hold="')[1].split('"')[0]
        lease = await db.fetchval("SELECT lease_until FROM review")
        r = await rita.post(f"/ui/reviews/{review_id}/heartbeat", headers=HTMX)
        assert r.status_code == 204
        assert await db.fetchval("SELECT lease_until FROM review") > lease
        # A beacon from an older visit does not release the newer visit's hold.
        r = await rita.post(f"/ui/reviews/{review_id}/leave", {"hold": "stale"})
        assert r.status_code == 204
        assert await db.fetchval("SELECT status FROM review") == "claimed"
        r = await rita.post(f"/ui/reviews/{review_id}/leave", {"hold": hold})
        assert await db.fetchval("SELECT status FROM review") == "pending"
        # Someone else takes it; Rita's heartbeat now tells her so.
        await sam.get(f"/ui/reviews/{review_id}")
        r = await rita.post(f"/ui/reviews/{review_id}/heartbeat", headers=HTMX)
        assert r.status_code == 200 and "Held by Sam" in r.text


async def test_handoffs_accept_once_and_supervisor_releases_claims(
    server: str, http: httpx.AsyncClient, channel_key: Any, reviewer: Any, db: asyncpg.Connection
) -> None:
    chat = await channel_key("chat")
    r = await http.post(
        "/v1/turns",
        headers={"Authorization": f"Bearer {chat}"},
        json=held_turn("chat", message="I want to talk to a human agent now"),
    )
    assert r.json()["action"] == "transfer"
    letters = await channel_key("letters")
    review_id = await submit(http, letters, held_turn())
    await reviewer("boss@example.com", role="supervisor")
    rita, sam = await two_desks(server, reviewer)
    async with rita, sam, Desk(server) as boss:
        await boss.sign_in("boss@example.com")
        transfer_id = str(await db.fetchval("SELECT id FROM transfer"))
        page = await rita.get("/ui/handoffs")
        assert f'href="/ui/handoffs/{transfer_id}"' in page.text
        page = await rita.get(f"/ui/handoffs/{transfer_id}")
        assert (
            "I want to talk to a human agent now" in page.text and ">Accept</button>" in page.text
        )
        await sam.get("/ui/handoffs")
        assert (await rita.post(f"/ui/handoffs/{transfer_id}/accept")).status_code == 303
        await sam.post(f"/ui/handoffs/{transfer_id}/accept")
        page = await sam.get(f"/ui/handoffs/{transfer_id}")
        assert "Cannot accept this transfer: it is accepted by rita@example.com." in page.text
        assert ">Accept</button>" not in page.text and "Message to customer" not in page.text
        assert (await sam.post("/ui/handoffs/presence", {"presence": "online"})).status_code == 303
        assert "You are online." in (await sam.get("/ui/handoffs")).text
        assert await db.fetchval(
            "SELECT presence FROM reviewer WHERE email = 'sam@example.com'"
        ) == ("online")
        row = await db.fetchrow("SELECT status, assigned_to FROM transfer")
        assert row["status"] == "accepted"
        assert (await rita.get("/ui/supervisor")).status_code == 403
        await sam.get(f"/ui/reviews/{review_id}")
        page = await boss.get("/ui/supervisor")
        assert page.status_code == 200 and "Held right now (1)" in page.text and "Sam" in page.text
        assert "People (1 online)" in page.text and ">Reassign</button>" in page.text
        rita_id = str(await db.fetchval("SELECT id FROM reviewer WHERE email = 'rita@example.com'"))
        r = await boss.post(f"/ui/supervisor/reassign/{review_id}", {"to": rita_id})
        assert r.status_code == 303
        assert str(await db.fetchval("SELECT claimed_by FROM review")) == rita_id
        r = await boss.post(f"/ui/supervisor/release/{review_id}")
        assert r.status_code == 303
        assert await db.fetchval("SELECT status FROM review") == "pending"


async def test_lapsed_lease_and_passed_deadline_are_told_to_the_holder(
    server: str,
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
    db: asyncpg.Connection,
    start_worker: Any,
) -> None:
    letters, email = await channel_key("letters"), await channel_key("email")
    held = await submit(http, letters, held_turn())
    rita, sam = await two_desks(server, reviewer)
    async with rita, sam:
        await rita.get(f"/ui/reviews/{held}")
        url = server.replace("http://", "ws://") + f"/ui/ws?view=review&id={held}"
        headers = {"Cookie": f"hitl_session={rita.session_cookie}"}
        async with connect(url, origin=server, additional_headers=headers) as ws:  # type: ignore[arg-type]
            assert "You hold this item" in await asyncio.wait_for(ws.recv(), 5)
            # Rita's browser went quiet (no heartbeat): the sweeper returns the item.
            await db.execute("UPDATE review SET lease_until = now() - interval '1 second'")
            start_worker()
            for _ in range(100):  # the sweeper runs every second
                if await db.fetchval("SELECT status FROM review WHERE id = $1", held) == "pending":
                    break
                await asyncio.sleep(0.1)
            # The sweeper's review.lease_lapsed event re-renders Rita's page: no reload needed.
            pushed = ""
            while "lapsed" not in pushed or "Release</button>" not in pushed:
                pushed = str(await asyncio.wait_for(ws.recv(), 5))
            assert "Nobody holds this item right now: your hold lapsed" in pushed
            assert 'data-key="a">Approve' in pushed  # she may still act if nobody took it
        assert await db.fetchval("SELECT status FROM review WHERE id = $1", held) == "pending"
        # A 3 s item whose deadline fires while Sam reads it: his approval is refused, with
        # the outcome the channel's fallback produced.
        due = await submit(http, email, held_turn("email"))
        await sam.get(f"/ui/reviews/{due}")
        for _ in range(100):
            if await db.fetchval("SELECT status FROM review WHERE id = $1", due) == "expired":
                break
            await asyncio.sleep(0.1)
        r = await sam.post(f"/ui/reviews/{due}/approve")
        assert r.status_code == 409
        assert "Timed out by the deadline at" in r.text
        assert "the draft was sent as it was" in r.text


async def test_next_and_previous_follow_the_queue_as_it_is_now(
    server: str, http: httpx.AsyncClient, channel_key: Any, reviewer: Any, db: asyncpg.Connection
) -> None:
    key = await channel_key("letters")  # a 1 h budget: the queue is in order of arrival
    first = await submit(http, key, held_turn())
    rita, sam = await two_desks(server, reviewer)
    async with rita, sam:
        page = await rita.get(f"/ui/reviews/{first}")
        # The only item: the links are there all the same; they resolve when followed.
        links = {
            name: page.text.split(f'id="{name}-item" rel="{name}" href="')[1].split('"')[0]
            for name in ("next", "prev")
        }
        r = await rita.get(links["next"])
        assert r.status_code == 303 and r.headers["location"] == f"/ui/reviews/{first}"
        assert (
            "No open item after this one in your queue."
            in (await rita.get(f"/ui/reviews/{first}")).text
        )
        # Items arrive while Rita's page is open: the same link now leads to them.
        second = await submit(http, key, held_turn())
        third = await submit(http, key, held_turn())
        r = await rita.get(links["next"])
        assert r.status_code == 303 and r.headers["location"] == f"/ui/reviews/{second}"
        r = await rita.get(links["prev"])
        assert r.headers["location"] == f"/ui/reviews/{first}"
        assert "No open item before this one" in (await rita.get(f"/ui/reviews/{first}")).text
        # Sam answers the second meanwhile: next skips it; from its own (ended) page the
        # neighbours are the open items on either side of where it stood.
        await sam.get(f"/ui/reviews/{second}")
        assert (await sam.post(f"/ui/reviews/{second}/approve")).status_code == 303
        assert (await rita.get(links["next"])).headers["location"] == f"/ui/reviews/{third}"
        r = await rita.get(f"/ui/reviews/{second}/next")
        assert r.headers["location"] == f"/ui/reviews/{third}"
        r = await rita.get(f"/ui/reviews/{second}/previous")
        assert r.headers["location"] == f"/ui/reviews/{first}"
        r = await rita.get(f"/ui/reviews/{third}/previous")
        assert r.headers["location"] == f"/ui/reviews/{first}"
