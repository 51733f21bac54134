"""Contact-centre load (issue 13): the everyday, escalation-heavy and desk mixes driven by wrk
(C, 2 threads, 16 connections) against `hitl serve`, beside the floors measured in the same run:
a bare Litestar endpoint served the same way that decodes the same body and does one INSERT
(bench/bare.py; again with the message encoded once, naively), and single-row asyncpg INSERTs
at 16 clients. Prints a table of throughput, p50/p95/p99, errors and the server's and worker's
CPU and memory, and writes a PNG of latency over time.

    .venv/bin/python bench/load.py [--seconds 15] [--workers 1] [--worker-processes 1]
                                   [--mixes everyday,escalation,desk] [--soak 0]

127.0.0.1 only; bounded (about 2 minutes at the defaults). wrk comes from apt (`make bench`
installs it). Uses HITL_DATABASE_URL / HITL_REDIS_URL if set, else embedded servers. The
default policy's webhooks go to a receiver in this process that answers 204 at once.
Each mix runs as back-to-back one-second wrk slices: each slice's 1,000 latency quantiles
(bench/common.lua) give the run's percentiles when merged, and the chart's points.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from receiver import policy_for, receiver  # noqa: E402
from turns import (  # noqa: E402
    free_port,
    fresh_database,
    load_floor,
    servers,
    service_env,
    stop_all,
    wait_ready,
)

PASSWORD = "bench password 42"
OUT = ROOT / ".hitl" / "bench"


@dataclass
class Slice:
    requests: int
    duration_us: int
    non2xx: int
    socket_errors: int
    q_us: list[int]


@dataclass
class Usage:
    """CPU (% of one core) and resident memory of a process tree, sampled while a mix runs."""

    cpu: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)


@dataclass
class Result:
    name: str
    slices: list[Slice]
    server: Usage
    worker: Usage

    @property
    def rate(self) -> float:
        return sum(s.requests for s in self.slices) / (
            sum(s.duration_us for s in self.slices) / 1e6
        )

    @property
    def errors(self) -> int:
        return sum(s.non2xx + s.socket_errors for s in self.slices)

    def percentile(self, p: float) -> float:
        """ms: each slice's quantiles stand for requests/1000 requests of that slice."""
        weighted = sorted(
            (q, s.requests / len(s.q_us)) for s in self.slices if s.requests for q in s.q_us
        )
        total, seen = sum(w for _, w in weighted), 0.0
        for value, weight in weighted:
            seen += weight
            if seen >= p / 100 * total:
                return value / 1000
        return weighted[-1][0] / 1000 if weighted else float("nan")


