"""Jinja2 rendering of pages and of their named blocks (the fragments htmx and the socket swap)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Response
from litestar.enums import MediaType

TEMPLATES = Path(__file__).parent / "templates"


def _clock(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%H:%M:%S UTC") if value else ""


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%d %b %H:%M UTC") if value else ""


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _percent(value: float | None) -> str:
    return "" if value is None else f"{round(value * 100)}%"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def _label(value: str | None) -> str:
    return (value or "").replace("_", " ")


# Autoescape is on for every template: customer and AI text is data, never markup.
env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
env.tests["contains"] = lambda seq, item: item in (seq or ())
env.filters.update(clock=_clock, when=_when, iso=_iso, percent=_percent, age=_age, label=_label)


def render(name: str, block: str | None = None, **context: Any) -> str:
    """The whole page, or only one of its named blocks rendered with the same context."""
    template = env.get_template(name)
    if block is None:
        return template.render(**context)
    ctx = template.new_context(context)
    return "".join(template.blocks[block](ctx))


def page(
    name: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> Response[str]:
    return Response(
        render(name, **context), status_code=status, media_type=MediaType.HTML, headers=headers
    )


def fragment(
    name: str,
    *blocks: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response[str]:
    html = "".join(render(name, block, **context) for block in blocks)
    return Response(html, status_code=status, media_type=MediaType.HTML, headers=headers)
