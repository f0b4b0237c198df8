"""The operation layer end to end on a small demo fleet: reads, plan → confirm → job, isolation."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import col, select

from engine import audit
from engine.demo import build_demo_fleet
from engine.runtime import Engine
from engine.store import AuditEntry, Instance, JobRecord, JobStep, PlanRecord

PAIRS = 150


@pytest.fixture
def engine(clawops_home: Path) -> Engine:
    eng = Engine.open(demo_pairs=PAIRS)
    yield eng  # type: ignore[misc]
    eng.close()


def test_fleet_status_counts_come_from_the_store(engine: Engine) -> None:
    result = asyncio.run(engine.ask("fleet status"))
    status = result.tool_calls[0]
    assert status.tool == "fleet_status" and status.status == "done"
    _, _, rows = build_demo_fleet(PAIRS, engine.settings.demo_seed)
    expected = Counter(r["state"] for r in rows)
    assert status.result["by_state"] == {k: v for k, v in expected.items()}
    assert status.result["instances"] == 2 * PAIRS and status.result["accounts"] == PAIRS
    assert result.reply.startswith("[CMD] DEMO fleet: 300 instances")


def test_filtered_status_lists_only_matching_instances(engine: Engine) -> None:
    result = asyncio.run(engine.ask("what's degraded on vultr?"))
    status = result.tool_calls[0]
    assert status.args == {"provider": "vultr", "state": "DEGRADED"}
    assert status.result["problems"] and all(
        p["provider"] == "vultr" and p["state"] == "DEGRADED" for p in status.result["problems"]
    )


def test_inspect_shows_the_pair(engine: Engine) -> None:
    result = asyncio.run(engine.ask("show acct-042"))
    inst = result.tool_calls[0].result["instances"]
    assert [i["role"] for i in inst] == ["primary", "standby"]
    assert inst[0]["provider"] != inst[1]["provider"]  # a pair spans two providers


def test_unknown_target_is_a_clear_error_not_a_crash(engine: Engine) -> None:
    result = asyncio.run(engine.ask("show acct-999"))
    call = result.tool_calls[0]
    assert call.status == "error" and "No account acct-999 is visible to you" in call.message


def test_big_restart_waits_for_go_then_runs_as_a_job(engine: Engine) -> None:
    first = asyncio.run(engine.ask("restart everything on hetzner", session="s1"))
    plan = first.plan
    assert plan is not None and plan["requires_confirmation"] and plan["affected_users"] > 10
    assert first.tool_calls[0].status == "planned" and first.job is None
    with engine.store.session() as s:
        assert s.exec(select(JobRecord)).first() is None  # nothing ran
    second = asyncio.run(engine.ask("Go.", session="s1"))
    assert second.job is not None and second.job["status"] == "succeeded"
    with engine.store.session() as s:
        rec = s.get(PlanRecord, plan["id"])
        assert rec is not None
        assert second.job["done"] == second.job["total"] == len(rec.steps) > 10
    with engine.store.session() as s:
        rec = s.get(PlanRecord, plan["id"])
        assert rec is not None and rec.status == "confirmed" and rec.decided_by == "op-owner"
    assert audit.verify(engine.store).ok


def test_go_without_a_pending_plan_does_nothing(engine: Engine) -> None:
    result = asyncio.run(engine.ask("go", session="empty"))
    assert result.tool_calls == [] and "nothing waiting" in result.reply


def test_cancel_discards_the_plan(engine: Engine) -> None:
    asyncio.run(engine.ask("restart everything on hetzner", session="s2"))
    result = asyncio.run(engine.ask("cancel", session="s2"))
    assert "Cancelled plan" in result.reply
    assert "nothing waiting" in asyncio.run(engine.ask("go", session="s2")).reply


def test_small_restart_runs_at_once_and_heals_the_instance(engine: Engine) -> None:
    with engine.store.session() as s:
        degraded = s.exec(select(Instance).where(col(Instance.state) == "DEGRADED")).first()
        assert degraded is not None
    result = asyncio.run(engine.ask(f"restart the gateway on {degraded.account_id}"))
    assert result.tool_calls[0].status == "done" and result.job is not None
    with engine.store.session() as s:
        healed = s.get(Instance, degraded.id)
        assert healed is not None and healed.state == "ACTIVE"
    assert (degraded.id, "clawops.restart_gateway") in engine.nodes.calls


def test_dry_run_plans_but_never_acts(engine: Engine) -> None:
    result = asyncio.run(engine.ask("restart everything degraded on vultr", dry_run=True, yes=True))
    assert result.tool_calls[0].status == "planned" and result.job is None
    assert engine.nodes.calls == []


def test_yes_flag_confirms_from_the_operator(engine: Engine) -> None:
    result = asyncio.run(engine.ask("reboot everything on digitalocean", yes=True))
    assert result.tool_calls[0].status == "done" and result.job is not None
    assert result.plan is not None and result.plan["requires_confirmation"]


def test_tenant_scoped_operator_sees_only_its_tenant(engine: Engine) -> None:
    result = asyncio.run(engine.ask("fleet status", operator="acme-ops"))
    with engine.store.session() as s:
        acme = len(s.exec(select(Instance).where(col(Instance.tenant_id) == "demo-acme")).all())
        other = s.exec(select(Instance).where(col(Instance.tenant_id) != "demo-acme")).first()
    assert other is not None
    assert result.tool_calls[0].result["instances"] == acme < 2 * PAIRS
    peek = asyncio.run(engine.ask(f"show {other.account_id}", operator="acme-ops"))
    # Another tenant's account gets exactly the words an unknown id gets: nothing leaks.
    assert peek.tool_calls[0].status == "error"
    assert peek.tool_calls[0].message == f"No account {other.account_id} is visible to you; check the id (accounts look like acct-042)."
    touch = asyncio.run(engine.ask(f"restart the gateway on {other.account_id}", operator="acme-ops"))
    assert touch.tool_calls[0].status == "error" and touch.job is None


def test_viewer_is_refused_by_role_and_the_refusal_is_audited(engine: Engine) -> None:
    result = asyncio.run(engine.ask("restart everything on vultr", operator="globex-viewer"))
    call = result.tool_calls[0]
    assert call.status == "refused" and call.rule == "role"
    assert engine.nodes.calls == []
    with engine.store.session() as s:
        assert s.exec(select(AuditEntry).where(col(AuditEntry.action) == "refused.restart")).first() is not None


def test_interrupted_job_resumes_without_repeating_done_steps(engine: Engine) -> None:
    result = asyncio.run(engine.ask("restart everything on contabo", yes=True))
    job_id = result.job["id"] if result.job else ""
    with engine.store.session() as s:
        steps = list(s.exec(select(JobStep).where(col(JobStep.job_id) == job_id)).all())
        for step in steps[len(steps) // 2:]:  # pretend the engine died halfway
            step.status = "pending"
            s.add(step)
        job = s.get(JobRecord, job_id)
        assert job is not None
        job.status = "running"
        s.add(job)
    engine.nodes.calls.clear()
    resumed = asyncio.run(engine.ops.resume_unfinished())
    assert [j.status for j in resumed] == ["succeeded"]
    restarted = [c for c in engine.nodes.calls if c[1] == "clawops.restart_gateway"]
    assert len(restarted) == len(steps) - len(steps) // 2


def test_operations_work_on_postgres(pg_url: str, clawops_home: Path) -> None:
    eng = Engine.open(database_url=pg_url, demo_pairs=60)
    try:
        status = asyncio.run(eng.ask("fleet status")).tool_calls[0]
        assert status.result["instances"] == 120
        scoped = asyncio.run(eng.ask("fleet status", operator="acme-ops")).tool_calls[0]
        assert 0 < scoped.result["instances"] < 120
        planned = asyncio.run(eng.ask("restart everything", session="pg"))
        assert planned.plan is not None and planned.plan["requires_confirmation"]
        done = asyncio.run(eng.ask("go", session="pg"))
        assert done.job is not None and done.job["status"] == "succeeded"
        assert audit.verify(eng.store).ok
    finally:
        eng.close()
