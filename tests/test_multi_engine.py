"""Several engines on one PostgreSQL store: every job step runs exactly once (issue 4, "several engines")."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from sqlmodel import col, select

from engine.runtime import Engine
from engine.store import AuditEntry, JobStep

WORKER = """
import asyncio, sys
from engine.runtime import Engine
engine = Engine.open(database_url=sys.argv[1], demo_providers="sim", demo_pairs=200)
engine.nodes.latency = 0.01
view = asyncio.run(engine.ops.run_job(sys.argv[2]))
print(view.status, flush=True)
engine.close()
"""


def test_two_engines_share_a_job_and_never_run_a_step_twice(pg_url: str, clawops_home: Path, tmp_path: Path) -> None:
    engine = Engine.open(database_url=pg_url, demo_providers="sim", demo_pairs=200)
    try:
        planned = asyncio.run(engine.ask("restart everything on hetzner", session="multi"))
        assert planned.plan is not None and planned.plan["requires_confirmation"]
        _, job_id, _ = engine.ops.confirm_plan(engine.caller(), planned.plan["id"])
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLAWOPS_")}
        procs = []
        for n in range(3):
            env_n = {**env, "CLAWOPS_HOME": str(tmp_path / f"engine{n}")}
            procs.append(subprocess.Popen([sys.executable, "-c", WORKER, pg_url, job_id], env=env_n, text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          cwd=Path(__file__).resolve().parents[1]))
        outputs = [p.communicate(timeout=180) for p in procs]
        assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outputs]
        with engine.store.session() as s:
            steps = list(s.exec(select(JobStep).where(col(JobStep.job_id) == job_id)).all())
            runs = Counter(s.exec(select(AuditEntry.target).where(col(AuditEntry.action) == "restart_gateway")).all())
        assert len(steps) > 50
        assert {st.status for st in steps} == {"done"}
        assert all(st.attempts == 1 for st in steps)
        assert set(runs.values()) == {1} and len(runs) == len(steps)  # each step ran once, across all engines
        assert "succeeded" in {o[0].strip() for o in outputs}
    finally:
        engine.close()