def wrk(script: str, url: str, env: dict[str, str], seconds: int) -> list[Slice]:
    slices = []
    for _ in range(seconds):
        done = subprocess.run(
            ["wrk", "-t2", "-c16", "-d1s", "--timeout", "10s", "-s", str(HERE / script), url],
            env=os.environ | env | {"BENCH_DIR": str(HERE)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        line = next((x for x in done.stdout.splitlines() if x.startswith("SLICE ")), None)
        if line is None:
            raise SystemExit(f"wrk failed: {done.stdout[-500:]} {done.stderr[-500:]}")
        if done.stderr.strip():
            print("  " + done.stderr.strip().splitlines()[0][:200])
        slices.append(Slice(**json.loads(line[6:])))
    return slices


class Sampler(threading.Thread):
    """Samples the CPU and memory of the server's and the worker's process trees every 0.5 s."""

    def __init__(self, server: int, workers: list[int]) -> None:
        super().__init__(daemon=True)
        self.server, self.workers = server, workers
        self.usage: tuple[Usage, Usage] = (Usage(), Usage())
        self.running = threading.Event()

    @staticmethod
    def _tree(pid: int) -> list[psutil.Process]:
        try:
            root = psutil.Process(pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def run(self) -> None:
        trees = [self._tree(self.server), [p for w in self.workers for p in self._tree(w)]]
        for proc in (p for tree in trees for p in tree):
            proc.cpu_percent(None)
        while True:
            time.sleep(0.5)
            if not self.running.is_set():
                continue
            for usage, tree in zip(self.usage, trees, strict=True):
                cpu = rss = 0.0
                for proc in tree:
                    try:
                        cpu += proc.cpu_percent(None)
                        rss += proc.memory_info().rss / 2**20
                    except psutil.NoSuchProcess:
                        pass
                usage.cpu.append(cpu)
                usage.rss_mb.append(rss)

    def measure(self) -> None:
        self.usage = (Usage(), Usage())
        self.running.set()

    def stop(self) -> tuple[Usage, Usage]:
        self.running.clear()
        return self.usage


def hitl(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "service", *args],
        env=env,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"hitl {' '.join(args)} failed: {done.stderr}")
    return done.stdout.strip()


async def push_probe(base: str, sms_key: str, cookie: str, stop: threading.Event) -> list[float]:
    """Live queue push latency: a held turn on sms (shorter budget: top of the queue) every
    0.5 s, timed from its POST to the first push over the queue's WebSocket that shows it."""
    from websockets.asyncio.client import connect

    seen: dict[str, float] = {}
    sent: dict[str, float] = {}
    url = base.replace("http://", "ws://") + "/ui/ws?view=queue"
    async with (
        connect(url, origin=base, additional_headers={"Cookie": cookie}) as socket,  # type: ignore[arg-type]
        httpx.AsyncClient(base_url=base, timeout=30) as http,
    ):

        async def listen() -> None:
            async for message in socket:
                now = time.perf_counter()
                for marker in re.findall(r"probe-[0-9a-f]{12}", str(message)):
                    seen.setdefault(marker, now)

        listener = asyncio.create_task(listen())
        while not stop.is_set():
            marker = f"probe-{uuid.uuid4().hex[:12]}"
            body = {
                "conversation_id": marker,
                "channel": "sms",
                "customer_id": marker,
                "message": "Can I move my appointment to Friday?",
                "draft": {"text": "Yes.", "confidence": 0.3, "intent": "probe"},
            }
            sent[marker] = time.perf_counter()
            await http.post("/v1/turns", json=body, headers={"Authorization": f"Bearer {sms_key}"})
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)
        listener.cancel()
    return [seen[m] - t for m, t in sent.items() if m in seen] + [
        float("inf") for m in sent if m not in seen
    ]


def sign_in(base: str, email: str) -> str:
    with httpx.Client(base_url=base) as client:
        page = client.get("/ui/login").text
        csrf = re.search(r'name="_csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        client.post("/ui/login", data={"_csrf": csrf, "email": email, "password": PASSWORD})
        return f"hitl_session={client.cookies.get('hitl_session')}"


def row(name: str, r: Result, floor: float | None) -> str:
    ratio = f"{r.rate / floor:5.2f}" if floor else "    —"
    server = f"{_mean(r.server.cpu):4.0f}% {max(r.server.rss_mb, default=0):5.0f} MB"
    worker = f"{_mean(r.worker.cpu):4.0f}% {max(r.worker.rss_mb, default=0):5.0f} MB"
    return (
        f"{name:<26} {r.rate:>8,.0f}/s {r.percentile(50):7.1f} {r.percentile(95):7.1f} "
        f"{r.percentile(99):7.1f} {r.errors:>6} {ratio}   {server}   {worker}"
    )


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def chart(results: list[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (lat, thr) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for r in results:
        xs = list(range(1, len(r.slices) + 1))
        p99 = [s.q_us[989] / 1000 for s in r.slices]
        p50 = [s.q_us[499] / 1000 for s in r.slices]
        (line,) = lat.plot(xs, p99, label=f"{r.name} p99")
        lat.plot(xs, p50, linestyle="--", color=line.get_color(), label=f"{r.name} p50")
        thr.plot(xs, [s.requests / (s.duration_us / 1e6) for s in r.slices], label=r.name)
    lat.axhline(50, color="grey", linewidth=0.8, linestyle=":", label="p99 target 50 ms")
    lat.set_ylabel("latency (ms)")
    lat.legend(fontsize=7, ncol=2)
    thr.set_ylabel("requests/s (log)")
    thr.set_yscale("log")
    thr.set_xlabel("second of the mix")
    thr.legend(fontsize=7)
    fig.suptitle("POST /v1/turns under load (wrk, 16 connections)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=1, help="`hitl serve --workers`")
    parser.add_argument("--worker-processes", type=int, default=1, help="`hitl worker` count")
    parser.add_argument("--mixes", default="everyday,escalation,desk")
    parser.add_argument("--soak", type=int, default=0, help="then the everyday mix for N s")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: `make bench` installs it (apt-get install wrk)")
    OUT.mkdir(parents=True, exist_ok=True)
    db_base, redis_url, embedded = servers()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        database_url = asyncio.run(fresh_database(db_base))
        port, bare_port = free_port(), free_port()
        # Webhooks (chat's transfers too) to a receiver answering 204, as a channel would.
        policy = policy_for(receiver(), OUT / "load-policy.yaml")
        env = service_env(database_url, redis_url, policy, port)
        hitl(env, "migrate")
        keys = {c: hitl(env, "keys", "create", c) for c in ("email", "chat", "sms")}
        tokens = []
        for n in range(4):
            email = f"desk{n}@example.com"
            hitl(env, "users", "create", email, "--team", "general", "--password-stdin",
                 stdin=PASSWORD + "\n")  # fmt: skip
            tokens.append(hitl(env, "users", "token", email))
        base = f"http://127.0.0.1:{port}"
        bare = f"http://127.0.0.1:{bare_port}"
        quiet: dict[str, Any] = {
            "stdout": subprocess.DEVNULL,
            "stderr": subprocess.DEVNULL,
            "cwd": ROOT,
        }
        uvicorn = [sys.executable, "-m", "uvicorn", "bench.bare:create_app", "--factory"]
        uvicorn += ["--port", str(bare_port), "--workers", str(args.workers), "--no-access-log"]
        print(f"{os.cpu_count()} cores; wrk -t2 -c16; {args.seconds} one-second slices per mix; "
              f"hitl serve --workers {args.workers}; {args.worker_processes} hitl worker")  # fmt: skip
        results: dict[str, Result] = {}
        floors: dict[str, float] = {}
        for encode in ("0", "1"):
            name = "bare endpoint" + (" + encode" if encode == "1" else "")
            proc = subprocess.Popen(
                uvicorn, env=env | {"BENCH_DATABASE_URL": database_url, "BENCH_ENCODE": encode},
                **quiet,  # type: ignore[arg-type]
            )  # fmt: skip
            wait_ready(f"{bare}/")
            sampler = Sampler(proc.pid, [])
            sampler.start()
            sampler.measure()
            slices = wrk("mix_everyday.lua", bare, {"BENCH_KEY": "-", "BENCH_RUN": encode},
                         args.seconds)  # fmt: skip
            results[name] = Result(name, slices, *sampler.stop())
            floors[name] = results[name].rate
            proc.terminate()
            proc.wait()
        inserts = asyncio.run(load_floor(database_url, 16, args.seconds))
        floors["asyncpg INSERT"] = len(inserts) / args.seconds

        serve = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--workers", str(args.workers)],
            env=env, **quiet,  # type: ignore[arg-type]
        )  # fmt: skip
        procs.append(serve)
        workers = [
            subprocess.Popen([sys.executable, "-m", "service", "worker"], env=env, **quiet)  # type: ignore[arg-type]
            for _ in range(args.worker_processes)
        ]
        procs += workers
        wait_ready(f"{base}/readyz")
        sampler = Sampler(serve.pid, [w.pid for w in workers])
        sampler.start()
        wrk("mix_everyday.lua", base, {"BENCH_KEY": keys["email"], "BENCH_RUN": "warm"}, 2)
        pushes: list[float] = []
        for mix in args.mixes.split(","):
            stop = threading.Event()
            probe = None
            if mix == "everyday":
                cookie = sign_in(base, "desk0@example.com")

                def run_probe(cookie: str = cookie, stop: threading.Event = stop) -> None:
                    pushes.extend(asyncio.run(push_probe(base, keys["sms"], cookie, stop)))

                probe = threading.Thread(target=run_probe, daemon=True)
                probe.start()
            mix_env = {
                "everyday": {"BENCH_KEY": keys["email"]},
                "escalation": {"BENCH_KEY": keys["chat"]},
                "desk": {"BENCH_TOKENS": ",".join(tokens)},
            }[mix] | {"BENCH_RUN": uuid.uuid4().hex[:6]}
            sampler.measure()
            slices = wrk(f"mix_{mix}.lua", base, mix_env, args.seconds)
            results[mix] = Result(mix, slices, *sampler.stop())
            if probe:
                stop.set()
                probe.join(30)
        if args.soak:
            sampler.measure()
            slices = wrk("mix_everyday.lua", base, {"BENCH_KEY": keys["email"]}, args.soak)
            results["soak"] = Result(f"everyday, {args.soak} s", slices, *sampler.stop())

        bare_rate = floors["bare endpoint"]
        print(f"\n{'':<26} {'rate':>10} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'errors':>6} "
              f"{'/bare':>5}   {'server CPU, RSS':<16}   worker CPU, RSS")  # fmt: skip
        for name, r in results.items():
            print(row(name, r, bare_rate if name != "bare endpoint" else None))
        print(f"{'asyncpg INSERT (16 clients)':<26} {floors['asyncpg INSERT']:>8,.0f}/s")
        targets = {"everyday": (0.5, 50), "escalation": (0.3, 50)}
        for mix, (ratio, p99) in targets.items():
            if mix in results:
                r = results[mix]
                print(f"{mix}: {r.rate / bare_rate:.2f} of the bare endpoint (target >= {ratio}), "
                      f"p99 {r.percentile(99):.1f} ms (target < {p99})")  # fmt: skip
        # With the semantic detector in the path, the issue measures against the bare endpoint
        # that also encodes each message once: the encoder alone is a tenth of bare's rate here.
        enc = floors["bare endpoint + encode"]
        for mix, (ratio, _) in targets.items():
            if mix in results:
                print(f"{mix}: {results[mix].rate / enc:.2f} of the bare endpoint that encodes "
                      f"each message (target >= {ratio})")  # fmt: skip
        if pushes:
            ordered = sorted(pushes)
            p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
            missed = sum(1 for p in pushes if p == float("inf"))
            print(f"live queue push under the everyday mix: p50 {ordered[len(ordered) // 2] * 1000:.0f} ms, "
                  f"p95 {p95 * 1000:.0f} ms over {len(pushes)} probes, {missed} never shown "
                  "(target p95 < 500 ms)")  # fmt: skip
        if "soak" in results:
            rss = results["soak"].server.rss_mb
            tenth = max(1, len(rss) // 10)
            start, end = _mean(rss[:tenth]), _mean(rss[-tenth:])
            print(f"soak: server memory {start:.0f} MB -> {end:.0f} MB "
                  f"({(end / start - 1) * 100:+.1f}%, target < +10%)")  # fmt: skip
        path = OUT / f"load-{time.strftime('%Y%m%d-%H%M%S')}.png"
        chart([r for n, r in results.items() if n != "soak"], path)
        print(f"latency over time: {path}")
    finally:
        stop_all(procs, embedded)


if __name__ == "__main__":
    main()
