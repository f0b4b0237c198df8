"""The operation layer end to end on a small demo fleet: reads, plan → confirm → job, isolation."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from engine import audit
from engine.demo import build_demo_fleet
from engine.runtime import Engine
from engine.store import AuditEntry, Instance, JobRecord, JobStep, PlanRecord
from evals.stores import fresh_store
from tests.engine_kit import sim_nodes

PAIRS = 150


@pytest.fixture
def clawops_home(clawops_home: Path) -> Path:
    """The isolated home, with a new empty store already in it (migrated once per process: evals/stores.py)."""
    fresh_store(clawops_home / "clawops.db")
    return clawops_home


@pytest.fixture
def engine(clawops_home: Path) -> Iterator[Engine]:
    eng = Engine.open(demo_pairs=PAIRS, demo_providers="sim")
    yield eng
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
    assert result.reply.startswith("[CMD] Cancelled pl-")
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
    assert (degraded.id, "clawops.restart_gateway") in sim_nodes(engine).calls


def test_dry_run_plans_but_never_acts(engine: Engine) -> None:
    result = asyncio.run(engine.ask("restart everything degraded on vultr", dry_run=True, yes=True))
    assert result.tool_calls[0].status == "planned" and result.job is None
    assert sim_nodes(engine).calls == []


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
    assert (
        peek.tool_calls[0].message
        == f"No account {other.account_id} is visible to you; check the id (accounts look like acct-042)."
    )
    touch = asyncio.run(engine.ask(f"restart the gateway on {other.account_id}", operator="acme-ops"))
    assert touch.tool_calls[0].status == "error" and touch.job is None


def test_viewer_is_refused_by_role_and_the_refusal_is_audited(engine: Engine) -> None:
    result = asyncio.run(engine.ask("restart everything on vultr", operator="globex-viewer"))
    call = result.tool_calls[0]
    assert call.status == "refused" and call.rule == "role"
    assert sim_nodes(engine).calls == []
    with engine.store.session() as s:
        assert s.exec(select(AuditEntry).where(col(AuditEntry.action) == "refused.restart")).first() is not None


def test_interrupted_job_resumes_without_repeating_done_steps(engine: Engine) -> None:
    result = asyncio.run(engine.ask("restart everything on contabo", yes=True))
    job_id = result.job["id"] if result.job else ""
    with engine.store.session() as s:
        steps = list(s.exec(select(JobStep).where(col(JobStep.job_id) == job_id)).all())
        for step in steps[len(steps) // 2 :]:  # pretend the engine died halfway
            step.status = "pending"
            s.add(step)
        job = s.get(JobRecord, job_id)
        assert job is not None
        job.status = "running"
        s.add(job)
    sim_nodes(engine).calls.clear()
    resumed = asyncio.run(engine.ops.resume_unfinished())
    assert [j.status for j in resumed] == ["succeeded"]
    restarted = [c for c in sim_nodes(engine).calls if c[1] == "clawops.restart_gateway"]
    assert len(restarted) == len(steps) - len(steps) // 2


def test_operations_work_on_postgres(pg_url: str, clawops_home: Path) -> None:
    eng = Engine.open(database_url=pg_url, demo_pairs=60, demo_providers="sim")
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


def test_provisioning_conversation_plan_go_all_active(engine: Engine) -> None:
    """The product's example: ask → plan with cost and "Confirm?" → "Go." → every new pair ACTIVE."""
    first = asyncio.run(
        engine.ask("Provision 20 new standard-tier accounts, EU regions, Hetzner primary", session="prov")
    )
    call = first.tool_calls[0]
    assert call.tool == "provision_pairs" and call.status == "planned"
    assert call.args["count"] == 20 and call.args["primary_provider"] == "hetzner"
    assert call.args["standby_provider"] != "hetzner"
    assert first.plan is not None and first.plan["requires_confirmation"] and first.plan["monthly_cost_delta"] > 0
    assert "Confirm?" in first.reply and "$" in first.reply  # money in the operator's currency (USD by default)
    went = asyncio.run(engine.ask("Go.", session="prov"))
    assert went.job is not None and went.job["status"] == "succeeded" and went.job["done"] == 20
    with engine.store.session() as s:
        new = list(s.exec(select(Instance).where(col(Instance.account_id) > f"acct-{PAIRS:03d}")).all())
    assert len(new) == 40 and {i.state for i in new} == {"ACTIVE"}
    by_account: dict[str, set[str]] = {}
    for inst in new:
        by_account.setdefault(inst.account_id, set()).add(inst.provider)
        assert inst.region.startswith("eu-")
    assert all(len(providers) == 2 for providers in by_account.values())  # primary and standby differ
    assert len(engine.drivers.sim.creates) == 40  # one purchase per instance, no duplicates


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ("provision 0 pairs on hetzner", "count must be at least 1"),
        ("provision 100000 pairs on hetzner", "more than one request may provision"),
        ("provision 5 pairs, hetzner primary, hetzner standby", "different provider"),
    ],
)
def test_bad_provisioning_requests_are_refused_clearly(engine: Engine, message: str, words: str) -> None:
    call = asyncio.run(engine.ask(message)).tool_calls[0]
    assert call.status == "error" and words in call.message
    assert engine.drivers.sim.creates == []


