"""The scheduler picks up unfinished jobs by itself (durable jobs resume without anyone asking)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlmodel import col, select

import voice
from engine.runtime import Engine
from engine.scheduler import start_scheduler, stop_scheduler
from engine.store import JobRecord


async def _until_done(engine: Engine, job_id: str, timeout: float = 60.0) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        with engine.store.session() as s:
            job = s.get(JobRecord, job_id)
            assert job is not None
            if job.status != "running":
                return job.status
        await asyncio.sleep(0.2)
    return "timeout"


def _confirmed_but_not_run(engine: Engine) -> str:
    planned = asyncio.run(engine.ask("restart everything on vultr", session="sched"))
    assert planned.plan is not None
    _, job_id, _ = engine.ops.confirm_plan(engine.caller(), planned.plan["id"])
    return job_id


def test_scheduler_resumes_a_confirmed_job_on_sqlite(clawops_home: Path) -> None:
    engine = Engine.open(demo_pairs=60, demo_providers="sim")
    try:
        job_id = _confirmed_but_not_run(engine)

        async def scenario() -> str:
            scheduler = await start_scheduler(engine, scale=1 / 60)  # a minute becomes a second
            try:
                # the engine's voice settings and fleet words are its scheduler's, not the process's default
                mine = engine.scheduler.voice
                assert mine is not None and mine.vocabulary.startswith("ClawOps fleet on")
                assert voice.get_config().vocabulary != mine.vocabulary
                return await _until_done(engine, job_id)
            finally:
                await stop_scheduler(scheduler)

        assert asyncio.run(scenario()) == "succeeded"
    finally:
        engine.close()


def test_scheduler_works_on_postgresql(pg_url: str, clawops_home: Path) -> None:
    engine = Engine.open(database_url=pg_url, demo_pairs=40, demo_providers="sim")
    try:
        job_id = _confirmed_but_not_run(engine)

        async def scenario() -> str:
            scheduler = await start_scheduler(engine, scale=1 / 60)
            try:
                return await _until_done(engine, job_id)
            finally:
                await stop_scheduler(scheduler)

        assert asyncio.run(scenario()) == "succeeded"
        with engine.store.session() as s:
            assert s.exec(select(JobRecord).where(col(JobRecord.status) == "running")).first() is None
    finally:
        engine.close()
