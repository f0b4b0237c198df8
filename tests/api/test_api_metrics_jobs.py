"""/metrics reads a running job's progress from its steps, not from the record that is final only at its end."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlmodel import col, select

from engine.api._metrics import ApiStats, render_metrics
from engine.runtime import Engine
from engine.store import JobStep


def test_job_progress_metric_counts_finished_steps_while_the_job_runs(clawops_home: Path) -> None:
    engine = Engine.open(demo_pairs=30, demo_providers="sim")
    try:
        planned = asyncio.run(engine.ask("restart everything degraded", session="m"))
        assert planned.plan is not None
        caller = engine.caller(None, "cli")
        _, job_id, _ = engine.ops.confirm_plan(caller, planned.plan["id"])  # a job created, not run yet
        with engine.store.session() as s:
            steps = list(s.exec(select(JobStep).where(col(JobStep.job_id) == job_id).order_by(col(JobStep.seq))).all())
            steps[0].status = "done"
            steps[1].status = "failed"
            s.add(steps[0])
            s.add(steps[1])
        text = render_metrics(engine, ApiStats(), 0)
    finally:
        engine.close()
    total = len(steps)
    ratio_line = next(
        line for line in text.splitlines() if line.startswith("clawops_job_progress_ratio") and job_id in line
    )
    assert float(ratio_line.rsplit(" ", 1)[1]) == 2 / total
    assert 'clawops_active_job_steps{status="done"} 1' in text
    assert f'clawops_active_job_steps{{status="total"}} {total}' in text
