"""Guardian's heal memory survives a restart: it is rebuilt from the audit log, limits included."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from engine.demo import seed_demo
from engine.guardian import DecisionKind, HealLedger, HealStep, HealthReport, ledger_from_audit, sweep
from engine.store import Instance, Store, open_store

T0 = datetime.now(UTC).replace(microsecond=0)  # the audit log stamps wall-clock time; the sweeps follow it


@pytest.fixture
def fleet(sqlite_url: str) -> Iterator[tuple[Store, str, str]]:
    # Taken when the test starts, not when the module is imported: in a long run the audit log's wall-clock
    # stamps would otherwise be minutes ahead of the sweeps' clock.
    global T0
    T0 = datetime.now(UTC).replace(microsecond=0)
    st = open_store(sqlite_url)
    seed_demo(st, 40, seed=2)
    with st.session() as s:
        first = s.execute(
            select(col(Instance.id), col(Instance.account_id))
            .where(col(Instance.state) == "ACTIVE", col(Instance.role) == "primary")
            .order_by(col(Instance.id))
        ).first()
        assert first is not None
        iid, acct = first
        s.execute(update(Instance).values(last_report_at=T0 - timedelta(minutes=1)))
    yield st, iid, acct
    st.dispose()


def _one(iid: str, acct: str, at: datetime, **kw: Any) -> HealthReport:
    base: dict[str, Any] = dict(
        account_id=acct,
        cpu_percent=20.0,
        mem_percent=40.0,
        disk_percent=40.0,
        gateway_up=True,
        docker_running=True,
        gateway_latency_ms=30.0,
        uptime_s=86400.0,
    )
    base.update(kw)
    return HealthReport(iid, at - timedelta(seconds=5), **base)


def everyone(store: Store, at: datetime) -> dict[str, HealthReport]:
    """A healthy report from every instance (the rest of the fleet keeps reporting)."""
    with store.session() as s:
        rows = s.execute(select(col(Instance.id), col(Instance.account_id))).all()
    return {i: _one(i, a, at) for i, a in rows}


def report(iid: str, acct: str, at: datetime, store: Store, **kw: Any) -> dict[str, HealthReport]:
    out = everyone(store, at)
    out[iid] = _one(iid, acct, at, **kw)
    return out


def test_a_restarted_engine_continues_the_climb_instead_of_starting_over(fleet: tuple[Store, str, str]) -> None:
    store, iid, acct = fleet
    steps = []
    for n in range(4):  # no ledger passed: every sweep rebuilds it from the audit log, like a fresh engine
        at = T0 + timedelta(minutes=5 * n)
        res = sweep(store, report(iid, acct, at, store, gateway_up=False), at)
        steps.append(next(d.step for d in res.decisions if d.instance_id == iid))
    assert steps == [HealStep.VERIFY, HealStep.RESTART_GATEWAY, HealStep.RESTART_GATEWAY, HealStep.RESTART_DOCKER]


def test_flapping_is_caught_across_restarts(fleet: tuple[Store, str, str]) -> None:
    store, iid, acct = fleet
    at = T0
    kinds = []
    for _ in range(4):
        for _ in range(2):  # sick: verify, then restart the gateway
            res = sweep(store, report(iid, acct, at, store, gateway_up=False), at)
            kinds.append(next(d for d in res.decisions if d.instance_id == iid))
            at += timedelta(minutes=4)
            if kinds[-1].kind is DecisionKind.ESCALATE:
                break
        if kinds[-1].kind is DecisionKind.ESCALATE:
            break
        healed = sweep(store, report(iid, acct, at, store), at)
        assert iid in healed.recovered
        at += timedelta(minutes=4)
    assert kinds[-1].kind is DecisionKind.ESCALATE and "flapping" in kinds[-1].reason
    assert sum(d.step is HealStep.RESTART_GATEWAY for d in kinds) == 3


def test_standing_approval_usage_is_rebuilt(fleet: tuple[Store, str, str]) -> None:
    store, iid, acct = fleet
    ledger = HealLedger()
    region = ""
    with store.session() as s:
        inst = s.get(Instance, iid)
        assert inst is not None
        region = inst.region
    # walk the instance up to the reboot with a live ledger
    at = T0
    for _ in range(8):
        reports = everyone(store, at)
        del reports[iid]  # silent node: verify, then the VPS reboot
        res = sweep(store, reports, at, ledger=ledger)
        at += timedelta(minutes=6)
        if any(d.step is HealStep.REBOOT_VPS and d.kind is DecisionKind.ACT for d in res.decisions):
            break
    assert ledger.usage(region, at).reboots >= 1
    rebuilt = ledger_from_audit(store, at)
    assert rebuilt.usage(region, at).reboots == ledger.usage(region, at).reboots
    assert rebuilt.records[iid].step is HealStep.REBOOT_VPS
    assert rebuilt.records[iid].actions == tuple(sorted(rebuilt.records[iid].actions))
    assert ledger_from_audit(store, at + timedelta(hours=2)).records == {}  # an hour later it has aged out
