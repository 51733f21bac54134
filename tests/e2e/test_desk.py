"""The reviewer desk in a real Chromium, as a reviewer uses it, against a real server and worker."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any

import asyncpg
import httpx
from e2e_helpers import live_ready, screenshot, sign_in
from playwright.async_api import Page, expect
from support import Receiver


def held_turn(channel: str = "letters", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "conversation_id": f"c-{uuid.uuid4().hex[:8]}",
        "channel": channel,
        "customer_id": f"cust-{uuid.uuid4().hex[:6]}",
        "message": "I was charged twice for my March invoice. Can you fix it?",
        "draft": {
            "text": "I have refunded the second charge; it shows in 3-5 days.",
            "confidence": 0.42,
            "intent": "billing_dispute",
        },
    }
    return body | overrides


async def submit(http: httpx.AsyncClient, key: str, body: dict[str, Any]) -> str:
    r = await http.post("/v1/turns", json=body, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200 and r.json()["action"] == "review", r.text
    return str(r.json()["review"]["id"])


async def rita_and_sam_on_one_item(
    server: str, http: httpx.AsyncClient, channel_key: Any, reviewer: Any, new_page: Any
) -> tuple[str, Page, Page]:
    """Two reviewers of one team, each signed in in a browser of their own, and one held item."""
    await reviewer("rita@example.com")
    await reviewer("sam@example.com")
    key = await channel_key("letters")
    review_id = await submit(http, key, held_turn())
    rita, sam = await new_page(), await new_page()
    await asyncio.gather(
        sign_in(rita, server, "rita@example.com"), sign_in(sam, server, "sam@example.com")
    )
    return f"{server}/ui/reviews/{review_id}", rita, sam


def watch_csp(page: Page) -> list[str]:
    """Collects CSP refusals: our own pages must never need an exception to the policy."""
    refused: list[str] = []
    page.on(
        "console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None
    )
    return refused


async def test_sign_in_live_queue_edit_and_send_reaches_the_webhook(
    server: str,
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
    receiver: Receiver,
    start_worker: Any,
    new_page: Any,
) -> None:
    start_worker()
    await reviewer("rita@example.com")
    key = await channel_key("letters")
    await submit(http, key, held_turn(customer_id="cust-early"))  # something already waiting
    page: Page = await new_page()
    refused = watch_csp(page)
    await page.goto(f"{server}/ui/login")
    await screenshot(page, "01-sign-in")
    await sign_in(page, server, "rita@example.com")
    await live_ready(page)
    # A new item, submitted over the channel API, appears without a reload.
    started = time.monotonic()
    review_id = await submit(http, key, held_turn(customer_id="cust-live"))
    row = page.locator(f"tr[data-review-id='{review_id}']")
    await expect(row).to_be_visible(timeout=3000)
    assert time.monotonic() - started < 1.0
    await expect(page.locator("[data-testid=queue-count]")).to_have_text("2 open")
    await screenshot(page, "02-queue")
    # Open it, edit the reply and send it.
    await row.get_by_role("link").click()
    await page.wait_for_url(f"{server}/ui/reviews/{review_id}")
    await expect(page.get_by_test_id("review-status")).to_contain_text("You hold this item")
    await live_ready(page)
    await screenshot(page, "03-review")
    reply = page.get_by_label("Reply")
    await expect(reply).to_have_value("I have refunded the second charge; it shows in 3-5 days.")
    edited = "Sorry for the double charge: the second one is refunded and shows within 5 days."
    await reply.fill(edited)
    await page.get_by_role("button", name="Send edited").click()
    # After the action the next most urgent item opens (the earlier one).
    await expect(page.locator(".flash")).to_contain_text(
        "Sent your edited reply to customer cust-live"
    )
    assert "/ui/reviews/" in page.url and review_id not in page.url
    # The worker delivers the signed review.completed webhook carrying the edited text.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        done = [e for e in receiver.events("/hooks/letters") if e.get("type") == "review.completed"]
        if done:
            break
        await asyncio.sleep(0.1)
    assert done, "no review.completed webhook arrived"
    data = done[0]["data"]
    assert data["final_text"] == edited and data["outcome"] == "edited"
    assert data["by"] == "rita@example.com" and data["review_id"] == review_id
    assert not refused, refused


async def test_two_browsers_race_for_one_item(
    server: str,
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
    db: asyncpg.Connection,
    new_page: Any,
) -> None:
    url, rita, sam = await rita_and_sam_on_one_item(server, http, channel_key, reviewer, new_page)
    await asyncio.gather(rita.goto(url), sam.goto(url))
    holds = [await p.get_by_test_id("review-status").inner_text() for p in (rita, sam)]
    assert sum("You hold this item" in h for h in holds) == 1, holds
    winner, loser = (rita, sam) if "You hold" in holds[0] else (sam, rita)
    winner_name = "Rita" if winner is rita else "Sam"
    await expect(loser.get_by_test_id("review-status")).to_contain_text(f"Held by {winner_name}")
    await expect(loser.get_by_role("button", name="Approve")).to_be_disabled()
    await live_ready(loser)
    # Both press Approve at once; the loser's button is disabled, so force a click through.
    await asyncio.gather(
        winner.get_by_role("button", name="Approve").click(),
        loser.get_by_role("button", name="Approve").click(force=True, timeout=2000),
        return_exceptions=True,
    )
    # The loser's page says what happened, live, without a reload.
    await expect(loser.get_by_test_id("review-status")).to_contain_text(
        f"Approved by {winner_name}", timeout=3000
    )
    await screenshot(loser, "04-race-loser")
    assert (
        await db.fetchval("SELECT count(*) FROM outbox_event WHERE event_type = 'review.completed'")
        == 1
    )
    row = await db.fetchrow("SELECT status, decided_by FROM review")
    assert row["status"] == "approved"


async def test_hostile_text_stays_inert_in_the_browser(
    server: str,
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
    new_page: Any,
) -> None:
    await reviewer("rita@example.com")
    key = await channel_key("letters")
    payload = (
        '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
        '<div hx-get="/ui/logout" hx-trigger="load">load</div>'
    )
    review_id = await submit(
        http,
        key,
        held_turn(
            message=payload,
            customer_id='<img src=x onerror="window.__pwned=3">',
            draft={"text": payload, "confidence": 0.1, "intent": "<b>x</b>"},
        ),
    )
    page: Page = await new_page()
    refused = watch_csp(page)
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url))
    await sign_in(page, server, "rita@example.com")
    await live_ready(page)
    await page.goto(f"{server}/ui/reviews/{review_id}")
    await live_ready(page)
    await expect(page.get_by_test_id("customer-message")).to_contain_text("<script>window.__pwned")
    await expect(page.get_by_label("Reply")).to_have_value(payload)
    await page.wait_for_timeout(500)
    assert await page.evaluate("window.__pwned") is None
    assert not dialogs and not any("/ui/logout" in u for u in fetched)
    assert not any(u.endswith("/x") for u in fetched)  # no <img src=x> was ever requested
    await screenshot(page, "05-xss-inert")
    assert not refused, refused


async def test_handoffs_and_supervisor_pages(
    server: str,
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
    new_page: Any,
) -> None:
    chat, letters = await channel_key("chat"), await channel_key("letters")
    r = await http.post(
        "/v1/turns",
        headers={"Authorization": f"Bearer {chat}"},
        json=held_turn(
            "chat", message="This is the third time. I want to speak to a real person please."
        ),
    )
    assert r.json()["action"] == "transfer", r.text
    for _ in range(3):
        await submit(http, letters, held_turn())
    await reviewer("boss@example.com", teams=("general", "billing", "care"), role="supervisor")
    await reviewer("sam@example.com")
    sam, boss = await new_page(), await new_page()
    await sign_in(sam, server, "sam@example.com")
    await sam.get_by_role("button", name="Review next").click()
    await expect(sam.get_by_test_id("review-status")).to_contain_text("You hold this item")
    await sign_in(boss, server, "boss@example.com")
    await boss.get_by_role("link", name="Handoffs").click()
    waiting = boss.locator("table.handoffs tbody tr")
    await expect(waiting).to_have_count(1)
    await screenshot(boss, "06-handoffs")
    await boss.get_by_role("link", name="Supervisor").click()
    await expect(boss.locator("#supervisor-live")).to_contain_text("Held right now (1)")
    await screenshot(boss, "07-supervisor")
    await boss.get_by_role("button", name="Release").click()
    await expect(boss.locator(".flash")).to_contain_text("Released")
    # Sam's open page learns at once that the item went back to the queue.
    await expect(sam.get_by_test_id("review-status")).to_contain_text("Nobody holds this item")
    await boss.goto(f"{server}/ui/handoffs")
    await boss.locator("table.handoffs tbody tr").get_by_role("link").click()
    await boss.get_by_role("button", name="Accept").click()
    await expect(boss.locator(".flash")).to_contain_text("Accepted")
    payload = json.dumps({"ok": True})
    assert payload


async def test_keyboard_and_the_amber_countdown(
    server: str,
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
    db: asyncpg.Connection,
    new_page: Any,
) -> None:
    await reviewer("rita@example.com")
    letters, email = await channel_key("letters"), await channel_key("email")
    urgent = await submit(http, email, held_turn("email", customer_id="cust-urgent"))  # 3 s
    first = await submit(http, letters, held_turn(customer_id="cust-first"))
    second = await submit(http, letters, held_turn(customer_id="cust-second"))
    page: Page = await new_page()
    await sign_in(page, server, "rita@example.com")
    # Past 80% of its 3 s budget the countdown turns amber (and red once due).
    row = page.locator(f"tr[data-review-id='{urgent}']")
    await expect(row).to_have_class(re.compile("row-amber"), timeout=4000)
    await expect(row.locator(".countdown")).to_have_class(re.compile("is-amber|is-over"))
    await screenshot(page, "02b-queue-amber")
    await page.locator(f"tr[data-review-id='{first}'] a").click()
    await page.wait_for_url(f"**/ui/reviews/{first}")
    await page.keyboard.press("j")
    await page.wait_for_url(f"**/ui/reviews/{second}")
    await page.keyboard.press("k")
    await page.wait_for_url(f"**/ui/reviews/{first}")
    await expect(page.get_by_test_id("review-status")).to_contain_text("You hold this item")
    await page.keyboard.press("e")
    await expect(page.get_by_label("Reply")).to_be_focused()
    await page.keyboard.type(" Thanks for your patience.")
    await page.keyboard.press("Control+Enter")
    await page.wait_for_url(f"**/ui/reviews/{second}")  # the next most urgent item opens
    final = await db.fetchval("SELECT final_text FROM review WHERE id = $1", uuid.UUID(first))
    assert final.endswith("3-5 days. Thanks for your patience.")
    await page.keyboard.press("a")
    await page.wait_for_url(f"{server}/ui/queue")
    assert await db.fetchval("SELECT status FROM review WHERE id = $1", uuid.UUID(second)) == (
        "approved"
    )


async def test_the_reply_is_editable_exactly_when_i_may_act_live(
    server: str,
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
    new_page: Any,
) -> None:
    url, rita, sam = await rita_and_sam_on_one_item(server, http, channel_key, reviewer, new_page)
    await sam.goto(url)
    await expect(sam.get_by_test_id("review-status")).to_contain_text("You hold this item")
    await rita.goto(url)
    await live_ready(rita)
    status, reply = rita.get_by_test_id("review-status"), rita.get_by_label("Reply")
    await expect(status).to_contain_text("Held by Sam")
    await expect(reply).not_to_be_editable()
    # Sam lets it go: Rita's page says so and her Reply opens up, without a reload.
    await sam.get_by_role("button", name="Release").click()
    await sam.wait_for_url(f"{server}/ui/queue")
    await expect(status).to_contain_text("Nobody holds this item", timeout=3000)
    await expect(reply).to_be_editable()
    await expect(rita.get_by_role("button", name="Send edited")).to_be_enabled()
    await rita.keyboard.press("e")
    await expect(reply).to_be_focused()
    await rita.keyboard.type(" Rita was here.")
    await rita.keyboard.press("Escape")
    # Sam takes it back: read-only again, and what Rita typed is still there to copy.
    await sam.goto(url)
    await expect(status).to_contain_text("Held by Sam", timeout=3000)
    await expect(reply).not_to_be_editable()
    await expect(reply).to_have_value(re.compile(r"3-5 days\. Rita was here\.$"))
    await expect(rita.get_by_role("button", name="Send edited")).to_be_disabled()


async def test_j_and_k_follow_the_queue_as_it_changes(
    server: str,
    http: httpx.AsyncClient,
    channel_key: Any,
    reviewer: Any,
    new_page: Any,
) -> None:
    await reviewer("rita@example.com")
    key = await channel_key("letters")
    first = await submit(http, key, held_turn(customer_id="cust-first"))
    page: Page = await new_page()
    await sign_in(page, server, "rita@example.com")
    await page.goto(f"{server}/ui/reviews/{first}")
    await live_ready(page)
    # Another item arrives while the page is open (it was the only one when it loaded).
    second = await submit(http, key, held_turn(customer_id="cust-second"))
    await page.keyboard.press("j")
    await page.wait_for_url(f"**/ui/reviews/{second}")
    await expect(page.get_by_test_id("review-status")).to_contain_text("You hold this item")
    await page.keyboard.press("k")
    await page.wait_for_url(f"**/ui/reviews/{first}")
    await page.keyboard.press("k")  # nothing before the first: stay, and say so
    await expect(page.locator(".flash")).to_contain_text("No open item before this one")
    assert page.url.endswith(f"/ui/reviews/{first}")
