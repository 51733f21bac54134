"""The shapes of POST /v1/turns, validated by msgspec (the field is named in every error)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

ShortStr = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=100_000)]


def no_nul(where: str, value: Any) -> None:
    """PostgreSQL text and jsonb cannot hold U+0000: refuse it by name rather than fail later."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where}: contains a NUL character (U+0000), which cannot be stored")
    elif isinstance(value, dict):
        for key, item in value.items():
            no_nul(f"{where}.{key}", key)
            no_nul(f"{where}.{key}", item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            no_nul(f"{where}[{index}]", item)


class DraftIn(msgspec.Struct, forbid_unknown_fields=False):
    text: Text
    confidence: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
    intent: Annotated[str, msgspec.Meta(max_length=200)] | None = None

    def __post_init__(self) -> None:
        no_nul("draft.text", self.text)
        no_nul("draft.intent", self.intent)


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

    def __post_init__(self) -> None:
        for name in ("conversation_id", "channel", "customer_id", "message", "topics", "locale"):
            no_nul(name, getattr(self, name))
        no_nul("metadata", self.metadata)


class OutcomeIn(msgspec.Struct, forbid_unknown_fields=False):
    resolved: bool
    csat: Annotated[int, msgspec.Meta(ge=1, le=5)] | None = None


class EditIn(msgspec.Struct):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]

    def __post_init__(self) -> None:
        no_nul("text", self.text)
