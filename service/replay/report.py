"""The comparison as CONTRACT section 3's JSON and as plain text tables for the terminal."""

from __future__ import annotations

from typing import Any

from service.policy.model import TRIGGER_TYPES
from service.replay.compare import ACTIONS, Comparison, Tally, iso

SHOWN_DIFFERENCES = 20


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def summary(tally: Tally, handling_minutes: float) -> dict[str, Any]:
    """One policy's figures; every rate carries its denominator, every share sums to 1."""
    turns = tally.turns
    counted, fired = tally.actions, tally.triggers  # derived on each access: read once
    actions = {a: counted[a] for a in ACTIONS}
    escalated = actions["review"] + actions["transfer"]
    return {
        "version": tally.version,
        "turns": turns,
        "actions": actions,
        "triggers": {t: fired[t] for t in TRIGGER_TYPES if fired[t]},
        "refused": tally.refused,
        "shares": {a: _rate(n, turns) for a, n in actions.items()},
        "escalation": {
            "escalated": escalated,
            "turns": turns,
            "rate": _rate(escalated, turns),
            "by_trigger": {
                t: {"turns": n, "rate": _rate(n, turns)} for t in TRIGGER_TYPES if (n := fired[t])
            },
        },
        "by_channel": {
            channel: {
                "turns": c["turns"],
                "review": c["review"],
                "transfer": c["transfer"],
                "rate": _rate(c["review"] + c["transfer"], c["turns"]),
            }
            for channel, c in sorted(tally.channels.items())
        },
        "by_team": _teams(tally, escalated),
        "reviews": {
            "count": actions["review"],
            "handling_minutes": handling_minutes,
            "reviewer_hours": actions["review"] * handling_minutes / 60,
        },
        "peak_hour": _peak(tally),
    }


def _teams(tally: Tally, escalated: int) -> dict[str, Any]:
    teams = {}
    for team, c in sorted(tally.teams.items()):
        hourly = [h[team] for h in tally.hours.values() if h[team]]
        teams[team] = {
            "review": c["review"],
            "transfer": c["transfer"],
            "share": _rate(c["review"] + c["transfer"], escalated),
            "peak_hour_transfers": max(hourly, default=0),
        }
    return teams


def _peak(tally: Tally) -> dict[str, Any] | None:
    """The hour with the most transfers, and how they fell on the teams."""
    if not tally.hours:
        return None
    hour, teams = max(tally.hours.items(), key=lambda item: (item[1].total(), -item[0]))
    return {"hour": iso(hour * 3600.0), "transfers": teams.total(), "by_team": dict(teams)}


def to_json(comparison: Comparison, handling_minutes: float) -> dict[str, Any]:
    policies = {}
    for tally in comparison.tallies:
        entry = summary(tally, handling_minutes)
        if tally.decisions is not None:
            entry["decisions"] = tally.listed()
        policies[tally.name] = entry
    out: dict[str, Any] = {"policies": policies, "differences": comparison.differences}
    if comparison.reproduced is not None:
        out["reproduced"] = comparison.reproduced
    return out


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [header, ["-" * w for w in widths], *rows]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    )


def to_text(comparison: Comparison, handling_minutes: float) -> str:
    data = to_json(comparison, handling_minutes)
    names = list(data["policies"])
    figures = list(data["policies"].values())
    parts = [_overview(names, figures), _by_channel(names, figures), _by_team(names, figures)]
    if len(names) > 1:
        parts.append(_differences(comparison.differences, names))
    if comparison.reproduced is not None:
        parts.append(_reproduced(comparison.reproduced))
    for name, f in data["policies"].items():
        if "decisions" in f:
            parts.append(_decisions(name, f["decisions"]))
    return "\n\n".join(parts) + "\n"


def _decisions(name: str, decisions: list[dict[str, Any]]) -> str:
    rows = [
        [f"{d['conversation_id']}#{d['turn']}", d["action"], ", ".join(d["triggers"])]
        for d in decisions
    ]
    return _table([f"decisions: {name}", "action", "triggers"], rows or [["-", "", ""]])


