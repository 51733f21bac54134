"""Pure team selection: which routing rule, if any, names the team for a decision."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from service.policy.model import RoutingCondition, RoutingPolicy, RoutingRule


@dataclass(frozen=True)
class RouteContext:
    """What routing rules can look at, already folded to lower case."""

    topics: frozenset[str]  # the channel's labels and the names of policy topics that fired
    intent: str | None
    triggers: frozenset[str]  # the deciding trigger's type and rule id
    channel: str
    locale: str | None
    customer_tier: str | None


def _locale_matches(wanted: frozenset[str], locale: str | None) -> bool:
    # "es" matches "es-MX": a rule for a language covers its regional variants.
    if locale is None:
        return False
    return any(locale == w or locale.startswith(w + "-") for w in wanted)


def matches(when: RoutingCondition, ctx: RouteContext) -> bool:
    """All the rule's conditions hold (a condition holds when any of its values matches)."""
    if when.channel and ctx.channel not in when.channel:
        return False
    if when.trigger and when.trigger.isdisjoint(ctx.triggers):
        return False
    if when.intent and (ctx.intent is None or ctx.intent not in when.intent):
        return False
    if when.topic and when.topic.isdisjoint(ctx.topics):
        return False
    if when.locale and not _locale_matches(when.locale, ctx.locale):
        return False
    return not (
        when.customer_tier
        and (ctx.customer_tier is None or ctx.customer_tier not in when.customer_tier)
    )


def first_rule(rules: Iterable[RoutingRule], ctx: RouteContext) -> tuple[int, RoutingRule] | None:
    """The first rule, in file order, whose conditions all hold, with its index."""
    for index, rule in enumerate(rules):
        if matches(rule.when, ctx):
            return index, rule
    return None


def choose_team(
    routing: RoutingPolicy, trigger_team: str, ctx: RouteContext
) -> tuple[str, int | None]:
    """The team a routing rule names, else the deciding trigger's own team; and the rule index."""
    found = first_rule(routing.rules, ctx)
    if found is None:
        return trigger_team, None
    return found[1].team, found[0]


def normalise_locale(locale: str | None) -> str | None:
    return locale.strip().casefold().replace("_", "-") if locale else None
