"""Replaying the service's own recorded turns reproduces every recorded decision (issue 6).

Turns go over real HTTP to a real `hitl serve`; the replay is the real `hitl replay --from-db`
reading the same database. Every kind of state the policy reads is exercised: multi-turn
conversations, loops, a sentiment run, one customer coming back in another conversation, a
recorded outcome that switches the loop and repeat-contact rules off, sync and async channels.
Turns that arrive while a person has the conversation (an open transfer) are answered with that
transfer, not by the policy: replay keeps them as history but does not count them; the channel
cancels most transfers (the customer left), so conversations come back to the policy.
"""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import asyncpg
import httpx
from support import cli

from service.policy.loader import load_policy
from service.settings import Settings

CHANNELS = ("chat", "voice", "email", "sms")
MESSAGES = (
    "Where is my parcel? It was due on Monday.",
    "This is useless, I am furious and fed up with you.",
    "Terrible, awful service. I hate this.",
    "Could a real person look at this for me?",
    "My lawyer will hear about this.",
    "Thanks, that sorted it!",
    "My father passed away last week, please close his account.",
    "I still have not received a refund.",
    "ok",
)
INTENTS = ("order_status", "refund", "billing", None)


def body(conversation: str, channel: str, customer: str, message: str, **extra: Any) -> Any:
    draft = {"text": "Here is what I found.", "confidence": 0.9, "intent": "order_status"}
    draft |= extra.pop("draft", {})
    turn = {
        "conversation_id": conversation,
        "channel": channel,
        "customer_id": customer,
        "message": message,
        "draft": draft,
    }
    return turn | extra


class Client:
    """Sends turns with the right channel key; remembers every answer the service gave."""

    def __init__(self, http: httpx.AsyncClient, keys: dict[str, str]) -> None:
        self.http = http
        self.keys = keys
        self.answers: dict[tuple[str, int], dict[str, Any]] = {}
        self.turns: dict[str, int] = {}
        self.channels: dict[str, str] = {}
        self.holding: dict[str, str] = {}  # conversation -> its open transfer
        self.owned: set[tuple[str, int]] = set()  # answered by a person's transfer

    async def turn(
        self, conversation: str, channel: str, customer: str, message: str, **extra: Any
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.keys[channel]}"}
        key = extra.pop("idempotency_key", None)
        if key:
            headers["Idempotency-Key"] = key
        self.channels[conversation] = channel
        payload = body(conversation, channel, customer, message, **extra)
        r = await self.http.post("/v1/turns", json=payload, headers=headers)
        assert r.status_code == 200, r.text
        answer = r.json()
        index = self.turns.get(conversation, 0)
        if (
            key
            and (conversation, index - 1) in self.answers
            and self.answers[(conversation, index - 1)]["decision_id"] == answer["decision_id"]
        ):
            return answer  # an idempotent retry: nothing new was recorded
        self.answers[(conversation, index)] = answer
        self.turns[conversation] = index + 1
        held = self.holding.get(conversation)
        if held is not None:
            assert answer["action"] == "transfer" and answer["transfer"]["id"] == held, answer
            self.owned.add((conversation, index))
        elif answer["action"] == "transfer":
            self.holding[conversation] = answer["transfer"]["id"]
        return answer

    async def cancel(self, conversation: str) -> None:
        """The customer left: the channel ends the transfer; the policy decides again."""
        transfer = self.holding.pop(conversation)
        headers = {"Authorization": f"Bearer {self.keys[self.channels[conversation]]}"}
        r = await self.http.post(f"/v1/transfers/{transfer}/cancel", headers=headers)
        assert r.status_code == 200, r.text

    async def outcome(self, conversation: str, channel: str, resolved: bool) -> None:
        headers = {"Authorization": f"Bearer {self.keys[channel]}"}
        r = await self.http.post(
            f"/v1/conversations/{conversation}/outcome",
            json={"resolved": resolved, "csat": 4},
            headers=headers,
        )
        assert r.status_code == 200, r.text


def triggers(answer: dict[str, Any]) -> list[str]:
    return [t["type"] for t in answer["triggers"]]


