"""SQLModel tables, one module per aggregate; importing this package registers them all."""

from service.models.audit import AuditEvent
from service.models.channel import (
    ChannelKey,
    ChannelSecret,
    OutboxEvent,
    WebhookEndpointDisabled,
)
from service.models.conversation import Conversation, Decision, Turn
from service.models.review import Review
from service.models.reviewer import Reviewer, ReviewerTeam, ReviewerToken, Team
from service.models.transfer import Transfer, TransferEvent, TransferMessage

__all__ = [
    "AuditEvent",
    "ChannelKey",
    "ChannelSecret",
    "Conversation",
    "Decision",
    "OutboxEvent",
    "Review",
    "Reviewer",
    "ReviewerTeam",
    "ReviewerToken",
    "Team",
    "Transfer",
    "TransferEvent",
    "TransferMessage",
    "Turn",
    "WebhookEndpointDisabled",
]
