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
