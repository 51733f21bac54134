"""The shapes of POST /v1/turns, validated by msgspec (the field is named in every error)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

ShortStr = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=100_000)]


class DraftIn(msgspec.Struct, forbid_unknown_fields=False):
    text: Text
    confidence: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
    intent: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class TurnCreate(msgspec.Struct, forbid_unknown_fields=False):
    conversation_id: ShortStr
    channel: ShortStr
    customer_id: ShortStr
    message: Text
    draft: DraftIn
    topics: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=200)]], msgspec.Meta(max_length=50)
    ] = []
    sentiment: Annotated[float, msgspec.Meta(ge=-1.0, le=1.0)] | None = None
    locale: Annotated[str, msgspec.Meta(max_length=35)] | None = None
    metadata: dict[str, Any] | None = None


class OutcomeIn(msgspec.Struct, forbid_unknown_fields=False):
    resolved: bool
    csat: Annotated[int, msgspec.Meta(ge=1, le=5)] | None = None


class EditIn(msgspec.Struct):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]
