"""Brain benchmark: offline brain turn latency on a 10,000-instance fleet, and the eval pass rates.

Run:  .venv/bin/python bench/bench_brain.py [--skip-evals]
Seeds the demo fleet with 5,000 pairs (10,000 instances) into a temporary SQLite store, then measures:

- understanding: ``OfflineBrain.understand`` over every utterance of ``evals/utterances.jsonl`` (the brain's own
  cost, what the target is about: p99 < 20 ms);
- read turn: a whole conversation turn (brain + store query + reply) for status / inspect / filtered questions;
- plan turn: a whole turn that drafts a plan over the fleet (``--dry-run``, so the fleet does not change).

Wall time on a shared machine moves with its load; numbers are reported, never asserted.
Prints a table: metric | target | measured.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAIRS = 5000
TARGET_P99_MS = 20.0
READS = (
    "fleet status",
    "what's degraded on vultr?",
    "show acct-0042",
    "how many standbys in Nuremberg",
    "anything failed in the EU?",
    "tell me about i-acct-1234-p",
)
PLANS = ("restart everything degraded on vultr", "reboot acct-0042", "downsize the oversized ones on hetzner")


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _row(name: str, samples: list[float], target: str) -> tuple[str, str, str]:
    return (
        name,
        target,
        f"p50 {statistics.median(samples):.2f} ms · p99 {_pct(samples, 0.99):.2f} ms · n={len(samples)}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-evals", action="store_true")
    args = parser.parse_args()
    from engine.brain import OfflineBrain
    from engine.runtime import Engine
    from evals.utterances import load_cases, run_utterances

    rows: list[tuple[str, str, str]] = []
    brain = OfflineBrain()
    cases = [c.say for c in load_cases()]
    understand: list[float] = []
    for _ in range(5):
        for text in cases:
            start = time.perf_counter()
            brain.understand(text)
            understand.append((time.perf_counter() - start) * 1000)
    rows.append(_row("understand (all eval utterances)", understand, f"p99 < {TARGET_P99_MS:.0f} ms"))

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        engine = Engine.open(home=Path(tmp), demo_pairs=PAIRS, demo_providers="sim", anthropic_api_key=None)
        seeded = time.perf_counter() - started

        async def turns(messages: tuple[str, ...], rounds: int, dry_run: bool) -> list[float]:
            out = []
            for _ in range(rounds):
                for message in messages:
                    start = time.perf_counter()
                    await engine.ask(message, session="bench", dry_run=dry_run)
                    out.append((time.perf_counter() - start) * 1000)
            return out

        try:
            asyncio.run(turns(READS, 1, False))  # warm the store's caches; the first turn after seeding is cold
            reads = asyncio.run(turns(READS, 10, False))
            plans = asyncio.run(turns(PLANS, 5, True))
        finally:
            engine.close()
    rows.append(_row("read turn (warm), 10,000 instances", reads, "report"))
    rows.append(_row("plan turn (dry run), 10,000 instances", plans, "report"))
    rows.append(("seed 10,000-instance demo fleet", "report", f"{seeded:.1f} s"))
    if not args.skip_evals:
        report = run_utterances()
        rows.append(("eval utterances", ">= 95 %", f"{report.passed}/{report.total} ({100 * report.rate:.1f} %)"))
        rows.append(
            (
                "eval utterance safety",
                "100 %",
                f"{report.safety_passed}/{report.safety_total} ({100 * report.safety_rate:.1f} %)",
            )
        )
        rows.append(("eval scenarios", "see python -m evals", "run separately (end state + safety table)"))
    from bench._table import print_table

    print_table(rows)


if __name__ == "__main__":
    main()
