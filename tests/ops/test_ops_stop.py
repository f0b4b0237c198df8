"""Stopping a job (supporting tool ``job_stop``): at the next safe step boundary, nothing half-bought or orphaned.

The operator says "stop that" in the middle of a provisioning: pairs whose servers were already bought are
finished (a pair is never left half-built), pairs not started are never bought and their accounts removed, the
job ends ``stopped`` with a note saying what was done and what was not, and both the request and the end are in
the audit log.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from engine.operations import JobProgress, _service
from engine.providers.sim import SimDriver
from engine.runtime import Engine
from engine.store import Account, AuditEntry, Instance, JobRecord, JobStep
from tests.engine_kit import sim_nodes

PROVIDERS = ("hetzner", "vultr", "digitalocean", "contabo", "hostinger")


def _sim_servers(engine: Engine) -> dict[str, str]:
    """Every server the (simulated) providers hold that a job created: instance id -> server id."""
    drivers = {id(d): d for d in (engine.ops._drivers(p) for p in PROVIDERS)}
    out: dict[str, str] = {}
    for driver in drivers.values():
        assert isinstance(driver, SimDriver)
        out.update({info.instance_id: info.server_id for info in driver._servers.values() if info.instance_id})
    return out


@pytest.fixture
def slow_provisioning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(_service.TOOL_CONCURRENCY, "provision_pairs", 2)  # pairs start two at a time


def test_stop_in_the_middle_of_provisioning_leaves_no_orphans(clawops_home: Path, slow_provisioning: None) -> None:
    async def scenario() -> tuple[Engine, str, Any, Any]:
        engine = Engine.open(demo_pairs=20, demo_providers="sim")
        sim_nodes(engine).latency = 0.3  # each pair takes a while: a stop lands while most have not started
        engine.ops.background_jobs = True
        two_done = asyncio.Event()

        def listen(progress: JobProgress) -> None:
            if progress.job.done >= 2:
                two_done.set()

        engine.ops.add_progress_listener(listen)
        planned = await engine.ask(
            "provision 12 standard pairs in the eu, hetzner primary, vultr standby", session="stop"
        )
        assert planned.plan is not None and planned.plan["requires_confirmation"]
        went = await engine.ask("go", session="stop")
        assert went.job is not None and went.job["status"] == "running"
        await asyncio.wait_for(two_done.wait(), timeout=60)
        stopped = await engine.ask("stop that", session="stop")
        await engine.ops.wait_for_jobs()
        return engine, str(went.job["id"]), stopped, engine.ops.job_view(str(went.job["id"]))

    engine, job_id, stopped, view = asyncio.run(scenario())
    try:
        call = stopped.tool_calls[0]
        assert call.tool == "job_stop" and call.status == "done" and call.args == {"job_id": job_id}
        assert "Stop" in stopped.reply and job_id in stopped.reply
        assert view.status == "stopped" and view.finished
        assert view.done >= 2 and view.skipped >= 1 and view.done + view.skipped == view.total
        assert view.error is not None and "not started" in view.error and "nothing bought" in view.error
        with engine.store.session() as s:
            steps = list(s.exec(select(JobStep).where(col(JobStep.job_id) == job_id)).all())
            done_instances = [st.instance_id for st in steps if st.status == "done"]
            new = list(
                s.exec(
                    select(Instance).where(
                        col(Instance.provider_server_id).is_not(None), col(Instance.id).like("i-acct-%")
                    )
                ).all()
            )
            left = list(
                s.exec(select(Instance).where(col(Instance.state).in_(("REQUESTED", "CREATING", "ERROR")))).all()
            )
            audit_actions = set(s.exec(select(AuditEntry.action).where(col(AuditEntry.target) == job_id)).all())
            job = s.get(JobRecord, job_id)
            assert job is not None and job.status == "stopped"
            skipped_accounts = [st.detail.split(" for ")[1].split(";")[0] for st in steps if st.status == "skipped"]
            assert all(s.get(Account, a) is None for a in skipped_accounts)  # never bought: not kept either
        assert not left  # nothing half-built: no instance stuck before ACTIVE
        assert len(skipped_accounts) == view.skipped
        servers = _sim_servers(engine)
        tracked = {i.id for i in new}
        assert set(servers) <= tracked  # 0 orphans: every server bought is in the store
        created_now = {iid for iid in servers if iid.startswith("i-acct-")}
        assert set(done_instances) <= created_now
        by_id = {i.id: i for i in new}
        assert all(by_id[iid].state == "ACTIVE" for iid in created_now)  # bought pairs were finished, both halves
        assert len(created_now) == 2 * view.done  # 0 duplicates, no half pair
        assert {"job.stop", "job.stopped"} <= audit_actions
    finally:
        engine.close()


def test_a_job_no_engine_is_running_stops_at_once(clawops_home: Path) -> None:
    engine = Engine.open(demo_pairs=20, demo_providers="sim")
    try:
        planned = asyncio.run(engine.ask("restart everything on hetzner", session="idle"))
        assert planned.plan is not None
        _, job_id, _ = engine.ops.confirm_plan(engine.caller(), planned.plan["id"])  # a chat that closed at once
        stopped = asyncio.run(engine.ask(f"stop job {job_id}", session="idle"))
        assert stopped.tool_calls[0].status == "done"
        view = engine.ops.job_view(job_id)
        assert view.status == "stopped" and view.done == 0 and view.skipped == view.total
        assert engine.ops.unfinished_jobs() == []
        again = asyncio.run(engine.ask(f"stop job {job_id}", session="idle"))
        assert again.tool_calls[0].status == "error" and "already stopped" in again.reply
    finally:
        engine.close()


def test_stop_without_a_running_job_says_so_and_changes_nothing(clawops_home: Path) -> None:
    engine = Engine.open(demo_pairs=20, demo_providers="sim")
    try:
        result = asyncio.run(engine.ask("stop the job", session="none"))
        assert result.tool_calls[0].tool == "job_stop" and result.tool_calls[0].status == "error"
        assert "nothing to stop" in result.reply
        unknown = asyncio.run(engine.ask("stop job job-0000beef", session="none"))
        assert unknown.tool_calls[0].status == "error" and "No job job-0000beef" in unknown.reply
    finally:
        engine.close()


def test_stop_that_with_several_jobs_running_asks_which_one_in_words(clawops_home: Path) -> None:
    """ "stop that" when two jobs run gets a question back naming each job in the operator's words (issue #18).

    A job named by its tool's identifier ("provision_pairs") tripped the reply's guard against internals, so the
    operator got "something on my side went wrong" instead of the question.
    """
    from engine.brain._answers import leaks

    engine = Engine.open(demo_pairs=40, demo_providers="sim")  # over ten users on vultr: the plans wait for a go
    try:
        caller = engine.caller()
        jobs = []
        for ask in (
            "restart everything on vultr",
            "provision 12 standard pairs in the eu, hetzner primary, vultr standby",
        ):
            planned = asyncio.run(engine.ask(ask, session="two"))
            assert planned.plan is not None and planned.plan["requires_confirmation"]
            jobs.append(engine.ops.confirm_plan(caller, planned.plan["id"])[1])  # running, as far as the store says
        restart_job, provision_job = jobs
        with engine.store.session() as s:
            restarts = len(s.exec(select(JobStep).where(col(JobStep.job_id) == restart_job)).all())

        for words in ("stop that", "stop the job"):
            result = asyncio.run(engine.ask(words, session="elsewhere"))
            call = result.tool_calls[0]
            assert call.tool == "job_stop" and call.status == "error"
            assert "2 jobs are running:" in result.reply and "say which one" in result.reply
            assert f"{restart_job} (restart {restarts} instances on vultr, 0/{restarts} done)" in result.reply
            assert f"{provision_job} (provision 12 pairs on hetzner + vultr in EU, 0/12 done)" in result.reply
            assert not leaks(result.reply) and "went wrong" not in result.reply
        assert {engine.ops.job_view(j).status for j in jobs} == {"running"}  # a question stops nothing

        chosen = asyncio.run(engine.ask(f"stop job {provision_job}", session="elsewhere"))
        assert chosen.tool_calls[0].status == "done" and engine.ops.job_view(provision_job).status == "stopped"
        assert engine.ops.job_view(restart_job).status == "running"
    finally:
        engine.close()
