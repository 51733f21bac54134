"""Pure pieces of delivery and persistence: backoff, signing, named parameters."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from service.channels import outbox, signing
from service.db import named
from service.settings import Settings


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(1, 1.0, 2.0), (2, 2.0, 4.0), (3, 4.0, 8.0), (10, 30.0, 60.0), (40, 30.0, 60.0)],
)
def test_backoff_grows_exponentially_with_jitter_up_to_a_cap(
    attempt: int, low: float, high: float
) -> None:
    rng = random.Random(attempt)
    delays = [outbox.backoff_delay(attempt, base=2.0, cap=60.0, rng=rng) for _ in range(200)]
    assert all(low <= d <= high for d in delays)
    assert len({round(d, 6) for d in delays}) > 100, "jitter spreads retries apart"


def test_signature_verifies_with_the_reference_library() -> None:
    secret = signing.new_secret()
    body = '{"type": "review.completed", "data": {"final_text": "Hi"}}'
    headers = signing.sign_headers("msg_1", datetime.now(UTC), body, [secret])
    assert Webhook(secret).verify(body, headers)["data"]["final_text"] == "Hi"
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("Hi", "Ho"), headers)


def test_during_a_rotation_both_secrets_verify() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    body = "{}"
    headers = signing.sign_headers("msg_2", datetime.now(UTC), body, [new, old])
    assert len(headers["webhook-signature"].split()) == 2
    assert Webhook(old).verify(body, headers) == {} and Webhook(new).verify(body, headers) == {}


@pytest.mark.parametrize(
    ("sql", "expected", "names"),
    [
        ("SELECT :a, :b, :a", "SELECT $1, $2, $1", ("a", "b")),
        ("SELECT x::text, :a", "SELECT x::text, $1", ("a",)),
        ("SELECT 'a:b' || :c_d", "SELECT 'a:b' || $1", ("c_d",)),
    ],
)
def test_named_parameters_become_positional(
    sql: str, expected: str, names: tuple[str, ...]
) -> None:
    assert named(sql) == (expected, names)


def _simulate(down_for: float, seed: int) -> tuple[str, float, int]:
    """A receiver down for `down_for` seconds, on a simulated clock, with the shipped defaults
    (first retry after 2 s, doubling up to an hour, for 26 hours)."""
    defaults = Settings()
    rng, now, attempts = random.Random(seed), 0.0, 0
    while True:
        attempts += 1
        if now >= down_for:
            return "delivered", now, attempts
        wait = outbox.next_attempt_in(
            attempts,
            now,
            defaults.webhook_backoff_base_seconds,
            defaults.webhook_backoff_max_seconds,
            defaults.webhook_retry_for_seconds,
            rng,
        )
        if wait is None:
            return "gave up", now, attempts
        now += wait


@pytest.mark.parametrize("seed", range(20))
def test_a_receiver_down_for_hours_gets_the_delivery_within_an_hour_of_coming_back(
    seed: int,
) -> None:
    for hours in (0.01, 1, 6, 20):
        result, at, attempts = _simulate(hours * 3600, seed)
        assert result == "delivered", (hours, attempts)
        assert at - hours * 3600 <= 3600, "never more than the cap between attempts"
        assert attempts <= 12 + 2 * hours, "backs off: 30 to 60 min apart once the outage is long"


@pytest.mark.parametrize("seed", range(20))
def test_a_receiver_gone_for_more_than_the_window_is_given_up_inside_it(seed: int) -> None:
    result, at, _ = _simulate(40 * 3600, seed)
    assert result == "gave up" and at <= 26 * 3600
