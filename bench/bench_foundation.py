"""Foundation benchmarks: `clawops ask` cold and warm, and seeding a 10,000-instance fleet.

Run:  .venv/bin/python bench/bench_foundation.py
Prints a table: metric | target | measured.  Not a test: machines here are
shared and noisy, so numbers are reported, never asserted.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAWOPS_")}
    env["CLAWOPS_HOME"] = str(home)
    return env


def cold_ask(home: Path, runs: int = 5) -> tuple[float, float]:
    """First run (creates and seeds the store) and the median of later cold processes."""
    cmd = [sys.executable, "-m", "app.cli", "ask", "--json", "fleet status"]
    start = time.perf_counter()
    subprocess.run(cmd, env=_env(home), cwd=ROOT, check=True, capture_output=True)
    first = time.perf_counter() - start
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=_env(home), cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return first, statistics.median(times)


def warm_turns(home: Path, turns: int = 300) -> tuple[float, float]:
    from engine.runtime import Engine

    os.environ["CLAWOPS_HOME"] = str(home)
    engine = Engine.open()
    latencies = []
    messages = ["fleet status", "what's degraded on hetzner?", "show acct-042"]

    async def run() -> None:
        for i in range(turns):
            start = time.perf_counter()
            await engine.ask(messages[i % len(messages)])
            latencies.append((time.perf_counter() - start) * 1000)

    asyncio.run(run())
    engine.close()
    latencies.sort()
    return statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]


def seed_10k(home: Path) -> float:
    from engine.demo import seed_demo
    from engine.store import open_store

    store = open_store(f"sqlite:///{home / 'seed10k.db'}")
    start = time.perf_counter()
    count = seed_demo(store, pairs=5000, seed=1)
    elapsed = time.perf_counter() - start
    store.dispose()
    assert count == 10_000
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        first, cold = cold_ask(home / "ask")
        p50, p99 = warm_turns(home / "ask")
        seed = seed_10k(home)
    rows = [
        ("ask --json 'fleet status', first run (creates + seeds 850 pairs)", "-", f"{first:.2f} s"),
        ("ask --json 'fleet status', cold process (median of 5)", "< 2 s", f"{cold:.2f} s"),
        ("warm turn latency p50 (in-process, 850 pairs)", "-", f"{p50:.1f} ms"),
        ("warm turn latency p99 (in-process, 850 pairs)", "< 50 ms", f"{p99:.1f} ms"),
        ("seed 10,000 instances into SQLite", "< 5 s", f"{seed:.2f} s"),
    ]
    from bench._table import print_table

    print_table(rows)


if __name__ == "__main__":
    main()