def _degrade_standby(engine: Engine, account: str) -> None:
    with engine.store.session() as s:
        standby = s.get(Instance, f"i-{account}-s")
        assert standby is not None
        standby.state, standby.health_score = "DEGRADED", 55
        s.add(standby)


def test_rule1_teardown_of_a_primary_with_a_bad_standby_is_refused(engine: Engine) -> None:
    _degrade_standby(engine, "acct-010")
    call = asyncio.run(engine.ask("tear down i-acct-010-p", yes=True)).tool_calls[0]
    assert call.status == "refused" and call.rule == "rule1_standby_before_teardown"
    assert engine.drivers.sim.deletes == []


def test_teardown_archives_audits_then_deletes(engine: Engine) -> None:
    result = asyncio.run(engine.ask("tear down acct-011", yes=True))
    assert result.job is not None and result.job["status"] == "succeeded"
    assert result.plan is not None and result.plan["monthly_cost_delta"] < 0
    with engine.store.session() as s:
        pair = list(s.exec(select(Instance).where(col(Instance.account_id) == "acct-011")).all())
        deletes = list(s.exec(select(AuditEntry).where(col(AuditEntry.action) == "provider.delete")).all())
    assert {i.state for i in pair if i.provider not in ("contabo", "hostinger")} <= {"DELETED"}
    assert len(deletes) == len(engine.drivers.sim.deletes) >= 1
    assert ("i-acct-011-p", "clawops.archive") in sim_nodes(engine).calls
    archives = sorted((engine.settings.home / "archives" / "acct-011").glob("*.tar.gz"))
    assert [a.name.split("-2")[0] for a in archives] == ["i-acct-011-p", "i-acct-011-s"]
    import tarfile

    with tarfile.open(archives[0]) as tar:
        assert "clawops-archive/manifest.json" in tar.getnames()


def test_teardown_never_deletes_when_the_archive_fails(engine: Engine) -> None:
    async def broken_archive(instance_id: str, command: str, params: object) -> dict[str, object]:
        return {"ok": True, "data": "not base64!!"} if command == "clawops.archive" else {"ok": True, "healthy": True}

    engine.nodes.invoke = broken_archive  # type: ignore[method-assign]  # a test double stands in for the nodes
    result = asyncio.run(engine.ask("tear down acct-014", yes=True))
    assert result.job is not None and result.job["status"] == "failed"
    assert engine.drivers.sim.deletes == []
    with engine.store.session() as s:
        assert s.exec(select(AuditEntry).where(col(AuditEntry.action) == "provider.delete")).first() is None


def test_failover_to_an_unhealthy_standby_is_refused(engine: Engine) -> None:
    _degrade_standby(engine, "acct-012")
    call = asyncio.run(engine.ask("fail over acct-012", yes=True)).tool_calls[0]
    assert call.status == "refused" and "no ACTIVE standby" in call.message


def test_failover_promotes_the_standby_and_queues_a_replacement(engine: Engine) -> None:
    with engine.store.session() as s:
        standby = s.get(Instance, "i-acct-013-s")
        assert standby is not None
        standby.health_score = 95
        s.add(standby)
    result = asyncio.run(engine.ask("fail over acct-013", yes=True))  # not undoable: the operator's go
    assert result.job is not None and result.job["status"] == "succeeded"
    with engine.store.session() as s:
        pair = {i.id: i for i in s.exec(select(Instance).where(col(Instance.account_id) == "acct-013")).all()}
    assert pair["i-acct-013-s"].role == "primary" and pair["i-acct-013-s"].state == "ACTIVE"
    assert pair["i-acct-013-p"].state == "FAILED"
    replacement = [i for i in pair.values() if i.id not in ("i-acct-013-s", "i-acct-013-p")]
    assert len(replacement) == 1 and replacement[0].state == "ACTIVE" and replacement[0].role == "standby"
    assert replacement[0].provider != pair["i-acct-013-s"].provider


def test_resize_changes_tier_and_price(engine: Engine) -> None:
    with engine.store.session() as s:
        inst = s.exec(
            select(Instance).where(
                col(Instance.provider) == "hetzner", col(Instance.tier) == "standard", col(Instance.state) == "ACTIVE"
            )
        ).first()
        assert inst is not None
    result = asyncio.run(engine.ask(f"resize {inst.id} to performance"))
    assert result.job is not None and result.plan is not None and result.plan["monthly_cost_delta"] > 0
    with engine.store.session() as s:
        after = s.get(Instance, inst.id)
        assert after is not None and after.tier == "performance" and after.monthly_price > inst.monthly_price


