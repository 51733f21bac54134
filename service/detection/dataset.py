"""The team's own labelled messages (data/train, data/tune): reading them and what each row
means for each head. No evaluation file is ever read here."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data"
LABELS = (
    "explicit_request",
    "not_request_mentions_human",
    "distress",
    "anger",
    "legal",
    "fraud",
    "medical",
    "regulated_finance",
    "ordinary",
)


@dataclass(frozen=True)
class Row:
    text: str
    label: str
    category: str | None
    also: tuple[str, ...]
    lang: str
    source: str


def read(folder: Path) -> list[Row]:
    rows = []
    for path in sorted(folder.glob("*.jsonl")):
        if path.name == "conversations.jsonl":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            item = json.loads(line)
            if item["label"] not in LABELS:
                raise SystemExit(f"{path}:{number}: unknown label {item['label']!r}")
            rows.append(
                Row(
                    item["text"],
                    item["label"],
                    item.get("category"),
                    tuple(item.get("also") or ()),
                    item.get("lang", "en"),
                    f"{path.name}:{number}",
                )
            )
    return rows


def target(row: Row, head: str) -> bool | None:
    """Whether the row is a positive for the head; None leaves it out of that head's fit."""
    labels = {row.label, *row.also}
    if head == "explicit_request":
        return "explicit_request" in labels
    if head == "distress":
        return row.label == "distress"
    if head.startswith("distress."):
        return row.label == "distress" and row.category == head.split(".", 1)[1]
    if head.startswith("topics."):
        return head.split(".", 1)[1] in labels
    if head == "sentiment":
        # Distress is negative too, but it is not the frustration this head is about.
        return None if row.label == "distress" else "anger" in labels
    raise ValueError(head)


def calm(row: Row) -> bool:
    """A message on which no hard trigger should fire."""
    return row.label in ("ordinary", "not_request_mentions_human") and not row.also


def data_digest(rows: list[Row]) -> str:
    """Names the training and tuning text, so a test can tell when the heads are stale."""
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps([row.text, row.label, row.category, row.also, row.source]).encode())
    return h.hexdigest()
