"""Decision-gate benchmark: what the gate adds to an operator turn on a 10,000-instance fleet.

Run:  .venv/bin/python bench/bench_gate.py [--pairs 5000] [--turns 200]
Prints a table: metric | target | measured.  Not a test: machines here are shared and noisy, so numbers are
reported, never asserted.

The gate's own work is timed inside it (``Operations.gate.spent_seconds``, and ``spent_cpu_seconds``, the
same in CPU time, which a busy shared machine does not inflate: weighing each call with the turn
and the operator's rolling window, settling the turn, resolving the operator's words for ``--yes``) and
divided by the number of turns.  Turns are real offline-brain turns through ``Engine.ask`` — single small
restarts (first within the threshold, then over it once the window fills), compound two-call turns and
destructive one-user teardowns — so the window query runs against a growing plan table, as in a long session.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._table import print_table  # noqa: E402
from engine.runtime import Engine  # noqa: E402


def _messages(pairs: int, turns: int) -> list[str]:
    out = []
    for n in range(turns):
        a, b = 1 + (7 * n) % pairs, 1 + (7 * n + 3) % pairs
        kind = n % 3
        if kind == 0:
            out.append(f"restart the gateway on acct-{a:03d}")
        elif kind == 1:
            out.append(f"restart docker on acct-{a:03d} and restart the gateway on acct-{b:03d}")
        else:
            out.append(f"tear down acct-{a:03d}")
    return out


async def _run(engine: Engine, messages: list[str]) -> tuple[list[float], list[float], list[float]]:
    gate = engine.ops.gate
    gate_ms, gate_cpu_ms, turn_ms = [], [], []
    for message in messages:
        spent, cpu, started = gate.spent_seconds, gate.spent_cpu_seconds, time.perf_counter()
        await engine.ask(message)
        turn_ms.append((time.perf_counter() - started) * 1000)
        gate_ms.append((gate.spent_seconds - spent) * 1000)
        gate_cpu_ms.append((gate.spent_cpu_seconds - cpu) * 1000)
    return gate_ms, gate_cpu_ms, turn_ms


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(len(values) * 0.95) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5000, help="demo pairs (instances = 2 x pairs)")
    parser.add_argument("--turns", type=int, default=200)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CLAWOPS_HOME"] = tmp
        seeded = time.perf_counter()
        engine = Engine.open(demo_pairs=opts.pairs, demo_providers="sim")
        seed_s = time.perf_counter() - seeded
        try:
            gate_ms, gate_cpu_ms, turn_ms = asyncio.run(_run(engine, _messages(opts.pairs, opts.turns)))
            caller = engine.caller()
            words_ms = []
            for n in range(20):  # --yes grounding: the operator's words resolved against the fleet
                spent = engine.ops.gate.spent_seconds
                engine.ops.gate.words(
                    caller, [("restart", {"selector": {"accounts": [f"acct-{1 + n:03d}"]}, "component": "gateway"})]
                )
                words_ms.append((engine.ops.gate.spent_seconds - spent) * 1000)
        finally:
            engine.close()
    instances = opts.pairs * 2
    print_table(
        [
            ("fleet", "10,000 instances", f"{instances:,} instances (seeded in {seed_s:.1f} s)"),
            ("turns (offline brain, real store)", "-", f"{len(turn_ms)}"),
            ("gate time per turn, mean", "< 1 ms", f"{statistics.fmean(gate_ms):.3f} ms"),
            ("gate time per turn, p95", "< 1 ms", f"{_p95(gate_ms):.3f} ms"),
            ("gate CPU time per turn, mean", "< 1 ms", f"{statistics.fmean(gate_cpu_ms):.3f} ms"),
            ("gate CPU time per turn, p95", "< 1 ms", f"{_p95(gate_cpu_ms):.3f} ms"),
            ("whole turn, median (for scale)", "-", f"{statistics.median(turn_ms):.1f} ms"),
            ("--yes grounding of one account, mean", "-", f"{statistics.fmean(words_ms):.3f} ms"),
        ]
    )


if __name__ == "__main__":
    main()