def test_finding_selectors_never_widen_to_the_fleet(engine: Engine) -> None:
    call = asyncio.run(engine.ask("teardown the idle ones", dry_run=True)).tool_calls[0]
    assert call.status == "planned"
    assert call.plan is not None and 0 < call.plan.affected_users < PAIRS // 4
    cheaper = asyncio.run(
        engine.ops.call(
            engine.caller(), "resize", {"selector": {"finding": "cheaper_elsewhere"}, "tier": "nano"}, dry_run=True
        )
    )
    assert cheaper.status in ("planned", "error")
    if cheaper.plan is not None:
        assert 0 < cheaper.plan.affected_users < PAIRS  # what the Ledger flags, never the whole fleet
    unknown = asyncio.run(engine.ops.call(engine.caller(), "teardown", {"selector": {"finding": "cheap"}}))
    assert unknown.status == "error" and "finding 'cheap' is not known" in unknown.message


def test_compound_request_plans_each_part_and_go_confirms_them_all(engine: Engine) -> None:
    first = asyncio.run(
        engine.ask("provision 12 pairs, hetzner primary, restart everything on contabo", session="multi")
    )
    assert [c.tool for c in first.tool_calls] == ["provision_pairs", "restart"]
    planned = [c for c in first.tool_calls if c.status == "planned"]
    went = asyncio.run(engine.ask("go", session="multi"))
    assert len(went.tool_calls) == len(planned) >= 1
    assert all(c.status == "done" for c in went.tool_calls)


def test_an_agent_cannot_call_a_tool_outside_its_allowance(engine: Engine) -> None:
    """Ledger recommends only: even a well-formed teardown from it is refused in code and audited."""
    ledger = dataclasses.replace(engine.caller(), agent="ledger")
    call = asyncio.run(engine.ops.call(ledger, "teardown", {"selector": {"accounts": ["acct-001"]}}, confirmed=True))
    assert call.status == "refused" and call.rule == "agent_allowance"
    assert engine.drivers.sim.deletes == []
    ok = asyncio.run(engine.ops.call(ledger, "fleet_status", {}))
    assert ok.status == "done"
    with engine.store.session() as s:
        assert s.exec(select(AuditEntry).where(col(AuditEntry.action) == "refused.teardown")).first() is not None


def test_config_push_rolls_out_in_batches(engine: Engine) -> None:
    result = asyncio.run(
        engine.ask_tool(
            "config_push",
            {"selector": {"provider": "hetzner"}, "config": {"log_level": "debug"}, "batch_size": 10},
            yes=True,
        )
    )
    assert result.status == "done" and result.job is not None and result.job.status == "succeeded"
    with engine.store.session() as s:
        hetzner = [
            i.id
            for i in s.exec(
                select(Instance).where(
                    col(Instance.provider) == "hetzner", col(Instance.state).in_(("ACTIVE", "DEGRADED"))
                )
            ).all()
        ]
    nodes = sim_nodes(engine)
    assert all(nodes.current_config(i) == {"log_level": "debug"} for i in hetzner)


def test_a_failing_batch_halts_the_rollout_and_leaves_nobody_on_the_bad_config(engine: Engine) -> None:
    with engine.store.session() as s:
        targets = [
            i.id
            for i in s.exec(
                select(Instance)
                .where(col(Instance.state) == "ACTIVE")
                .order_by(col(Instance.account_id), col(Instance.role))
            ).all()
        ]
    nodes = sim_nodes(engine)
    nodes.fragile = {targets[25]}  # lands in the third batch of ten
    result = asyncio.run(
        engine.ask_tool(
            "config_push",
            {"selector": {"state": "ACTIVE"}, "config": {"gateway_port": 9999}, "batch_size": 10},
            yes=True,
        )
    )
    assert result.status == "error" and result.job is not None and result.job.status == "failed"
    assert result.job.done == 2 and "rolled back" in (result.job.error or "")
    assert [i for i in targets if nodes.current_config(i)] == []  # nobody left on the bad config
    configured = {c[0] for c in nodes.calls if c[1] == "clawops.config_apply"}
    assert targets[40] not in configured  # batches after the failure never started


def test_rule2_refuses_an_oversized_batch(engine: Engine) -> None:
    result = asyncio.run(engine.ask_tool("config_push", {"selector": {}, "config": {"x": 1}, "batch_size": 250}))
    assert result.status == "refused" and result.rule == "rule2_rolling_config_push"


def test_silence_alerts_records_a_silence(engine: Engine) -> None:
    from engine.store import Silence

    result = asyncio.run(
        engine.ask_tool(
            "silence_alerts",
            {"selector": {"region": "eu-hetzner-nbg1"}, "minutes": 90, "reason": "maintenance"},
            yes=True,
        )
    )
    assert result.status == "done"
    with engine.store.session() as s:
        (silence,) = s.exec(select(Silence)).all()
    assert silence.selector == {"region": "eu-hetzner-nbg1"} and silence.reason == "maintenance"
