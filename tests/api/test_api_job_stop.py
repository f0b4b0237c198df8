"""Jobs in the daemon: a job keeps running when the client that started it goes away, and another operator
stops it over the API at a safe step — nothing half-built, the reply says what was and was not done."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import col, select

from engine.api import RemoteClient
from engine.operations import _service
from engine.store import Instance
from tests.api.api_testkit import Daemon, Keys
from tests.engine_kit import sim_nodes


async def test_a_daemon_job_outlives_its_client_and_is_stopped_by_another(
    daemon: Daemon, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(_service.TOOL_CONCURRENCY, "provision_pairs", 2)
    engine = daemon.engine
    engine.ops.background_jobs = True  # as `clawops engine` runs it
    sim_nodes(engine).latency = 0.3
    alice = await asyncio.to_thread(RemoteClient, daemon.url, keys.alice)
    plan = await alice.ask("provision 12 standard pairs in the eu, hetzner primary, vultr standby", session="a")
    assert plan.plan is not None
    went = await alice.ask("go", session="a")
    assert went.job is not None and went.job["status"] == "running"
    job_id = str(went.job["id"])
    alice.close()  # the client goes away; the job is the daemon's
    for _ in range(400):
        if engine.ops.job_view(job_id).done >= 1:
            break
        await asyncio.sleep(0.05)
    assert engine.ops.job_view(job_id).status == "running"
    bob = await asyncio.to_thread(RemoteClient, daemon.url, keys.bob)
    try:
        stopped = await bob.ask(f"stop job {job_id}")
        (call,) = stopped.tool_calls
        assert call.tool == "job_stop" and call.status == "done" and job_id in stopped.reply
        await engine.ops.wait_for_jobs()
        view = engine.ops.job_view(job_id)
        assert view.status == "stopped" and view.skipped >= 1 and view.done >= 1
        with engine.store.session() as s:
            stuck = list(
                s.exec(
                    select(Instance.id).where(
                        col(Instance.state).in_(("REQUESTED", "CREATING", "ERROR", "BOOTSTRAPPING"))
                    )
                ).all()
            )
        assert not stuck  # nothing half-built
        status = await bob.ask(f"job status {job_id}")
        assert "stopped" in status.reply and "not started" in status.reply
    finally:
        bob.close()