def _overview(names: list[str], figures: list[dict[str, Any]]) -> str:
    rows = [["turns", *(str(f["turns"]) for f in figures)]]
    for action in ACTIONS:
        rows.append(
            [action, *(f"{f['actions'][action]} ({_pct(f['shares'][action])})" for f in figures)]
        )
    rows.append(["escalation rate", *(_pct(f["escalation"]["rate"]) for f in figures)])
    for kind in TRIGGER_TYPES:
        if any(kind in f["escalation"]["by_trigger"] for f in figures):
            cells = []
            for f in figures:
                hit = f["escalation"]["by_trigger"].get(kind, {"turns": 0, "rate": 0.0})
                cells.append(f"{hit['turns']} ({_pct(hit['rate'])})")
            rows.append([f"  by {kind}", *cells])
    rows.append(["reviews", *(str(f["reviews"]["count"]) for f in figures)])
    minutes = figures[0]["reviews"]["handling_minutes"]
    rows.append(
        [
            f"reviewer-hours @ {minutes:g} min",
            *(f"{f['reviews']['reviewer_hours']:.1f}" for f in figures),
        ]
    )
    rows.append(["peak-hour transfers", *(_peak_cell(f["peak_hour"]) for f in figures)])
    if any(f["refused"] for f in figures):
        rows.append(["refused (unknown channel)", *(str(f["refused"]) for f in figures)])
    return _table(["", *names], rows)


def _peak_cell(peak: dict[str, Any] | None) -> str:
    return "-" if peak is None else f"{peak['transfers']} at {peak['hour'][:13]}h"


def _grid(figures: list[dict[str, Any]], section: str, cell: Any) -> list[list[str]]:
    """One row per key of `section` across the policies, each cell drawn by `cell` ('-' if absent)."""
    keys = sorted({k for f in figures for k in f[section]})
    return [
        [k, *("-" if (v := f[section].get(k)) is None else cell(v) for f in figures)] for k in keys
    ]


def _by_channel(names: list[str], figures: list[dict[str, Any]]) -> str:
    rows = _grid(
        figures,
        "by_channel",
        lambda c: f"{_pct(c['rate'])} of {c['turns']} ({c['review']} rev, {c['transfer']} xfer)",
    )
    return _table(["escalation by channel", *names], rows)


def _by_team(names: list[str], figures: list[dict[str, Any]]) -> str:
    rows = _grid(
        figures,
        "by_team",
        lambda t: f"{t['review']} rev, {t['transfer']} xfer, peak {t['peak_hour_transfers']}/h",
    )
    return _table(["by team", *names], rows or [["(no escalations)", *("" for _ in names)]])


def _describe(verdict: dict[str, Any] | None) -> str:
    if verdict is None:
        return "refused"
    rules = ", ".join(verdict["rule_ids"])
    return f"{verdict['action']} ({rules})" if rules else verdict["action"]


def _differences(differences: list[dict[str, Any]], names: list[str]) -> str:
    count = len(differences)
    head = f"{count} turn{'' if count == 1 else 's'} decided differently ({names[0]} vs {names[1]})"
    rows = [
        [
            f"{d['conversation_id']}#{d['turn']}",
            _describe(d["policy"]),
            _describe(d["baseline"]),
            ", ".join(
                [*("+" + r for r in d["rules_added"]), *("-" + r for r in d["rules_removed"])]
            ),
        ]
        for d in differences[:SHOWN_DIFFERENCES]
    ]
    if not rows:
        return head
    more = len(differences) - SHOWN_DIFFERENCES
    tail = f"\n... and {more} more (--json lists them all)" if more > 0 else ""
    return head + "\n" + _table(["turn", names[0], names[1], "rules"], rows) + tail


def _reproduced(found: dict[str, Any]) -> str:
    turns, matching = found["turns"], found["matching"]
    if not turns:
        return f"no recorded turn was decided under policy version {found['policy_version'][:12]}"
    head = (
        f"recorded decisions reproduced under version {found['policy_version'][:12]}: "
        f"{matching} of {turns} ({_pct(_rate(matching, turns))})"
    )
    rows = [
        [f"{d['conversation_id']}#{d['turn']}", _describe(d["policy"]), _describe(d["baseline"])]
        for d in found["mismatches"][:SHOWN_DIFFERENCES]
    ]
    return head + ("\n" + _table(["turn", "replayed", "recorded"], rows) if rows else "")
