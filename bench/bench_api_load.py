"""Load on the operator API: many clients at once against the real daemon, through the decision gate.

Run:  .venv/bin/python bench/bench_api_load.py [--clients 50] [--turns 6] [--pairs 850]
Prints a table: metric | target | measured.  Not a test: numbers are reported, never asserted.

The daemon is the README's ``clawops engine`` (a separate process, the DEMO fleet on the in-process
simulator, its first-run owner key).  Each client is one operator session on loopback that sends a
realistic mix of turns to ``POST /v1/turns``: reads (fleet status, a provider's degraded instances, one
account), a plan that must wait for confirmation (a restart over the threshold), and a ``cancel``.  So
every turn passes the decision gate.  Each client restarts two accounts of its own, so one client's
restart is small enough to run, but all of them together are not: nothing is confirmed, so at most
``confirm_threshold`` (10) distinct users may be set off across all clients (checked), however the requests
interleave.  The fleet itself may still move meanwhile: Guardian sweeps the demo fleet on its own.
Every non-2xx answer, transport error or reply that says a turn crashed counts as an error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._table import print_table  # noqa: E402

TURNS = (
    "fleet status",
    "what's degraded on vultr?",
    "show acct-042",
    "restart the gateway on {first} and {second}",  # 2 users, different ones per client: small alone, not together
    "cancel",
    "how much are we spending this month?",
)
THRESHOLD = 10
ACCOUNT = re.compile(r"acct-\d+")


def _start_daemon(home: Path, pairs: int) -> tuple[subprocess.Popen[str], str, str]:
    env = {**os.environ, "CLAWOPS_HOME": str(home), "CLAWOPS_DEMO_PAIRS": str(pairs), "CLAWOPS_DEMO_PROVIDERS": "sim"}
    env = {
        k: v
        for k, v in env.items()
        if not k.startswith("CLAWOPS_") or k in ("CLAWOPS_HOME", "CLAWOPS_DEMO_PAIRS", "CLAWOPS_DEMO_PROVIDERS")
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "engine", "--port", "0"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise SystemExit(f"the daemon did not start: {url!r}")
    return proc, url, (home / "owner.key").read_text().strip()


async def _client(
    n: int, url: str, key: str, turns: int, latencies: list[float], errors: list[str], jobs: list[str]
) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120.0) as http:
        for t in range(turns):
            message = TURNS[(n + t) % len(TURNS)].format(first=f"acct-{2 * n + 1:03d}", second=f"acct-{2 * n + 2:03d}")
            started = time.perf_counter()
            try:
                answer = await http.post("/v1/turns", json={"message": message, "session": f"load-{n}"})
            except httpx.HTTPError as err:
                errors.append(f"{message}: {type(err).__name__}")
                continue
            latencies.append(time.perf_counter() - started)
            if answer.status_code >= 300:
                errors.append(f"{message}: HTTP {answer.status_code} {answer.text[:120]}")
            elif "crash" in answer.json().get("reply", "").lower():
                errors.append(f"{message}: {answer.json()['reply'][:120]}")
            elif answer.json().get("job"):
                jobs.append(message)


async def _run(url: str, key: str, clients: int, turns: int) -> tuple[list[float], list[str], list[str], float]:
    latencies: list[float] = []
    errors: list[str] = []
    jobs: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(*(_client(n, url, key, turns, latencies, errors, jobs) for n in range(clients)))
    return latencies, errors, jobs, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--turns", type=int, default=6, help="turns per client")
    parser.add_argument("--pairs", type=int, default=850)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, key = _start_daemon(Path(tmp), opts.pairs)
        try:
            latencies, errors, jobs, wall = asyncio.run(_run(url, key, opts.clients, opts.turns))
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    total = opts.clients * opts.turns
    set_off = {account for line in jobs for account in ACCOUNT.findall(line)}
    ordered = sorted(latencies) or [0.0]
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    print_table(
        [
            (f"turns from {opts.clients} concurrent clients ({opts.pairs} pairs)", "-", f"{total}"),
            ("errors (non-2xx, transport, crashed turns)", "0", f"{len(errors)}"),
            ("users set off without a confirmation", f"<= {THRESHOLD}", f"{len(set_off)} (in {len(jobs)} jobs)"),
            ("turn latency p50 / p95", "-", f"{statistics.median(ordered):.2f} s / {p95:.2f} s"),
            ("throughput", "-", f"{total / wall:.1f} turns/s over {wall:.1f} s"),
        ]
    )
    for line in errors[:5]:
        print("  error:", line)


if __name__ == "__main__":
    main()
