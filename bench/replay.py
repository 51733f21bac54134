"""Turns per second replayed from a file on one core, and the projected time for 1,000,000 turns.

Measures the whole of `hitl replay FILE` but printing: reading and validating the file, sorting
by time, rebuilding state, the engine on every turn, and the comparison figures. Runs on a
synthetic file (generated into a temporary folder) and on ../shared/data/conversations.jsonl
converted on the fly (customer turns as turns, deterministic drafts and confidences).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.policy import sentiment  # noqa: E402
from service.policy.loader import load_policy  # noqa: E402
from service.replay import report, synthetic  # noqa: E402
from service.replay.compare import Tally, compare  # noqa: E402
from service.replay.runner import Lane, collector_paused, replay  # noqa: E402
from service.replay.sources import read_file  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "conversations.jsonl"


def write(path: Path, conversations: object) -> int:
    turns = 0
    with path.open("w", encoding="utf-8") as handle:
        for conversation in conversations:  # type: ignore[attr-defined]
            turns += len(conversation["turns"])
            handle.write(json.dumps(conversation) + "\n")
    return turns


def _copies(conversations: list[dict[str, Any]], times: int) -> Iterator[dict[str, Any]]:
    for copy in range(times):
        shift = timedelta(days=31 * copy)
        for c in conversations:
            turns = [
                t | {"at": (datetime.fromisoformat(t["at"]) + shift).isoformat()}
                for t in c["turns"]
            ]
            yield c | {
                "conversation_id": f"{c['conversation_id']}-{copy}",
                "customer_id": f"{c['customer_id']}-{copy}",
                "turns": turns,
            }


def measure(path: Path, policies: list[Path]) -> dict[str, float]:
    """One full replay; CPU seconds (this process, so one core) and wall seconds per phase."""
    sentiment.score.cache_clear()  # no help from an earlier run
    gc.collect()
    lanes = [Lane(p.stem + str(i), load_policy(p)) for i, p in enumerate(policies)]
    tallies = [Tally(lane.name) for lane in lanes]
    with collector_paused():  # as `hitl replay` does
        cpu0, wall0 = time.process_time(), time.perf_counter()
        events = read_file(path)
        cpu1 = time.process_time()
        comparison = compare(replay(events, lanes), tallies)
        report.to_json(comparison, 4.0)
        cpu2, wall2 = time.process_time(), time.perf_counter()
    return {
        "turns": tallies[0].turns,
        "read_cpu": cpu1 - cpu0,
        "replay_cpu": cpu2 - cpu1,
        "cpu": cpu2 - cpu0,
        "wall": wall2 - wall0,
        "escalated": 1 - tallies[0].actions["send"] / max(1, tallies[0].turns),
    }


def show(label: str, m: dict[str, float]) -> None:
    rate = m["turns"] / m["cpu"]
    print(
        f"{label}: {m['turns']:,.0f} turns in {m['cpu']:.2f} CPU-s "
        f"(read {m['read_cpu']:.2f} s, replay {m['replay_cpu']:.2f} s; wall {m['wall']:.2f} s)\n"
        f"  {rate:,.0f} turns/s per core (wall-clock {m['turns'] / m['wall']:,.0f}/s); "
        f"1,000,000 turns: {1_000_000 / rate:.0f} s; escalated {m['escalated']:.1%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200_000, help="size of the synthetic file")
    parser.add_argument("--policy", type=Path, default=ROOT / "policies" / "default.yaml")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=ROOT / "policies" / "examples" / "cautious-retail.yaml",
        help="a second policy with its own window and channels (so its own state)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        synthetic_file = Path(tmp) / "synthetic.jsonl"
        made = write(synthetic_file, synthetic.generate(args.turns))
        print(f"synthetic file: {made:,} turns, {synthetic_file.stat().st_size / 1e6:.0f} MB")
        show("one policy", measure(synthetic_file, [args.policy]))
        # The usual question: the same policy with a stricter threshold (state shared).
        stricter = Path(tmp) / "stricter.yaml"
        stricter.write_text(args.policy.read_text().replace("threshold: 0.7", "threshold: 0.8", 1))
        show("policy + stricter copy", measure(synthetic_file, [stricter, args.policy]))
        show(
            f"policy + {args.baseline.name}", measure(synthetic_file, [args.policy, args.baseline])
        )
        if DATA.exists():
            threads = [json.loads(line) for line in DATA.open(encoding="utf-8")]
            converted = Path(tmp) / "conversations.jsonl"
            write(converted, synthetic.from_threads(threads))
            show("conversations.jsonl (real text), one policy", measure(converted, [args.policy]))
            # 1,050 turns are over too soon to time well: the same threads, copied for
            # other customers a month apart each time.
            copies = Path(tmp) / "conversations-x40.jsonl"
            write(copies, _copies(list(synthetic.from_threads(threads)), 40))
            show(
                "conversations.jsonl x40 (real text; repeated messages hit the sentiment cache)",
                measure(copies, [args.policy]),
            )


if __name__ == "__main__":
    main()