async def scripted(client: Client, run: str) -> None:
    """Conversations written to make each rule fire, and to switch rules off by outcomes."""
    a, b = f"{run}-ann", f"{run}-bob"
    loop = f"{run}-loop"
    for _ in range(3):
        await client.turn(loop, "email", a, "Where is my parcel?", draft={"intent": "order_status"})
    assert "loop" in triggers(client.answers[(loop, 2)])
    # Ann comes back on chat about the same unresolved intent: a repeat contact.
    back = await client.turn(f"{run}-ann-again", "chat", a, "Hello again, parcel?")
    assert "repeat_contact" in triggers(back)
    # A sentiment run on SMS, then an explicit request and a legal keyword.
    mood = f"{run}-mood"
    await client.turn(mood, "sms", b, "This is useless, I am furious.", draft={"intent": "refund"})
    second = await client.turn(
        mood, "sms", b, "Terrible service, I hate this.", draft={"intent": "refund"}
    )
    assert "sentiment" in triggers(second)
    await client.turn(
        mood, "sms", b, "Could a real person look at this for me?", draft={"intent": None}
    )
    await client.cancel(mood)
    await client.turn(mood, "sms", b, "My lawyer will hear about this.", sentiment=0.2)
    # A channel's own scores, topics, locale and tier; low confidence on sync and async.
    await client.turn(f"{run}-voice", "voice", f"{run}-cy", "Tell me more.", topics=["legal"])
    await client.turn(
        f"{run}-low",
        "email",
        f"{run}-dee",
        "Hm?",
        draft={"confidence": 0.3},
        locale="es-MX",
        metadata={"customer_tier": "vip"},
        sentiment=-0.9,
    )
    await client.turn(
        f"{run}-low-sync",
        "chat",
        f"{run}-dee",
        "Hm?",
        draft={"confidence": 0.3, "intent": "billing"},
    )
    await client.turn(f"{run}-sad", "chat", f"{run}-eve", "My father passed away last week.")
    # Resolved: its own loop and Fay's next conversation about it no longer escalate.
    done = f"{run}-done"
    fay = f"{run}-fay"
    await client.turn(done, "email", fay, "Refund please", draft={"intent": "refund"})
    await client.outcome(done, "email", resolved=True)
    for _ in range(3):
        later = await client.turn(done, "email", fay, "Refund please", draft={"intent": "refund"})
    assert "loop" not in triggers(later)
    fresh = await client.turn(
        f"{run}-fay-2", "sms", fay, "About my refund", draft={"intent": "refund"}
    )
    assert "repeat_contact" not in triggers(fresh)
    # An unresolved outcome leaves the repeat-contact rule on.
    await client.outcome(f"{run}-low", "email", resolved=False)
    # A retried request creates nothing new.
    await client.turn(f"{run}-retry", "sms", f"{run}-gus", "ok", idempotency_key=f"{run}-k1")
    await client.turn(f"{run}-retry", "sms", f"{run}-gus", "ok", idempotency_key=f"{run}-k1")


async def shuffled(
    client: Client, run: str, turns: int, seed: int, outcomes_per_conversation: int = 1
) -> None:
    """Many customers across channels and conversations, in a reproducible random order; now
    and then an outcome, sometimes in the middle of a conversation."""
    rng = random.Random(seed)
    open_: list[tuple[str, str, str]] = []
    outcomes: dict[str, int] = {}
    for number in range(turns):
        if not open_ or rng.random() < 0.3:
            customer = f"{run}-c{rng.randrange(6)}"
            open_.append((f"{run}-r{number}", rng.choice(CHANNELS), customer))
        conversation, channel, customer = rng.choice(open_)
        extra: dict[str, Any] = {
            "draft": {"confidence": round(rng.uniform(0.4, 1.0), 2), "intent": rng.choice(INTENTS)},
            "topics": rng.choice(([], [], ["billing"], ["legal"])),
        }
        if rng.random() < 0.3:
            extra["sentiment"] = round(rng.uniform(-1, 1), 2)
        await client.turn(conversation, channel, customer, rng.choice(MESSAGES), **extra)
        if conversation in client.holding and rng.random() < 0.7:
            await client.cancel(conversation)
        if rng.random() < 0.08 and outcomes.get(conversation, 0) < outcomes_per_conversation:
            outcomes[conversation] = outcomes.get(conversation, 0) + 1
            await client.outcome(conversation, channel, resolved=rng.random() < 0.5)


