"""The sweep over a seeded demo fleet: scores written, states moved and audited, alerts grouped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from engine import audit
from engine.demo import seed_demo
from engine.guardian import (
    AlertItem,
    DecisionKind,
    HealLedger,
    HealStep,
    HealthReport,
    ProviderSignal,
    group_alerts,
    region_suspect,
    sweep,
)
from engine.guardian import _sweep as sweep_mod
from engine.guardian import _thresholds as T
from engine.store import AuditEntry, Instance, Store, open_store

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    st = open_store(sqlite_url)
    seed_demo(st, 60, seed=7)
    with st.session() as s:  # every node reported 4 minutes ago
        s.execute(update(Instance).values(last_report_at=NOW - timedelta(minutes=4)))
    yield st
    st.dispose()


def instances(store: Store) -> dict[str, Instance]:
    with store.session() as s:
        return {i.id: i for i in s.scalars(select(Instance))}


def good(inst: Instance, **kw: Any) -> HealthReport:
    base: dict[str, Any] = dict(
        instance_id=inst.id,
        received_at=NOW - timedelta(seconds=20),
        account_id=inst.account_id,
        cpu_percent=20.0,
        mem_percent=40.0,
        disk_percent=40.0,
        gateway_up=True,
        docker_running=True,
        gateway_latency_ms=30.0,
        uptime_s=86400.0,
        gateway_restarts_10m=0,
    )
    base.update(kw)
    return HealthReport(**base)


def all_good(store: Store) -> dict[str, HealthReport]:
    return {i.id: good(i) for i in instances(store).values()}


def audit_rows(store: Store, prefix: str) -> list[AuditEntry]:
    with store.session() as s:
        return list(s.scalars(select(AuditEntry).where(col(AuditEntry.action).startswith(prefix))).all())


def test_a_healthy_fleet_is_silent_and_degraded_boxes_that_recovered_return_to_active(store: Store) -> None:
    before = instances(store)
    degraded = {i for i, x in before.items() if x.state == "DEGRADED"}
    failed = {i for i, x in before.items() if x.state == "FAILED"}
    assert degraded and failed
    res = sweep(store, all_good(store), NOW)
    assert res.summary is None and not res.alerts and not res.needs_human
    assert res.scored == len(before)
    after = instances(store)
    assert all(after[i].state == "ACTIVE" for i in degraded)
    assert all(after[i].state == "FAILED" for i in failed)  # FAILED is sticky: a human or a job brings it back
    assert all(x.health_score == 100 for x in after.values())
    assert all(
        x.last_report_at is not None and x.last_report_at.replace(tzinfo=UTC) == NOW - timedelta(seconds=20)
        for x in after.values()
    )
    moves = {t.instance_id: (t.from_state, t.to_state) for t in res.transitions}
    assert moves == {i: ("DEGRADED", "ACTIVE") for i in degraded}
    entries = audit_rows(store, "guardian.state")
    assert entries and all(e.actor == "guardian" for e in entries)
    audited = set(",".join(e.target for e in entries).split(","))
    assert audited == degraded
    assert audit.verify(store).ok


def test_unhealthy_reports_degrade_and_silence_fails(store: Store) -> None:
    inst = instances(store)
    active = sorted(i for i, x in inst.items() if x.state == "ACTIVE")
    sick, silent = active[0], active[1]
    reports = all_good(store)
    reports[sick] = good(inst[sick], disk_percent=96.0, gateway_restarts_10m=3)
    del reports[silent]
    with store.session() as s:
        s.execute(update(Instance).where(col(Instance.id) == silent).values(last_report_at=NOW - timedelta(minutes=16)))
    res = sweep(store, reports, NOW)
    after = instances(store)
    assert after[sick].state == "DEGRADED"
    assert (
        after[sick].health_score == 60 and after[sick].health_reason == "60: disk 96 %, gateway restarted 3x in 10 min"
    )
    assert after[silent].state == "FAILED" and after[silent].health_score == 0
    assert after[silent].health_reason == "0: unreachable for 3 sweeps (15 min)"
    assert res.needs_human and res.summary is not None and "failed" in res.summary
    assert [a.key for a in res.alerts] == [f"instance:{silent}"]
    detail = json.loads(next(e for e in audit_rows(store, "guardian.state") if e.target == silent).detail)
    assert (detail["from"], detail["to"]) == ("ACTIVE", "FAILED")
    assert audit.verify(store).ok
    # the heal tree was asked about both
    by_id = {d.instance_id: d for d in res.decisions}
    assert by_id[sick].step is HealStep.VERIFY


def test_degraded_needs_the_recovery_margin_to_return(store: Store) -> None:
    inst = instances(store)
    iid = next(i for i, x in inst.items() if x.state == "DEGRADED")
    reports = all_good(store)
    reports[iid] = good(inst[iid], disk_percent=88.0, uptime_s=300.0)  # 100 - 10 - 5 = 85: just enough
    assert sweep(store, reports, NOW).scores[iid].value == T.RECOVERY_MIN
    assert instances(store)[iid].state == "ACTIVE"
    with store.session() as s:
        s.execute(update(Instance).where(col(Instance.id) == iid).values(state="DEGRADED"))
    later = NOW + timedelta(minutes=5)
    reports[iid] = good(inst[iid], disk_percent=88.0, mem_percent=91.0, received_at=later)  # 80: healthy, not enough
    res = sweep(store, reports, later)
    assert res.scores[iid].value == 80 and instances(store)[iid].state == "DEGRADED"


def test_healing_instances_return_to_active_when_healthy(store: Store) -> None:
    iid = next(i for i, x in instances(store).items() if x.state == "ACTIVE")
    with store.session() as s:
        s.execute(update(Instance).where(col(Instance.id) == iid).values(state="HEALING"))
    sweep(store, all_good(store), NOW)
    assert instances(store)[iid].state == "ACTIVE"


def test_instances_that_do_not_report_yet_are_left_alone(store: Store) -> None:
    iid = next(i for i, x in instances(store).items() if x.state == "ACTIVE")
    with store.session() as s:
        s.execute(
            update(Instance)
            .where(col(Instance.id) == iid)
            .values(state="CREATING", last_report_at=None, health_score=None)
        )
    reports = all_good(store)
    del reports[iid]
    res = sweep(store, reports, NOW)
    assert iid not in res.scores and res.skipped >= 1
    x = instances(store)[iid]
    assert x.state == "CREATING" and x.health_score is None


def test_no_new_report_within_a_sweep_keeps_the_last_score(store: Store) -> None:
    inst = instances(store)
    iid = next(i for i, x in inst.items() if x.state == "DEGRADED")
    with store.session() as s:
        s.execute(update(Instance).where(col(Instance.id) == iid).values(last_report_at=NOW - timedelta(seconds=60)))
    reports = all_good(store)
    del reports[iid]
    res = sweep(store, reports, NOW)
    assert iid not in res.scores
    assert instances(store)[iid].state == "DEGRADED" and instances(store)[iid].health_score == inst[iid].health_score


def test_bad_reports_are_rejected_and_the_instance_scored_without_them(store: Store) -> None:
    inst = instances(store)
    a, b, c = sorted(i for i, x in inst.items() if x.state == "ACTIVE")[:3]
    reports = all_good(store)
    reports[a] = good(inst[b])  # b's report filed under a
    reports[b] = good(inst[b], account_id="acct-other")  # a node reporting for a box it does not own
    reports[c] = good(inst[c], received_at=NOW + timedelta(hours=1))  # from the future
    res = sweep(store, reports, NOW)
    rejected = dict(res.rejected)
    assert set(rejected) == {a, b, c}
    assert "filed under" in rejected[a] and "acct-other" in rejected[b] and "future" in rejected[c]
    # last reports were 4 min ago: under one sweep of silence, so the stored scores stand
    after = instances(store)
    assert all(after[i].state == "ACTIVE" for i in (a, b, c))


def test_a_region_outage_is_one_incident_verified_once_then_failed_over(store: Store) -> None:
    inst = instances(store)
    by_region: dict[str, list[Instance]] = {}
    for x in inst.values():
        if x.state in ("ACTIVE", "DEGRADED"):
            by_region.setdefault(x.region, []).append(x)
    region, members = max(by_region.items(), key=lambda kv: len(kv[1]))
    assert len(members) >= T.REGION_FAILURE_MIN_INSTANCES
    down = {x.id for x in members}
    reports = {i: r for i, r in all_good(store).items() if i not in down}
    with store.session() as s:
        s.execute(update(Instance).where(col(Instance.id).in_(down)).values(last_report_at=NOW - timedelta(minutes=5)))
    ledger = HealLedger()
    res = sweep(store, reports, NOW, ledger=ledger)
    assert res.suspect_regions == [region]
    provider = members[0].provider
    assert res.region_checks == [{"tool": "provider_health", "args": {"provider": provider, "region": region}}]
    incidents = [a for a in res.alerts if a.is_incident]
    assert len(incidents) == 1 and len(res.alerts) == 1
    assert set(incidents[0].instance_ids) == down and incidents[0].region == region
    assert all(d.kind is DecisionKind.WAIT for d in res.decisions)  # nobody restarts boxes in a dead datacentre
    assert res.summary is not None and region in res.summary

    # the status page confirms it: primaries with a healthy standby elsewhere fail over, standbys wait
    later = NOW + timedelta(minutes=5)
    reports = {i: good(inst[i], received_at=later - timedelta(seconds=5)) for i in reports}
    res2 = sweep(
        store, reports, later, ledger=ledger, provider_signals={region: ProviderSignal("outage", detail="network")}
    )
    assert not res2.region_checks
    acts = {d.instance_id: d for d in res2.decisions if d.kind is DecisionKind.ACT}
    primaries = {x.id for x in members if x.role == "primary"}
    assert acts and set(acts) <= primaries
    for d in acts.values():
        assert d.step is HealStep.FAILOVER
        assert d.action == {"tool": "failover", "args": {"selector": {"accounts": [inst[d.instance_id].account_id]}}}
    for d in res2.decisions:
        if inst[d.instance_id].role == "standby":
            assert d.kind is DecisionKind.WAIT
    assert ledger.usage(region, later).failovers == len(acts)
    assert len([a for a in res2.alerts if a.is_incident]) == 1
    assert audit.verify(store).ok


def test_silenced_regions_raise_no_alerts(store: Store) -> None:
    inst = instances(store)
    iid = sorted(i for i, x in inst.items() if x.state == "ACTIVE")[0]
    reports = all_good(store)
    del reports[iid]
    with store.session() as s:
        s.execute(update(Instance).where(col(Instance.id) == iid).values(last_report_at=NOW - timedelta(minutes=20)))
    res = sweep(store, reports, NOW, silenced={inst[iid].region})
    assert instances(store)[iid].state == "FAILED"  # silence mutes alerts, not the truth
    assert not res.alerts and res.summary is None


def test_a_state_changed_during_the_sweep_is_not_overwritten(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    inst = instances(store)
    iid = sorted(i for i, x in inst.items() if x.state == "ACTIVE")[0]
    reports = all_good(store)
    reports[iid] = good(inst[iid], gateway_up=False)
    real_write = sweep_mod._write

    def racing_write(store_: Store, *args: Any) -> None:
        with store_.session() as s:  # a failover job moved it between the sweep's read and its write
            s.execute(update(Instance).where(col(Instance.id) == iid).values(state="STANDBY_PROMOTING"))
        real_write(store_, *args)

    monkeypatch.setattr(sweep_mod, "_write", racing_write)
    res = sweep(store, reports, NOW)
    t = next(t for t in res.transitions if t.instance_id == iid)
    assert not t.applied and instances(store)[iid].state == "STANDBY_PROMOTING"
    skipped = [e for e in audit_rows(store, "guardian.state") if e.outcome == "skipped"]
    assert skipped and iid in skipped[0].target
    assert audit.verify(store).ok


def test_heal_decisions_are_audited(store: Store) -> None:
    inst = instances(store)
    iid = sorted(i for i, x in inst.items() if x.state == "ACTIVE")[0]
    reports = all_good(store)
    reports[iid] = good(inst[iid], gateway_up=False)
    ledger = HealLedger()
    sweep(store, reports, NOW, ledger=ledger)
    later = NOW + timedelta(minutes=5)
    reports = {i: HealthReport(**{**_fields(r), "received_at": later}) for i, r in reports.items()}
    res = sweep(store, reports, later, ledger=ledger)
    assert [d.step for d in res.actions] == [HealStep.RESTART_GATEWAY]
    verify_e, restart_e = audit_rows(store, "guardian.heal.verify"), audit_rows(store, "guardian.heal.restart_gateway")
    assert verify_e[0].target == iid and restart_e[0].target == iid
    detail = json.loads(restart_e[0].detail)
    assert detail["instances"][iid]["action"] == {
        "tool": "restart",
        "args": {"selector": {"instances": [iid]}, "component": "gateway"},
    }


def _fields(r: HealthReport) -> dict[str, Any]:
    return {name: getattr(r, name) for name in r.__slots__ if name != "notes"}


def test_sweep_on_both_backends(store_url: str) -> None:
    st = open_store(store_url)
    try:
        seed_demo(st, 12, seed=3)
        inst = instances(st)
        iid = sorted(i for i, x in inst.items() if x.state == "ACTIVE")[0]
        reports = {i: good(x) for i, x in inst.items()}
        reports[iid] = good(inst[iid], gateway_up=False)
        res = sweep(st, reports, NOW)
        assert instances(st)[iid].state == "DEGRADED"
        assert any(t.instance_id == iid and t.applied for t in res.transitions)
        assert audit.verify(st).ok
    finally:
        st.dispose()


# --- alert grouping ------------------------------------------------------------------------------------


def _item(n: int, region: str = "eu-hetzner-nbg1", kind: str = "failed", role: str = "primary") -> AlertItem:
    return AlertItem(f"i-acct-{n:03d}-p", f"acct-{n:03d}", role, region.split("-")[1], region, kind, "unreachable")


def test_many_failures_in_one_region_are_one_incident() -> None:
    items = [_item(n) for n in range(94)] + [_item(200, "us-vultr-ewr")]
    alerts = group_alerts(items, region_totals={"eu-hetzner-nbg1": 120, "us-vultr-ewr": 300})
    incidents = [a for a in alerts if a.is_incident]
    assert len(incidents) == 1 and len(alerts) == 2
    inc = incidents[0]
    assert inc.key == "incident:eu-hetzner-nbg1" and len(inc.instance_ids) == 94
    assert inc.title.startswith(
        "suspected incident, eu-hetzner-nbg1: 94 of 120 instances need attention (94 primaries, 0 standbys"
    )  # rule 4: not declared before the status page says so
    assert not inc.detail["confirmed"]
    confirmed = group_alerts(items, provider_status={"eu-hetzner-nbg1": "outage"})
    assert confirmed[0].title.startswith("eu-hetzner-nbg1: 94 instances") and confirmed[0].detail["confirmed"]


def test_grouping_dedupes_and_respects_silences_and_shares() -> None:
    dup = [_item(1, kind="escalated"), _item(1, kind="failed")]
    alerts = group_alerts(dup)
    assert len(alerts) == 1 and alerts[0].detail["kind"] == "failed" and alerts[0].severity == "critical"
    five = [_item(n) for n in range(5)]
    assert len(group_alerts(five, region_totals={"eu-hetzner-nbg1": 1000})) == 5  # 0.5 % of a region: not an outage
    assert len(group_alerts(five, region_totals={"eu-hetzner-nbg1": 10})) == 1
    assert len(group_alerts([_item(1), _item(2)], provider_status={"eu-hetzner-nbg1": "outage"})) == 1
    assert group_alerts(five, silenced={"eu-hetzner-nbg1"}) == []
    assert len(group_alerts(five, silenced={"acct-001", "i-acct-002-p"})) == 3


def test_region_suspect_thresholds() -> None:
    assert not region_suspect(T.REGION_FAILURE_MIN_INSTANCES - 1, T.REGION_FAILURE_MIN_INSTANCES - 1)
    assert region_suspect(T.REGION_FAILURE_MIN_INSTANCES, T.REGION_FAILURE_MIN_INSTANCES)
    assert not region_suspect(10, 1000)
    assert not region_suspect(0, 0)


def test_small_batches_write_everything_on_both_backends(store_url: str) -> None:
    st = open_store(store_url)
    try:
        seed_demo(st, 15, seed=4)
        inst = instances(st)
        active = sorted(i for i, x in inst.items() if x.state == "ACTIVE")
        reports = {i: good(x) for i, x in inst.items()}
        for iid in active[:4]:
            reports[iid] = good(inst[iid], disk_percent=97.0, gateway_restarts_10m=1)
        res = sweep(st, reports, NOW, batch_size=7)
        after = instances(st)
        assert all(after[i].health_score == res.scores[i].value for i in res.scores)
        assert all(after[i].state == "DEGRADED" for i in active[:4])
        assert all(after[i].health_reason == "70: disk 97 %, gateway restarted 1x in 10 min" for i in active[:4])
        assert all(after[i].last_report_at is not None for i in res.scores)
        # a second sweep with the same (now older) reports: scores change, last_report_at does not
        later = NOW + timedelta(minutes=3)
        res2 = sweep(st, reports, later, batch_size=7)
        again = instances(st)
        assert all(again[i].last_report_at == after[i].last_report_at for i in res2.scores)
        assert all("last report 3 min old" in again[i].health_reason for i in active[:4])
        assert audit.verify(st).ok
    finally:
        st.dispose()
