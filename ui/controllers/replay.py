"""/ui/replay: try a policy on recorded conversations before it ships, and see the comparison.

Files are uploaded (or dropped by an engineer) into the replay folder and can be picked again;
policies are the YAML files beside the live one. The replay is the very `hitl replay` use-case,
run in a worker thread so that the server keeps answering meanwhile."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from markupsafe import Markup

from service.errors import Invalid
from service.policy.loader import PolicyError, load_policy
from service.replay import report
from service.replay import service as replay_service
from service.replay.sources import InputError
from ui import charts, render
from ui.controllers.dashboard import LABELS
from ui.controllers.supervisor import supervisors_only
from ui.pages import context
from ui.security import runtime_of

MAX_UPLOAD = 50 * 1024 * 1024
HANDLING_MINUTES = 4.0
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class ReplayController(Controller):
    path = "/replay"
    guards = [supervisors_only]

    @get("/")
    async def show(self, request: Request[Any, Any, Any]) -> Response[str]:
        return render.page("replay.html", **await _form(request))

    @post("/", request_max_body_size=MAX_UPLOAD + 64 * 1024)
    async def run(self, request: Request[Any, Any, Any]) -> Response[str]:
        form = await request.form()
        folder = _folder(request)
        policies = _policies(request)
        candidate, baseline = str(form.get("policy") or ""), str(form.get("baseline") or "")
        if candidate not in policies or (baseline and baseline not in policies):
            raise Invalid("choose the policies from the list")
        upload = form.get("upload")
        if isinstance(upload, UploadFile) and upload.filename:
            name = await _save(upload, folder)
        else:
            name = str(form.get("sample") or "")
            if name not in _samples(folder):
                raise Invalid("upload a .jsonl file or pick one from the list")
        lanes = [(Path(candidate).stem, candidate)] + ([("baseline", baseline)] if baseline else [])
        try:
            loaded = [(label, load_policy(policies[p])) for label, p in lanes]
            comparison = await asyncio.to_thread(replay_service.compare_file, folder / name, loaded)
        except PolicyError as err:
            raise Invalid(f"the policy is invalid: {err}") from err
        except InputError as err:
            raise Invalid(f"{name}: {err}") from err
        result = report.to_json(comparison, HANDLING_MINUTES)
        ctx = await _form(request, chosen=name, policy=candidate, baseline=baseline)
        ctx |= {"result": result, "file": name, "charts": _charts(result)}
        return render.page("replay.html", **ctx)


async def _form(request: Request[Any, Any, Any], **chosen: str) -> dict[str, Any]:
    ctx = await context(request, "replay")
    live = runtime_of(request).policies.current.source
    return ctx | {
        "samples": _samples(_folder(request)),
        "policies": sorted(_policies(request)),
        "live": Path(live).name,
        "chosen": {"chosen": "", "policy": "", "baseline": ""} | chosen,
        "result": None,
    }


def _folder(request: Request[Any, Any, Any]) -> Path:
    folder = runtime_of(request).settings.state_dir / "replays"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _samples(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.jsonl"))


def _policies(request: Request[Any, Any, Any]) -> dict[str, Path]:
    live = Path(runtime_of(request).policies.current.source)
    found = {p.name: p for p in live.parent.glob("*.yaml")}
    found.update({f"examples/{p.name}": p for p in (live.parent / "examples").glob("*.yaml")})
    return found


async def _save(upload: UploadFile, folder: Path) -> str:
    stem = _SAFE_NAME.sub("-", Path(upload.filename).stem)[:60] or "upload"
    name = f"{stem}-{uuid.uuid4().hex[:6]}.jsonl"
    data = await upload.read()
    if len(data) > MAX_UPLOAD:
        raise Invalid("the file is larger than 50 MB; use `hitl replay` on the command line")
    await asyncio.to_thread((folder / name).write_bytes, data)
    return name


def _charts(result: dict[str, Any]) -> dict[str, Markup]:
    names = list(result["policies"])
    figures = list(result["policies"].values())
    actions = ["send", "review", "transfer"]
    triggers = sorted({t for f in figures for t in f["escalation"]["by_trigger"]})
    teams = sorted({t for f in figures for t in f["by_team"]})

    def per_policy(values: Any) -> list[charts.Series]:
        return [charts.Series(name, values(f)) for name, f in zip(names, figures, strict=True)]

    return {
        # Markup: built by our own code, every label escaped.
        "actions": Markup(
            charts.bars(
                actions,
                per_policy(lambda f: [100 * f["shares"][a] for a in actions]),
                stacked=False,
                unit="%",
                title="What each policy decides (share of turns)",
            )
        ),
        "triggers": Markup(
            charts.bars(
                [LABELS.get(t, t) for t in triggers],
                per_policy(
                    lambda f: [
                        100 * f["escalation"]["by_trigger"].get(t, {}).get("rate", 0)
                        for t in triggers
                    ]
                ),
                stacked=False,
                unit="%",
                title="Escalation rate by trigger type",
            )
        ),
        "teams": Markup(
            charts.bars(
                teams,
                per_policy(
                    lambda f: [
                        f["by_team"].get(t, {}).get("review", 0)
                        + f["by_team"].get(t, {}).get("transfer", 0)
                        for t in teams
                    ]
                ),
                stacked=False,
                title="Escalations per team",
            )
        ),
    }
