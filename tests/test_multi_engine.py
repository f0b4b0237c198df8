"""Several engines on one PostgreSQL store: every job step runs exactly once (issue 4, "several engines")."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from sqlmodel import col, select

from engine import audit
from engine.events import FeedItem
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
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", WORKER, pg_url, job_id],
                    env=env_n,
                    text=True,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    cwd=Path(__file__).resolve().parents[1],
                )
            )
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


KILLED_WORKER = """
import asyncio, sys
from engine.runtime import Engine
engine = Engine.open(database_url=sys.argv[1], demo_providers="sim", demo_pairs=40)
engine.nodes.latency = 0.3
engine.ops.step_lease_seconds = float(sys.argv[3])
print("started", flush=True)
asyncio.run(engine.ops.run_job(sys.argv[2]))
"""


def test_a_killed_engines_job_is_taken_over_by_the_survivor_exactly_once(
    pg_url: str, clawops_home: Path, tmp_path: Path
) -> None:
    """kill -9 of the engine running a job: its steps' leases stop being renewed, the survivor takes them over
    once a lease runs out (12 s by default; 2 s here) and finishes the job; no step runs twice to completion."""
    import signal
    import time

    lease = 2.0
    engine = Engine.open(database_url=pg_url, demo_providers="sim", demo_pairs=40)
    engine.ops.step_lease_seconds = lease
    try:
        planned = asyncio.run(engine.ask("restart everything on hetzner", session="kill"))
        assert planned.plan is not None
        _, job_id, _ = engine.ops.confirm_plan(engine.caller(), planned.plan["id"])
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLAWOPS_")}
        env["CLAWOPS_HOME"] = str(tmp_path / "doomed")
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_WORKER, pg_url, job_id, str(lease)],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=Path(__file__).resolve().parents[1],
        )
        try:
            deadline = time.monotonic() + 120
            while True:  # the doomed engine has steps under way (a subprocess: its progress is read from the store)
                with engine.store.session() as s:
                    running = s.exec(
                        select(JobStep).where(col(JobStep.job_id) == job_id, col(JobStep.status) == "running")
                    ).first()
                if running is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert running is not None, (
                (proc.stderr.read() if proc.stderr else "") if proc.poll() is not None else "no step started"
            )
            # while it is alive, its heartbeat keeps its steps: a resume here takes over nothing it holds
            taken = engine.ops._claim(running.id)
            assert not taken
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        view = asyncio.run(engine.ops.resume_unfinished())
        while engine.ops.job_view(job_id).status == "running":  # steps whose lease had not yet run out
            time.sleep(lease / 4)
            view = asyncio.run(engine.ops.resume_unfinished())
        assert engine.ops.job_view(job_id).status == "succeeded", view
        with engine.store.session() as s:
            steps = list(s.exec(select(JobStep).where(col(JobStep.job_id) == job_id)).all())
            runs = Counter(s.exec(select(AuditEntry.target).where(col(AuditEntry.action) == "restart_gateway")).all())
        assert {st.status for st in steps} == {"done"}
        assert set(runs.values()) == {1} and len(runs) == len(steps)  # every step finished exactly once
        assert any(st.attempts == 2 for st in steps)  # the dead engine's steps were taken over
    finally:
        engine.close()


def test_two_engines_in_one_process_share_no_state(clawops_home: Path, tmp_path: Path) -> None:
    """Everything an engine keeps between calls is its own: schedules, Guardian and who hears it, briefing runs
    and their lock, status-page reads, archive clients, its channels, its feed, its login throttle and its
    store's audit head hint (no process-wide globals but the logger)."""
    one = Engine.open(demo_providers="sim", demo_pairs=4)
    two = Engine.open(demo_providers="sim", demo_pairs=4, database_url=f"sqlite:///{tmp_path / 'two.db'}")
    try:
        first, second = one.scheduler, two.scheduler
        assert first is not second and first.engine is one and second.engine is two
        assert first.briefing_lock is not second.briefing_lock
        first.register("probe", first.resume_jobs, first.schedules[0][2])
        assert "probe" in {s[0] for s in first.schedules} and "probe" not in {s[0] for s in second.schedules}
        heard_one: list[str] = []
        heard_two: list[str] = []
        first.on_guardian_message(heard_one.append)
        second.on_guardian_message(heard_two.append)
        asyncio.run(first._guardian_notify("acct-001 escalated"))
        assert heard_one == ["acct-001 escalated"] and heard_two == []
        assert first.guardian() is first.guardian() and first.guardian() is not second.guardian()
        runs: list[object] = []
        second.on_briefing_run(runs.append)
        asyncio.run(first.briefing_ran("a run of engine one"))
        assert runs == []
        assert one.ops.status_pages is not two.ops.status_pages
        assert one.ops._steps.archive_clients is not two.ops._steps.archive_clients
        # the channels and the feed: what one engine's daemon starts or publishes, the other never sees
        one.channel_hub.mark_down("telegram", "engine one's token is wrong")
        assert one.channel_hub is one.channel_hub and one.channel_hub is not two.channel_hub
        assert "telegram" not in two.channel_hub.down and two.channel_hub.store is two.store
        assert one.feed is not two.feed

        async def publish_on_one() -> tuple[list[object], list[object]]:
            async with one.feed.subscribe() as on_one, two.feed.subscribe() as on_two:
                one.feed.publish(FeedItem(operator="owner", channel="cli", session=None, message="hi", reply="hello"))
                return [on_one.get_nowait()], [on_two.get_nowait() for _ in range(on_two.qsize())]

        heard_on_one, heard_on_two = asyncio.run(publish_on_one())
        assert [getattr(item, "reply", None) for item in heard_on_one] == ["hello"] and heard_on_two == []
        assert two.feed.published == 0
        # failed logins: throttling one engine's callers leaves the other's alone
        assert one.trust.throttle is not two.trust.throttle
        for _ in range(10):
            one.trust.throttle.failed("hard", "api:203.0.113.9")
        assert one.trust.throttle.empty("hard", "api:203.0.113.9")
        assert not two.trust.throttle.empty("hard", "api:203.0.113.9")
        # the audit chain's head hint: each store keeps the last link it wrote
        with one.store.session() as s:
            audit.append(s, actor="owner", action="probe.one")
        head_one = one.store.audit_head
        with two.store.session() as s:
            audit.append(s, actor="owner", action="probe.two")
        assert head_one is not None and one.store.audit_head == head_one
        assert two.store.audit_head is not None and two.store.audit_head != head_one
        assert audit.verify(one.store).ok and audit.verify(two.store).ok
    finally:
        one.close()
        two.close()
