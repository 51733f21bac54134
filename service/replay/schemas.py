"""The replay input (CONTRACT section 3): one conversation per line, turns shaped as POST /v1/turns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from service.turns.schemas import DraftIn, ShortStr, Text

# The same bounds as the live intake, so a turn the service would refuse is refused here too.
Topics = Annotated[list[Annotated[str, msgspec.Meta(max_length=200)]], msgspec.Meta(max_length=50)]


# gc=False on all three: decoded data holds no reference cycles, and a million turns tracked
# by the cyclic collector would only make it slower.
class ReplayTurn(msgspec.Struct, forbid_unknown_fields=False, gc=False):
    message: Text
    draft: DraftIn
    at: datetime
    topics: Topics = []
    sentiment: Annotated[float, msgspec.Meta(ge=-1.0, le=1.0)] | None = None
    locale: Annotated[str, msgspec.Meta(max_length=35)] | None = None
    metadata: dict[str, Any] | None = None


class ReplayOutcome(msgspec.Struct, forbid_unknown_fields=False, gc=False):
    resolved: bool
    csat: Annotated[int, msgspec.Meta(ge=1, le=5)] | None = None


class ReplayConversation(msgspec.Struct, forbid_unknown_fields=False, gc=False):
    conversation_id: ShortStr
    channel: ShortStr
    customer_id: ShortStr
    turns: list[ReplayTurn]
    outcome: ReplayOutcome | None = None


DECODER = msgspec.json.Decoder(ReplayConversation)
