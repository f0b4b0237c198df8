"""Ledger benchmark: cost_analysis waste + report over 10,000 instances with 90 days of snapshot history.

Run:  .venv/bin/python bench/bench_ledger.py [STORE_URL]
Seeds the demo fleet with 5,000 pairs into a temporary SQLite store (or an empty database by URL), records
today's cost snapshot and 89 earlier days derived from it (a fleet growing ~0.3 %/day), then times
``cost_analysis(kind="waste")`` + ``cost_analysis(kind="report")`` cold (first call) and warm (median of 5), and
the two from one read of the fleet (``cost_analyses``, what the 6-hourly Ledger run uses).  Wall time on a shared
machine moves with its load, so the process's CPU time is printed too.
Prints a table: metric | target | measured.  Not a test: numbers are reported, never asserted.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.store import Store

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAIRS = 5000
HISTORY_DAYS = 90
TARGET_WARM_S = 0.200


def seed_history(store: Store, today: date) -> int:
    """Today's snapshot by the real code, then 89 earlier days scaled down a little each day (bulk insert)."""
    from sqlalchemy import insert
    from sqlmodel import select

    from engine.ledger import record_daily_snapshot
    from engine.store import CostSnapshot

    record_daily_snapshot(store, today)
    with store.session() as s:
        base = [snap.model_dump() for snap in s.exec(select(CostSnapshot)).all()]
        rows = []
        for back in range(1, HISTORY_DAYS):
            day = (today - timedelta(days=back)).isoformat()
            scale = 1.0 / (1.003**back)
            for r in base:
                rows.append(
                    {
                        **r,
                        "day": day,
                        "instances": max(0, round(r["instances"] * scale)),
                        "monthly_eur": r["monthly_eur"] * scale,
                        "daily_eur": r["daily_eur"] * scale,
                    }
                )
        for start in range(0, len(rows), 5000):
            s.execute(insert(CostSnapshot), rows[start : start + 5000])
    return len(base) * HISTORY_DAYS


def main() -> None:
    from engine.config import Settings
    from engine.demo import seed_demo
    from engine.ledger import cost_analyses, cost_analysis, cost_analysis_text
    from engine.policy import Caller, Role
    from engine.store import open_store, utcnow

    with tempfile.TemporaryDirectory() as tmp:
        url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{Path(tmp) / 'bench.db'}"
        store = open_store(url)
        count = seed_demo(store, PAIRS, seed=42)
        now = utcnow()
        snapshots = seed_history(store, now.date())
        settings = Settings(home=Path(tmp))
        owner = Caller("op-owner", "owner", Role.OWNER)
        scoped = Caller("op-acme-ops", "acme-ops", Role.OPERATOR, tenant_id="demo-acme")

        cpu: list[float] = []

        def both(caller: Caller) -> tuple[float, dict[str, Any], dict[str, Any]]:
            t0, c0 = time.perf_counter(), time.process_time()
            with store.session() as s:
                waste = cost_analysis(s, caller, "waste", "month", settings, now=now)
                report = cost_analysis(s, caller, "report", "month", settings, now=now)
            cpu.append(time.process_time() - c0)
            return time.perf_counter() - t0, waste, report

        cold, waste, report = both(owner)
        warm = [both(owner)[0] for _ in range(5)]
        warm_cpu = statistics.median(cpu[1:])
        scoped_warm = [both(scoped)[0] for _ in range(3)]
        combined = []
        combined_cpu = []
        for _ in range(5):
            t0, c0 = time.perf_counter(), time.process_time()
            with store.session() as s:
                cost_analyses(s, owner, ("waste", "report"), "month", settings, now=now)
            combined.append(time.perf_counter() - t0)
            combined_cpu.append(time.process_time() - c0)
        t0 = time.perf_counter()
        with store.session() as s:
            forecast = cost_analysis(s, owner, "forecast", "month", settings, now=now)
        forecast_s = time.perf_counter() - t0
        store.dispose()

    rows = [
        ("store", "-", url.split(":", 1)[0]),
        ("instances", "10,000", f"{count:,}"),
        ("snapshot rows (90 days)", "-", f"{snapshots:,}"),
        ("waste + report, cold (first call)", "-", f"{cold * 1000:.0f} ms"),
        (
            "waste + report, warm (median of 5)",
            f"< {TARGET_WARM_S * 1000:.0f} ms",
            f"{statistics.median(warm) * 1000:.0f} ms",
        ),
        (
            "waste + report, warm, CPU time of this process",
            f"< {TARGET_WARM_S * 1000:.0f} ms",
            f"{warm_cpu * 1000:.0f} ms",
        ),
        (
            "waste + report in one read (cost_analyses), warm",
            f"< {TARGET_WARM_S * 1000:.0f} ms",
            f"{statistics.median(combined) * 1000:.0f} ms (CPU {statistics.median(combined_cpu) * 1000:.0f} ms)",
        ),
        ("waste + report, tenant-scoped, warm", "-", f"{statistics.median(scoped_warm) * 1000:.0f} ms"),
        ("forecast", "-", f"{forecast_s * 1000:.0f} ms"),
        (
            "findings: " + " / ".join(str(f["id"]) for f in waste["findings"]),
            "-",
            " / ".join(f"{f['count']:,}" for f in waste["findings"]),
        ),
    ]
    from bench._table import print_table

    print_table(rows)
    print("\n" + cost_analysis_text(report))
    print("\n" + cost_analysis_text(forecast))


if __name__ == "__main__":
    main()
