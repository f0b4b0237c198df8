"""A job whose chat went away: the next embedded start resumes it at once and says so in its progress."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlmodel import col, select

from engine.client import EmbeddedClient
from engine.operations import JobProgress
from engine.runtime import Engine
from engine.store import JobStep, utcnow
from tests.engine_kit import sim_nodes


def test_the_next_chat_resumes_a_job_left_behind_and_tells_the_operator(clawops_home: Path) -> None:
    first = Engine.open(demo_pairs=30, demo_providers="sim")
    try:
        planned = asyncio.run(first.ask("restart everything on vultr", session="left"))
        assert planned.plan is not None
        _, job_id, _ = first.ops.confirm_plan(first.caller(), planned.plan["id"])
        with first.store.session() as s:  # the closed chat was killed mid-step: one step stuck "running"
            step = s.exec(select(JobStep).where(col(JobStep.job_id) == job_id)).first()
            assert step is not None
            step.status, step.updated_at = "running", utcnow() - timedelta(seconds=first.ops.step_lease_seconds + 1)
            s.add(step)
    finally:
        first.close()

    async def scenario() -> list[JobProgress]:
        engine = Engine.open(demo_pairs=30, demo_providers="sim")
        client = EmbeddedClient(engine, channel="tui", background_jobs=True)
        seen: list[JobProgress] = []
        try:

            async def follow() -> None:
                async for item in client.feed():
                    if isinstance(item, JobProgress) and item.job.id == job_id:
                        seen.append(item)
                        if item.job.finished:
                            return

            await asyncio.wait_for(follow(), timeout=120)
        finally:
            await engine.ops.wait_for_jobs()
            engine.close()
        return seen

    seen = asyncio.run(scenario())
    assert seen[0].job.resumed and seen[0].line.startswith("Resumed after an interruption.")
    assert seen[-1].job.status == "succeeded" and seen[-1].job.done == seen[-1].job.total


def test_a_job_a_chat_turn_waits_for_is_this_engines_and_never_resumed_beside_it(clawops_home: Path) -> None:
    """A Telegram/WhatsApp turn waits for the job it started, so its reply carries the result.  That job is one of
    this engine's running jobs like a background one: the scheduler's resume pass leaves it alone, so it has one
    runner and its progress never says "Resumed after an interruption"."""
    engine = Engine.open(demo_pairs=40, demo_providers="sim")
    engine.ops.background_jobs = True  # the daemon: jobs run in the background, channel turns wait for theirs
    sim_nodes(engine).latency = 0.2
    seen: list[JobProgress] = []
    try:

        async def scenario() -> tuple[str, list[str], int, list[str], int, str]:
            under_way = asyncio.Event()

            def listen(progress: JobProgress) -> None:
                seen.append(progress)
                under_way.set()

            engine.ops.add_progress_listener(listen)
            planned = await engine.ask("restart everything on vultr", session="chat")
            assert planned.plan is not None and planned.plan["requires_confirmation"]
            with engine.ops.jobs_in_foreground():  # as a channel turn runs it
                turn = asyncio.ensure_future(engine.ask("go", session="chat"))
            await asyncio.wait_for(under_way.wait(), timeout=60)
            job_id = seen[0].job.id
            running = engine.ops.running_jobs
            resumed = await engine.scheduler.resume_jobs()  # the daemon's pass, every 5 s
            running_after = engine.ops.running_jobs
            waiters = len(await asyncio.gather(engine.ops.run_job(job_id), engine.ops.run_job(job_id)))
            result = await turn
            assert result.job is not None
            return job_id, running, resumed, running_after, waiters, str(result.job["status"])

        job_id, running, resumed, running_after, waiters, status = asyncio.run(scenario())
    finally:
        engine.close()
    assert running == [job_id] and running_after == [job_id]  # the turn's runner is registered
    assert resumed == 0  # ...so the resume pass started no second one
    assert waiters == 2 and status == "succeeded"
    mine = [p for p in seen if p.job.id == job_id]
    assert mine and not any(p.job.resumed or p.line.startswith("Resumed") for p in mine)
    assert [p.job.status for p in mine].count("succeeded") == 1  # one runner: one final report
