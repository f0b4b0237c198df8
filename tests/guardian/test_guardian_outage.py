"""A provider region goes dark: sweep → status page → failover decisions, executed by the real operation layer.

Not the full issue-6 drill (emulators, time scaling): this checks that Guardian's decisions are tool calls the
operation layer accepts from an autonomous caller, and that after them no user is left without a gateway.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlmodel import col

from engine import audit
from engine.guardian import (
    DecisionKind,
    HealLedger,
    HealStep,
    HealthReport,
    ProviderSignal,
    exposure,
    sweep,
)
from engine.policy import Caller, Role
from engine.runtime import Engine
from engine.store import Instance

GUARDIAN = Caller(
    operator_id="op-owner", name="owner", role=Role.OPERATOR, channel="guardian", agent="guardian", autonomous=True
)


def _reports(engine: Engine, now: datetime, skip: set[str]) -> dict[str, HealthReport]:
    with engine.store.session() as s:
        rows = s.execute(select(col(Instance.id), col(Instance.account_id), col(Instance.state))).all()
    return {
        iid: HealthReport(
            iid,
            now - timedelta(seconds=10),
            account_id=acct,
            cpu_percent=20.0,
            mem_percent=40.0,
            disk_percent=40.0,
            gateway_up=True,
            docker_running=True,
            gateway_latency_ms=30.0,
            uptime_s=86400.0,
        )
        for iid, acct, state in rows
        if iid not in skip and state != "DELETED"
    }


def test_region_outage_heals_through_the_operation_layer(clawops_home: Path) -> None:
    engine = Engine.open(demo_pairs=150)
    try:
        with engine.store.session() as s:
            live = s.execute(
                select(col(Instance.id), col(Instance.region), col(Instance.role), col(Instance.state)).where(
                    col(Instance.state).in_(("ACTIVE", "DEGRADED"))
                )
            ).all()
        primaries = Counter(r for _, r, role, _ in live if role == "primary")
        region = primaries.most_common(1)[0][0]
        down = {iid for iid, r, _, _ in live if r == region}
        now = datetime.now(UTC)
        with engine.store.session() as s:
            s.execute(
                update(Instance).where(col(Instance.id).in_(down)).values(last_report_at=now - timedelta(minutes=16))
            )
        ledger = HealLedger()

        first = sweep(engine.store, _reports(engine, now, down), now, ledger=ledger)
        assert region in first.suspect_regions
        incidents = [a for a in first.alerts if a.is_incident and a.region == region]
        assert len(incidents) == 1
        assert not first.actions or all(d.instance_id not in down for d in first.actions)
        provider = region.split("-")[1]
        assert {"tool": "provider_health", "args": {"provider": provider, "region": region}} in first.region_checks

        later = now + timedelta(minutes=5)
        second = sweep(
            engine.store,
            _reports(engine, later, down),
            later,
            ledger=ledger,
            provider_signals={region: ProviderSignal("outage", detail="drill")},
        )
        failovers = [d for d in second.actions if d.step is HealStep.FAILOVER]
        assert failovers
        statuses: Counter[str] = Counter()
        for d in failovers:
            assert d.action is not None
            out = asyncio.run(engine.ops.call(GUARDIAN, d.action["tool"], d.action["args"]))
            statuses[out.status] += 1
            ledger.result(d.instance_id, out.status, out.message)
        assert statuses == Counter({"done": len(failovers)}), statuses

        with engine.store.session() as s:
            e = exposure(s, region=region)
        escalated = {d.instance_id for d in second.escalations}
        # every primary there either moved or was escalated because its standby was not healthy
        assert e.failed_over == len(failovers)
        assert e.without_gateway <= len(escalated)
        assert e.without_gateway == 0  # the demo gives every pair a healthy standby elsewhere

        # the next sweep finds nothing left to do there: the pairs moved, the old primaries wait for a human
        third_at = later + timedelta(minutes=5)
        third = sweep(
            engine.store,
            _reports(engine, third_at, down),
            third_at,
            ledger=ledger,
            provider_signals={region: ProviderSignal("outage", detail="drill")},
        )
        with engine.store.session() as s:
            in_region = {i for (i,) in s.execute(select(col(Instance.id)).where(col(Instance.region) == region)).all()}
        assert not [d for d in third.actions if d.instance_id in in_region]  # nothing is restarted in a dead region
        assert audit.verify(engine.store).ok

        # the locks the tree relies on: Guardian holds no teardown tool, and any autonomous delete is rule 7
        refused = asyncio.run(engine.ops.call(GUARDIAN, "teardown", {"selector": {"region": region}}))
        assert refused.status == "refused" and refused.rule == "agent_allowance"
        no_agent = Caller(operator_id="op-owner", name="owner", role=Role.OWNER, autonomous=True)
        refused = asyncio.run(engine.ops.call(no_agent, "teardown", {"selector": {"region": region}}))
        assert refused.status == "refused" and refused.rule == "rule7_autoheal_never_deletes"
        kinds = {d.kind for d in second.decisions}
        assert DecisionKind.ACT in kinds
    finally:
        engine.close()
