"""Live job progress: a confirmed job reports counts per state, ETA and fastest-so-far while it runs.

The product's example end to end, as the chat runs it: "Provision 20 new standard-tier accounts, EU regions,
Hetzner primary" -> plan -> "Go." -> the turn returns at once, progress arrives on the feed and ends with all
20 pairs ACTIVE and 20 signed webhooks delivered.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlmodel import col, select

from engine.api import FeedItem, visible_to
from engine.api._wire import event_from_wire, event_to_wire
from engine.client import EmbeddedClient
from engine.operations import JobProgress, JobView
from engine.runtime import Engine
from engine.store import Instance, JobStep
from evals.stores import fresh_store
from tests.engine_kit import sim_nodes
from tests.ops.test_ops_webhooks import SECRET, Receiver

PAIRS = 30
EXAMPLE = "Provision 20 new standard-tier accounts, EU regions, Hetzner primary"


@pytest.fixture
def clawops_home(clawops_home: Path) -> Path:
    """The isolated home, with a new empty store already in it (migrated once per process: evals/stores.py)."""
    fresh_store(clawops_home / "clawops.db")
    return clawops_home


def test_the_example_runs_in_the_background_and_reports_progress_until_all_active(clawops_home: Path) -> None:
    receiver = Receiver()
    seen: list[JobProgress] = []

    async def scenario() -> tuple[dict[str, object] | None, list[object]]:
        runner = await receiver.start()
        engine = Engine.open(
            demo_pairs=PAIRS, demo_providers="sim", companion_webhook_url=receiver.url, companion_webhook_secret=SECRET
        )
        sim_nodes(engine).latency = 0.01  # node calls take time, so progress has something to report
        client = EmbeddedClient(engine, channel="tui", background_jobs=True)
        feed_items: list[object] = []

        async def follow() -> None:
            async for item in client.feed():
                feed_items.append(item)
                if isinstance(item, JobProgress):
                    seen.append(item)
                    if item.job.finished:
                        return

        try:
            follower = asyncio.ensure_future(follow())
            await asyncio.sleep(0)  # subscribed before anything runs
            planned = await client.ask(EXAMPLE, session="prov")
            assert planned.plan is not None and planned.plan["requires_confirmation"]
            went = await client.ask("Go.", session="prov")
            started = went.job
            assert started is not None and started["status"] == "running"  # the turn did not wait
            assert "progress follows" in went.reply
            await asyncio.wait_for(follower, timeout=120)
            return started, feed_items
        finally:
            await engine.ops.wait_for_jobs()
            engine.close()
            await runner.cleanup()

    started, feed_items = asyncio.run(scenario())
    assert started is not None
    final = seen[-1].job
    assert final.status == "succeeded" and final.done == final.total == 20 and final.failed == 0
    assert final.states == {"ACTIVE": 40}  # primaries and standbys of the 20 new pairs
    assert final.fastest_seconds is not None and final.eta_seconds is None
    assert "Forge done" in seen[-1].line and "40/40 ACTIVE" in seen[-1].line
    assert seen[0].job.id == final.id and len(seen) >= 2  # the start and the end at least, one job id
    assert all(later.job.done >= earlier.job.done for earlier, later in zip(seen, seen[1:], strict=False))
    assert seen[0].operator == "owner"
    # the two turns reached the feed as well, each once
    turns = [i for i in feed_items if isinstance(i, FeedItem)]
    assert [t.message for t in turns] == [EXAMPLE, "Go."]
    assert len(receiver.received) == 20 and all(r["ok"] for r in receiver.received)


def test_job_status_reads_eta_and_fastest_so_far(clawops_home: Path) -> None:
    engine = Engine.open(demo_pairs=PAIRS, demo_providers="sim")
    try:
        done = asyncio.run(engine.ask("provision 3 pairs, hetzner primary", yes=True))
        assert done.job is not None
        status = asyncio.run(engine.ask(f"job status {done.job['id']}")).tool_calls[0]
        assert status.status == "done"
        assert {"eta_seconds", "fastest_seconds", "elapsed_seconds"} <= set(status.result)
        assert status.result["fastest_seconds"] is not None
    finally:
        engine.close()


def test_a_foreground_job_reports_its_start_and_its_end(clawops_home: Path) -> None:
    """``clawops ask`` waits for its job; listeners still hear the first and the last report."""
    engine = Engine.open(demo_pairs=PAIRS, demo_providers="sim")
    reports: list[JobProgress] = []
    engine.ops.add_progress_listener(reports.append)
    try:
        result = asyncio.run(engine.ask("restart everything degraded", yes=True))
        assert result.job is not None and result.job["status"] == "succeeded"
    finally:
        engine.close()
    assert reports[0].job.status == "running" and reports[-1].job.status == "succeeded"
    assert reports[-1].job.done == result.job["total"]


def test_a_listener_that_raises_does_not_stop_the_job(clawops_home: Path) -> None:
    engine = Engine.open(demo_pairs=PAIRS, demo_providers="sim")

    def broken(progress: JobProgress) -> None:
        raise RuntimeError("listener bug")

    remove = engine.ops.add_progress_listener(broken)
    try:
        result = asyncio.run(engine.ask("restart everything degraded", yes=True))
        assert result.job is not None and result.job["status"] == "succeeded"
        remove()
        assert engine.ops._listeners == []
    finally:
        engine.close()


def test_progress_survives_the_wire_and_keeps_tenants_apart() -> None:
    view = JobView(
        "job-1", "pl-1", "provision_pairs", "running", 20, 4, 1, {"ACTIVE": 8, "CREATING": 12}, None, 30.0, 120.0, 12.5
    )
    progress = JobProgress(view, "alice", "acme")
    back = event_from_wire(event_to_wire(progress))
    assert isinstance(back, JobProgress)
    assert back.job == view and back.operator == "alice" and back.tenant == "acme"
    assert back.line == progress.line
    assert "4/20 steps done" in progress.line and "8/20 ACTIVE" in progress.line and "ETA 2 min" in progress.line
    # rule 6 on the feed: fleet-wide operators see everything, tenant operators only their own tenant
    assert visible_to(progress, None) and visible_to(progress, "acme") and not visible_to(progress, "globex")


def test_resume_waits_for_a_job_already_running_here(clawops_home: Path) -> None:
    """A background job and a resume (the scheduler's) never run the same job twice in one engine."""
    engine = Engine.open(demo_pairs=PAIRS, demo_providers="sim")
    engine.ops.background_jobs = True
    try:

        async def scenario() -> None:
            sim_nodes(engine).latency = 0.01
            went = await engine.ask("provision 2 pairs, hetzner primary", yes=True)
            assert went.job is not None and went.job["status"] == "running"
            views = await engine.ops.resume_unfinished()
            assert [v.status for v in views] == ["succeeded"]
            await engine.ops.wait_for_jobs()

        asyncio.run(scenario())
        with engine.store.session() as s:
            new = s.exec(select(Instance).where(col(Instance.account_id) > f"acct-{PAIRS:03d}")).all()
        assert len(new) == 4 and {i.state for i in new} == {"ACTIVE"}
        assert len(engine.drivers.sim.creates) == 4  # no second purchase
    finally:
        engine.close()


def test_channel_turns_wait_for_their_job_even_when_jobs_run_in_the_background(clawops_home: Path) -> None:
    """A Telegram/WhatsApp operator gets one reply: it must carry the job's result, not "started"."""
    engine = Engine.open(demo_pairs=PAIRS, demo_providers="sim")
    engine.ops.background_jobs = True
    try:

        async def scenario() -> tuple[dict[str, object] | None, dict[str, object] | None]:
            with engine.ops.jobs_in_foreground():
                waited = await engine.ask("restart everything degraded", yes=True)
            started = await engine.ask("provision 2 pairs, hetzner primary", yes=True)
            await engine.ops.wait_for_jobs()
            return waited.job, started.job

        waited, started = asyncio.run(scenario())
        assert waited is not None and waited["status"] == "succeeded"
        assert started is not None and started["status"] == "running"
    finally:
        engine.close()


def test_a_long_step_keeps_its_lease_so_no_other_engine_takes_it(clawops_home: Path) -> None:
    """A step longer than the lease (a new server waiting for its node) renews it; another engine keeps off.

    The lease is short but not tiny (renewed every quarter of it): on a busy machine a heartbeat may be a
    little late, never a whole lease late; the probes start once this engine holds the step.
    """
    lease = 1.0
    engine = Engine.open(demo_pairs=PAIRS, demo_providers="sim")
    other = Engine.open(demo_pairs=PAIRS, demo_providers="sim")  # a second engine on the same store
    engine.ops.step_lease_seconds = other.ops.step_lease_seconds = lease
    sim_nodes(engine).latency = 4 * lease  # each node call outlasts the lease four times
    try:

        async def scenario() -> tuple[list[bool], str]:
            planned = await engine.ask("restart everything degraded", session="l")
            assert planned.plan is not None and planned.plan["requires_confirmation"]
            caller = engine.caller(None, "cli")
            _, job_id, _ = engine.ops.confirm_plan(caller, planned.plan["id"])
            run = asyncio.ensure_future(engine.ops.run_job(job_id))

            def first_step() -> JobStep:
                with engine.store.session() as s:
                    return s.exec(select(JobStep).where(col(JobStep.job_id) == job_id, col(JobStep.seq) == 0)).one()

            while first_step().status != "running":  # this engine has claimed it
                await asyncio.sleep(0.02)
            step = first_step()
            taken = []
            for _ in range(3):
                await asyncio.sleep(lease * 1.1)  # each time past one lease period since the claim or last renewal
                taken.append(other.ops._claim(step.id))
            view = await run
            return taken, view.status

        taken, status = asyncio.run(scenario())
        assert taken == [False, False, False] and status == "succeeded"
        restarted = [c[0] for c in sim_nodes(engine).calls if c[1] == "clawops.restart_gateway"]
        assert len(restarted) == len(set(restarted))  # every step ran once: none was taken over
    finally:
        engine.close()
        other.close()


def test_the_chat_takes_over_a_step_a_killed_chat_left_running(clawops_home: Path) -> None:
    """A chat killed mid-step leaves the step "running"; the next chat resumes the job, and once the step's
    lease has run out, takes it over and finishes the job (no daemon needed)."""
    engine = Engine.open(demo_pairs=PAIRS, demo_providers="sim")
    engine.ops.step_lease_seconds = 0.3
    try:
        planned = asyncio.run(engine.ask("restart everything degraded", session="k"))
        assert planned.plan is not None
        _, job_id, _ = engine.ops.confirm_plan(engine.caller(None, "cli"), planned.plan["id"])
        with engine.store.session() as s:  # the killed chat had claimed the first step
            step = s.exec(select(JobStep).where(col(JobStep.job_id) == job_id, col(JobStep.seq) == 0)).one()
            step.status, step.attempts = "running", 1
            s.add(step)
        client = EmbeddedClient(engine, channel="tui", background_jobs=True)

        async def watch() -> JobProgress:
            async for item in client.feed():
                if isinstance(item, JobProgress) and item.job.id == job_id and item.job.finished:
                    return item
            raise AssertionError("the feed ended")

        final = asyncio.run(asyncio.wait_for(watch(), timeout=60))
        assert final.job.status == "succeeded" and final.job.done == final.job.total
        with engine.store.session() as s:
            step = s.exec(select(JobStep).where(col(JobStep.job_id) == job_id, col(JobStep.seq) == 0)).one()
        assert step.status == "done" and step.attempts == 2  # taken over once its lease ran out
    finally:
        asyncio.run(engine.ops.wait_for_jobs())
        engine.close()


def test_a_background_job_that_crashes_says_so_and_resumes_cleanly(
    clawops_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine.open(demo_pairs=PAIRS, demo_providers="sim")
    engine.ops.background_jobs = True
    reports: list[JobProgress] = []
    engine.ops.add_progress_listener(reports.append)
    try:
        original = engine.ops._finish_job

        def broken(job_id: str) -> JobView:
            raise RuntimeError("a bug")

        async def scenario() -> str:
            monkeypatch.setattr(engine.ops, "_finish_job", broken)
            went = await engine.ask("restart everything degraded", yes=True)
            assert went.job is not None
            with pytest.raises(RuntimeError):
                await engine.ops.wait_for_jobs()
            return str(went.job["id"])

        job_id = asyncio.run(scenario())
        last = reports[-1]
        assert last.job.id == job_id and "stopped by an unexpected error (RuntimeError)" in last.line
        monkeypatch.setattr(engine.ops, "_finish_job", original)
        engine.ops.background_jobs = False
        (view,) = asyncio.run(engine.ops.resume_unfinished())
        assert view.status == "succeeded" and view.error is None
    finally:
        engine.close()
