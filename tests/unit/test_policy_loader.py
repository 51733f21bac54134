"""The policy loader: the shipped policy loads; every malformed policy gets line-numbered issues."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from pathlib import Path

import pytest

from service.detection import binding, heads
from service.policy.durations import DurationError, format_duration, parse_duration
from service.policy.loader import PolicyError, load_policy, parse_policy
from service.policy.nodes import MAX_BYTES

ROOT = Path(__file__).resolve().parents[2]

VALID = """\
version: 1
channels:
  chat: { mode: sync }
  email:
    mode: async
    latency_budget: 4h
    on_timeout: send_draft
routing:
  default_team: general
teams:
  general: {}
  care: {}
"""


def issues_of(text: str) -> list[tuple[int, str]]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "p.yaml")
    return [(issue.line, str(issue)) for issue in caught.value.issues]


def test_default_policy_loads_with_the_contract_shape() -> None:
    path = ROOT / "policies" / "default.yaml"
    policy = load_policy(path)
    # The text's SHA-256 together with the detector's heads (model identity and examples).
    text_sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert policy.version == binding.version(text_sha, heads.load())
    assert policy.detection.heads == heads.load().digest
    assert policy.source == str(path)
    assert policy.default_team == "general"
    assert {"chat", "voice"} <= {n for n, c in policy.channels.items() if c.mode == "sync"}
    assert {"email", "sms"} <= {n for n, c in policy.channels.items() if c.mode == "async"}
    for name in ("email", "sms"):
        channel = policy.channels[name]
        assert channel.latency_budget and channel.on_timeout and channel.webhook_url
    assert {"legal", "fraud", "medical", "finance", "care", "billing", "general"} <= set(
        policy.teams
    )
    assert {t.name for t in policy.triggers.topics} >= {"legal", "fraud", "medical"}
    assert policy.allow_private_webhooks is False
    assert policy.teams["general"].offer_timeout == timedelta(minutes=2)


def test_minimal_policy_gets_defaults() -> None:
    policy = parse_policy(VALID)
    text_sha = hashlib.sha256(VALID.encode()).hexdigest()
    assert policy.version == binding.version(text_sha, heads.load())
    assert policy.confidence.threshold == 0.7
    assert policy.triggers.distress.transfer == "warm"
    assert policy.routing.precedence[0] == "distress"
    assert policy.channels["email"].latency_budget == timedelta(hours=4)


@pytest.mark.parametrize(
    ("intent", "channel", "expected"),
    [("refund", "email", 0.9), (None, "email", 0.6), ("other", "chat", 0.7), (None, "sms", 0.7)],
)
def test_threshold_for_prefers_intent_then_channel(
    intent: str | None, channel: str, expected: float
) -> None:
    text = (
        VALID
        + "confidence: { threshold: 0.7, per_channel: { email: 0.6 }, "
        + ("per_intent: { refund: 0.9 } }\n")
    )
    assert parse_policy(text).threshold_for(channel, intent) == expected


A = VALID  # cases below edit or extend the valid policy; lines 1-12 are VALID's
T = VALID + "triggers:\n"  # so a trigger written after it is on line 14
R = "  default_team: general\n"  # the routing line that routing cases extend

MALFORMED = [
    # (what, policy text, line of the issue, words in its message)
    ("wrong version", A.replace("version: 1", "version: 2"), 1, "version 1"),
    ("unknown top key", A + "chanels: {}\n", 13, "did you mean 'channels'"),
    ("mode typo", A.replace("mode: sync", "mode: synch"), 3, "did you mean 'sync'"),
    ("bad duration", A.replace("4h", "4 hours"), 6, "not a duration"),
    ("zero duration", A.replace("4h", "0m"), 6, "zero"),
    ("bare number duration", A.replace("4h", "4"), 6, "duration"),
    ("async without budget", A.replace("    latency_budget: 4h\n", ""), 5, "latency_budget"),
    ("on_timeout typo", A.replace("send_draft", "send"), 7, "send_draft, transfer"),
    ("holding message missing", A.replace("send_draft", "holding_message"), 7, "holding message"),
    (
        "sync with budget",
        A.replace("{ mode: sync }", "{ mode: sync, latency_budget: 1h }"),
        3,
        "only to async",
    ),
    ("no mode", A.replace("{ mode: sync }", "{}"), 3, "missing 'mode'"),
    (
        "bad webhook",
        A.replace("send_draft\n", "send_draft\n    webhook_url: ftp://x\n"),
        8,
        "http(s) URL",
    ),
    (
        "unknown default team",
        A.replace("default_team: general", "default_team: genral"),
        9,
        "did you mean 'general'",
    ),
    ("no routing", A.replace("routing:\n" + R, ""), 1, "missing 'routing'"),
    ("no teams", A.replace("teams:\n  general: {}\n  care: {}\n", ""), 1, "missing 'teams'"),
    ("threshold too high", A + "confidence: { threshold: 1.5 }\n", 13, "from 0 to 1"),
    ("threshold as text", A + "confidence: { threshold: high }\n", 13, "number"),
    ("threshold is a bool", A + "confidence: { threshold: yes }\n", 13, "number"),
    ("per_channel unknown", A + "confidence: { per_channel: { fax: 0.5 } }\n", 13, "channel 'fax'"),
    ("confidence team unknown", A + "confidence: { team: nobody }\n", 13, "team 'nobody'"),
    ("transfer typo", T + "  explicit_request: { transfer: hot }\n", 14, "warm, cold"),
    ("cold distress", T + "  distress: { transfer: cold }\n", 14, "always warm"),
    (
        "unknown category",
        T + "  distress: { categories: [selfharm] }\n",
        14,
        "did you mean 'self_harm'",
    ),
    (
        "min_negative above window",
        T + "  sentiment: { window: 2, min_negative: 3 }\n",
        14,
        "never fire",
    ),
    ("window not a number", T + "  sentiment: { window: three }\n", 14, "whole number"),
    ("sentiment threshold range", T + "  sentiment: { threshold: -2 }\n", 14, "-1 to 1"),
    ("loop too small", T + "  loop: { max_same_intent: 1 }\n", 14, "2 to 100"),
    ("repeat window", T + "  repeat_contact: { window: soon }\n", 14, "duration"),
    ("hard not bool", T + "  loop: { hard: maybe }\n", 14, "true or false"),
    ("unknown trigger", T + "  explicit: {}\n", 14, "did you mean"),
    ("topics not a list", T + "  topics: { name: legal }\n", 14, "list"),
    ("topic without name", T + "  topics:\n    - { keywords: [x] }\n", 15, "missing 'name'"),
    # A topic of the policy's own (no head of the shipped detector) needs something to fire on.
    ("topic never fires", T + "  topics:\n    - { name: warranty }\n", 15, "never fires"),
    ("threshold out of range", T + "  explicit_request: { threshold: 1.5 }\n", 14, "0 to 1"),
    ("examples not text", T + "  explicit_request:\n    examples: [{a: b}]\n", 15, "must be text"),
    (
        "unknown category in mapping",
        T + "  distress:\n    categories:\n      self_hurt: { threshold: 0.4 }\n",
        16,
        "did you mean 'self_harm'",
    ),
    (
        "category key unknown",
        T + "  distress:\n    categories:\n      abuse: { treshold: 0.4 }\n",
        16,
        "did you mean 'threshold'",
    ),
    (
        "topic twice",
        T + "  topics:\n    - { name: a, labels: [a] }\n    - { name: a, labels: [b] }\n",
        16,
        "defined twice",
    ),
    (
        "topic key typo",
        T + "  topics:\n    - { name: a, keyword: [a] }\n",
        15,
        "did you mean 'keywords'",
    ),
    (
        "topic name with spaces",
        T + "  topics:\n    - { name: 'a b', labels: [a] }\n",
        15,
        "spaces or symbols",
    ),
    (
        "topic team unknown",
        T + "  topics:\n    - { name: a, labels: [a], team: lawyers }\n",
        15,
        "team 'lawyers'",
    ),
    ("precedence typo", A.replace(R, R + "  precedence: [topics]\n"), 10, "did you mean 'topic'"),
    ("precedence repeated", A.replace(R, R + "  precedence: [loop, loop]\n"), 10, "twice"),
    ("rule without when", A.replace(R, R + "  rules:\n    - team: care\n"), 11, "missing 'when'"),
    (
        "rule with empty when",
        A.replace(R, R + "  rules:\n    - { when: {}, team: care }\n"),
        11,
        "matches every transfer",
    ),
    (
        "rule condition typo",
        A.replace(R, R + "  rules:\n    - { when: { topc: x }, team: care }\n"),
        11,
        "did you mean 'topic'",
    ),
    (
        "rule trigger typo",
        A.replace(R, R + "  rules:\n    - { when: { trigger: sentimnt }, team: care }\n"),
        11,
        "did you mean 'sentiment'",
    ),
    (
        "rule channel unknown",
        A.replace(R, R + "  rules:\n    - { when: { channel: fax }, team: care }\n"),
        11,
        "channel 'fax'",
    ),
    (
        "team offer timeout",
        A.replace("  care: {}", "  care: { offer_timeout: fast }"),
        12,
        "duration",
    ),
    (
        "team key typo",
        A.replace("  care: {}", "  care: { descripton: x }"),
        12,
        "did you mean 'description'",
    ),
    (
        "webhooks flag",
        A + "webhooks: { allow_private_addresses: sometimes }\n",
        13,
        "true or false",
    ),
    ("duplicate key", A + "teams: {}\n", 13, "given twice"),
    (
        "channels a list",
        "version: 1\nchannels: [chat]\nrouting: { default_team: g }\n",
        2,
        "mapping",
    ),
    (
        "channel name with space",
        A.replace("  chat: { mode: sync }", "  'my chat': { mode: sync }"),
        3,
        "spaces or symbols",
    ),
    ("root is a list", "- version: 1\n", 1, "mapping"),
    ("root is text", "hello\n", 1, "mapping"),
    ("empty file", "", 1, "empty"),
    ("only a comment", "# nothing\n", 1, "empty"),
    (
        "bad indentation",
        "version: 1\nchannels:\n  chat: {mode: sync}\n   email: x\n",
        4,
        "fix the YAML",
    ),
    # Reported where the "[" opened, with where the parser gave up.
    ("unclosed bracket", "version: 1\nchannels: [\n", 2, "fix the YAML"),
    (
        "unclosed bracket far above",
        "version: 1\ntriggers:\n  distress:\n    categories: [self_harm, abuse\n"
        + "".join(f"  # filler {i}\n" for i in range(40))
        + "teams:\n  general: {}\n",
        4,
        "gave up at line 45",
    ),
    ("tab indentation", "version: 1\nchannels:\n\tchat: x\n", 3, "fix the YAML"),
    ("python tag", "version: 1\nchannels: !!python/object/apply:os.system ['ls']\n", 2, "tags"),
    ("custom tag", "version: 1\nchannels: !secret x\n", 2, "tags"),
    ("anchor", "version: 1\nchannels: &c { chat: { mode: sync } }\n", 2, "anchors"),
    ("alias", "version: 1\nchannels: *c\n", 2, "aliases"),
    ("two documents", A + "---\nversion: 1\n", 13, "single document"),
    ("merge key", A.replace("  care: {}", "  care: { <<: {} }"), 12, "unknown key '<<'"),
    # no_one_online: exactly one fallback, a real other team, a duration.
    (
        "no_one_online with both fallbacks",
        A.replace(
            "  care: {}",
            '  care: { no_one_online: { after: 5m, team: general, holding_message: "x" } }',
        ),
        12,
        "exactly one fallback",
    ),
    (
        "no_one_online to itself",
        A.replace("  care: {}", "  care: { no_one_online: { after: 5m, team: care } }"),
        12,
        "care itself",
    ),
    (
        "no_one_online to an unknown team",
        A.replace("  care: {}", "  care: { no_one_online: { after: 5m, team: genral } }"),
        12,
        "did you mean 'general'",
    ),
    (
        "no_one_online without after",
        A.replace("  care: {}", "  care: { no_one_online: { team: general } }"),
        12,
        "missing 'after'",
    ),
    (
        "no_one_online bad duration",
        A.replace("  care: {}", "  care: { no_one_online: { after: soon, team: general } }"),
        12,
        "duration",
    ),
]


@pytest.mark.parametrize(
    ("what", "text", "line", "words"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_malformed_policy_is_reported_with_line_and_fix(
    what: str, text: str, line: int, words: str
) -> None:
    found = issues_of(text)
    assert any(words in message for _, message in found), found
    assert line in [number for number, _ in found], found
    for _, message in found:
        assert message.startswith("p.yaml:") and "(fix: " in message


def test_every_issue_is_reported_at_once() -> None:
    text = VALID.replace("mode: sync", "mode: synch").replace("4h", "4 hours") + "extra: 1\n"
    assert len(issues_of(text)) == 3


def test_error_string_has_one_issue_per_line() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy("version: 3\nchanels: {}\n", "x.yaml")
    lines = str(caught.value).splitlines()
    assert len(lines) == len(caught.value.issues) >= 2
    assert lines[0].startswith("x.yaml:1:")


def test_alias_bomb_is_refused_quickly() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(9)
    )
    assert "anchors" in issues_of(bomb)[0][1]


def test_deep_nesting_is_refused_without_recursion_error() -> None:
    assert "nesting" in issues_of("a: " + "[" * 5000 + "]" * 5000 + "\n")[0][1]


def test_size_cap(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(VALID + "#" * (MAX_BYTES + 10) + "\n")
    with pytest.raises(PolicyError, match="larger than"):
        load_policy(path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(VALID.encode() + b"# caf\xe9\n")
    with pytest.raises(PolicyError, match="UTF-8"):
        load_policy(path)


def test_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("10m", 600), ("4h", 14400), ("3d", 259200), ("1h30m", 5400), (" 2H ", 7200)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "4", "h", "4 hours", "-1h", "1.5h", "0s", "400d", "4x"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    for text in ("90s", "10m", "4h", "3d", "1h30m"):
        assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)


HOSTILE_POLICIES = {
    "python tag": "version: 1\nchannels: !!python/object/apply:os.system ['ls']\n",
    "alias bomb": "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}] \n" for i in range(9)),
    "duplicate keys": VALID + "teams: {}\n",
    "wrong types": VALID.replace("mode: sync", "mode: [1, 2]").replace("4h", "{ a: 1 }"),
    "deep nesting": "a: " + "[" * 5000 + "]" * 5000 + "\n",
    "1 MB of channels": "version: 1\nchannels:\n"
    + "".join(f"  c{n}: {{ mode: sync, bogus: {n} }}\n" for n in range(30_000)),
}


@pytest.mark.parametrize("what", list(HOSTILE_POLICIES))
def test_hostile_policy_files_are_refused_with_line_numbers_at_once(
    what: str, tmp_path: Path
) -> None:
    """A bound, not a benchmark: a bomb that is expanded or parsed at length takes seconds."""
    path = tmp_path / "policy.yaml"
    path.write_text(HOSTILE_POLICIES[what])
    started = time.perf_counter()
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    took = time.perf_counter() - started
    assert took < 0.1, f"{what}: {took * 1000:.0f} ms"
    first = caught.value.issues[0]
    assert first.line >= 1 and str(first).startswith(f"{path}:{first.line}:"), str(first)


def test_retention_is_read_and_checked() -> None:
    policy = parse_policy(VALID + "retention: { conversations: 400d, audit: 730d }\n", "p.yaml")
    assert policy.retention.conversations == timedelta(days=400)
    assert policy.retention.audit == timedelta(days=730) and policy.retention.deliveries is None
    assert parse_policy(VALID, "p.yaml").retention.conversations is None, "kept for ever"
    found = issues_of(VALID + "retention:\n  deliveries: 2h\n  turns: 30d\n")
    assert any("less than a day" in m for _, m in found), found
    assert any("turns" in m and "conversations" in m for _, m in found), found
    assert {line for line, _ in found} == {14, 15}
