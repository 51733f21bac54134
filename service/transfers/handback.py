"""What the AI is told when a person hands a conversation back (pure): the person's own note,
or one made from what they did, so the AI resumes knowing how it ended."""

from __future__ import annotations

MAX_QUOTE = 200


def note(
    *,
    person: str | None,
    customer_messages: int,
    replies: list[str],
    resolution: str,
    given: str | None,
) -> str:
    if given and given.strip():
        return given.strip()
    who = person or "A person"
    said = f"{who} handled the conversation ({_count(customer_messages, 'customer message')}, "
    said += f"{_count(len(replies), 'reply', 'replies')})"
    if replies:
        said += f"; last reply: \u201c{_clip(replies[-1])}\u201d"
    return f"{said}. Resolution: {resolution}"


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_QUOTE else text[: MAX_QUOTE - 1] + "\u2026"