async def replay_history(settings: Settings) -> dict[str, Any]:
    code, out, err = await cli(
        settings,
        "replay",
        "--from-db",
        "--since",
        "1d",
        "--policy",
        str(settings.policy_path),
        "--json",
        "--decisions",
    )
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def assert_reproduced(result: dict[str, Any], client: Client, recorded: int) -> None:
    reproduced = result["reproduced"]
    assert reproduced["mismatches"] == [], json.dumps(reproduced["mismatches"], indent=1)
    assert reproduced["turns"] == reproduced["matching"] == recorded
    assert result["differences"] == []
    # The replayed decisions are the very answers the channel received, turn by turn.
    replayed = {
        (d["conversation_id"], d["turn"]): d for d in result["policies"]["policy"]["decisions"]
    }
    assert len(replayed) == recorded == len(client.answers) - len(client.owned)
    for key, answer in client.answers.items():
        if key in client.owned:
            assert key not in replayed, key
            continue
        assert replayed[key]["action"] == answer["action"], key
        assert replayed[key]["triggers"] == triggers(answer), key


async def test_replaying_history_reproduces_every_recorded_decision(
    http: httpx.AsyncClient, channel_key: Any, db: asyncpg.Connection, settings: Settings
) -> None:
    keys = {channel: await channel_key(channel) for channel in CHANNELS}
    client = Client(http, keys)
    run = uuid.uuid4().hex[:6]
    await scripted(client, run)
    await shuffled(client, run, turns=300, seed=6)
    assert await db.fetchval("SELECT count(*) FROM decision") == len(client.answers)
    recorded = await db.fetchval("SELECT count(*) FROM decision WHERE NOT owned")
    assert client.owned and recorded > 250, "both kinds of turn, mostly the policy's"
    version = load_policy(settings.policy_path).version
    assert {a["policy_version"] for a in client.answers.values()} == {version}

    assert_reproduced(await replay_history(settings), client, recorded)
    kinds = {t for a in client.answers.values() for t in triggers(a)}
    assert kinds >= {
        "loop",
        "repeat_contact",
        "sentiment",
        "explicit_request",
        "topic",
        "distress",
        "confidence",
    }
    assert {a["action"] for a in client.answers.values()} == {"send", "review", "transfer"}


async def test_since_and_channel_count_only_their_turns(
    http: httpx.AsyncClient, channel_key: Any, db: asyncpg.Connection, settings: Settings
) -> None:
    keys = {channel: await channel_key(channel) for channel in CHANNELS}
    client = Client(http, keys)
    run = uuid.uuid4().hex[:6]
    await scripted(client, run)
    code, out, err = await cli(
        settings,
        "replay",
        "--from-db",
        "--channel",
        "sms",
        "--policy",
        str(settings.policy_path),
        "--json",
    )
    assert code == 0, err
    result = json.loads(out)
    sms = sum(
        1 for key in client.answers if client.channels[key[0]] == "sms" and key not in client.owned
    )
    assert result["policies"]["policy"]["turns"] == sms
    assert result["reproduced"]["matching"] == result["reproduced"]["turns"] == sms
    code, out, err = await cli(
        settings, "replay", "--from-db", "--policy", str(settings.policy_path)
    )
    assert code == 0, err
    assert "reproduced" in out and "(100.0%)" in out


async def test_outcomes_changed_later_are_replayed_at_their_own_time(
    http: httpx.AsyncClient, channel_key: Any, db: asyncpg.Connection, settings: Settings
) -> None:
    keys = {channel: await channel_key(channel) for channel in CHANNELS}
    client = Client(http, keys)
    await shuffled(client, uuid.uuid4().hex[:6], turns=300, seed=6, outcomes_per_conversation=3)
    recorded = await db.fetchval("SELECT count(*) FROM decision WHERE NOT owned")
    assert_reproduced(await replay_history(settings), client, recorded)
