"""The escalation policy: loading, validating and applying it to every AI turn."""

from service.policy.engine import (
    Decision,
    Facts,
    FiredTrigger,
    PriorContact,
    PriorTurn,
    Signals,
    evaluate,
)
from service.policy.loader import PolicyError, PolicyIssue, load_policy, parse_policy
from service.policy.model import ChannelPolicy, Policy, TeamPolicy

__all__ = [
    "ChannelPolicy",
    "Decision",
    "Facts",
    "FiredTrigger",
    "Policy",
    "PolicyError",
    "PolicyIssue",
    "PriorContact",
    "PriorTurn",
    "Signals",
    "TeamPolicy",
    "evaluate",
    "load_policy",
    "parse_policy",
]
