"""Guardian's cycle: status pages read when asked, heal actions run bounded, outcomes fed back, one message.

The operation layer is replaced by a recording stand-in here (the drill runs the real one against the
emulators); everything else — sweep, heal tree, incidents, silences, audit — is the real code on a store.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from engine import audit
from engine.demo import seed_demo
from engine.guardian import (
    ALLOWED_TOOLS,
    Alert,
    Guardian,
    HealthReport,
    ProviderSignal,
    region_signal,
    sweep,
    track_incidents,
)
from engine.guardian import _thresholds as T
from engine.policy import Caller, Role
from engine.store import AuditEntry, Incident, Instance, Silence, Store, open_store

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
GUARDIAN = Caller(
    operator_id="op-owner", name="owner", role=Role.OPERATOR, channel="guardian", agent="guardian", autonomous=True
)


@dataclass
class Outcome:
    status: str
    message: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    job: Any = None


class RecordingOps:
    """Stands in for the operation layer: records calls, answers ``status``, measures concurrency."""

    def __init__(self, status: str = "done") -> None:
        self.status = status
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def call(self, caller: Caller, tool: str, args: dict[str, Any]) -> Outcome:
        assert caller.autonomous and caller.agent == "guardian"
        self.calls.append((tool, args))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.005)
        finally:
            self.in_flight -= 1
        return Outcome(self.status, f"{tool} {self.status}")


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    st = open_store(sqlite_url)
    seed_demo(st, 300, seed=11)
    with st.session() as s:  # a healthy fleet that reported a minute ago
        s.execute(
            update(Instance).values(
                state="ACTIVE", health_score=95, health_reason="", last_report_at=NOW - timedelta(minutes=1)
            )
        )
    yield st
    st.dispose()


def _rows(store: Store) -> list[tuple[str, str, str, str]]:
    with store.session() as s:
        return [
            tuple(r)
            for r in s.execute(
                select(col(Instance.id), col(Instance.account_id), col(Instance.region), col(Instance.role))
            ).all()
        ]


def _busiest(store: Store) -> tuple[str, set[str], int]:
    rows = _rows(store)
    primaries = Counter(r[2] for r in rows if r[3] == "primary")
    region = primaries.most_common(1)[0][0]
    return region, {r[0] for r in rows if r[2] == region}, primaries[region]


def _reports(store: Store, at: datetime, skip: set[str]) -> dict[str, HealthReport]:
    return {
        iid: HealthReport(
            iid,
            at - timedelta(seconds=10),
            account_id=acct,
            cpu_percent=20.0,
            mem_percent=40.0,
            disk_percent=40.0,
            gateway_up=True,
            docker_running=True,
            gateway_latency_ms=30.0,
            gateway_restarts_10m=0,
            uptime_s=86400.0,
        )
        for iid, acct, _, _ in _rows(store)
        if iid not in skip
    }


class Pages:
    """A status reader: answers per region, counts reads."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.reads: list[tuple[str, str]] = []

    async def __call__(self, provider: str, region: str) -> ProviderSignal:
        self.reads.append((provider, region))
        return ProviderSignal(self.answers.get(region, "operational"), detail="test page")


def test_a_confirmed_outage_is_failed_over_in_the_same_cycle_with_bounded_concurrency(store: Store) -> None:
    region, down, primaries = _busiest(store)
    pages = Pages({region: "outage"})
    ops = RecordingOps()
    told: list[str] = []
    g = Guardian(store, ops, GUARDIAN, status=pages, notify=told.append, concurrency=3)
    at = NOW + timedelta(minutes=5)
    result = asyncio.run(g.cycle(_reports(store, at, down), at))

    assert len(result.sweeps) == 2  # the sweep asked for the status page; the second pass acted on it
    assert pages.reads == [(region.split("-")[1], region)]
    assert result.signals[region].region_status == "outage"
    failovers = [e for e in result.executed if e.tool == "failover"]
    assert len(failovers) == primaries and all(e.status == "done" for e in failovers)
    assert {tool for tool, _ in ops.calls} <= ALLOWED_TOOLS and "teardown" not in {t for t, _ in ops.calls}
    assert ops.max_in_flight == 3  # ran in parallel, never more than the bound
    # one message for the operator: the incident, confirmed by the status page
    assert len(told) == 1 and "Incident:" in told[0] and "status page: outage" in told[0]
    assert result.silenced == [region] and result.armed == [region]
    with store.session() as s:
        (silence,) = s.execute(select(Silence)).scalars().all()
        assert silence.selector == {"region": region} and silence.created_by == "guardian"
        incident = s.execute(select(Incident)).scalars().one()
        assert incident.detail["reprovision"]["armed_at"] and not incident.detail["reprovision"].get("fired_at")
        assert len(incident.detail["reprovision"]["failed_over"]) == primaries
    assert audit.verify(store).ok

    # next cycle: the region is watched (its page is read again), the silence mutes it, the incident stays open
    later = at + timedelta(minutes=5)
    again = asyncio.run(g.cycle(_reports(store, later, down), later))
    assert (region.split("-")[1], region) in pages.reads[1:]
    assert not again.executed or all(e.tool != "failover" for e in again.executed)  # nothing moved twice
    assert again.last.incidents is not None and not again.last.incidents.closed and not again.last.incidents.opened
    assert len(told) == 1  # silent


def test_refused_failovers_escalate_as_one_message_per_incident(store: Store) -> None:
    region, down, primaries = _busiest(store)
    ops = RecordingOps(status="refused")
    told: list[str] = []
    g = Guardian(store, ops, GUARDIAN, status=Pages({region: "outage"}), notify=told.append)
    at = NOW + timedelta(minutes=5)
    first = asyncio.run(g.cycle(_reports(store, at, down), at))
    assert {e.status for e in first.executed} == {"refused"} and not first.silenced  # nothing moved: no silence
    later = at + timedelta(minutes=5)
    second = asyncio.run(g.cycle(_reports(store, later, down), later))
    escalated = {d.instance_id for d in second.escalations}
    assert len(escalated) == primaries  # the ledger learned the refusals: no retry, straight to a human
    assert not [e for e in second.executed if e.tool == "failover"]
    lines = [m for m in told if "escalated to Commander" in m]
    assert len(lines) == 1 and f"{primaries} instances escalated" in lines[0] and "refused" in lines[0]


def test_an_unreadable_status_page_is_unknown_never_a_crash(store: Store) -> None:
    region, down, _ = _busiest(store)

    async def broken(provider: str, region: str) -> ProviderSignal:
        raise ConnectionError("status page down too")

    g = Guardian(store, RecordingOps(), GUARDIAN, status=broken, notify=lambda _line: None)
    at = NOW + timedelta(minutes=5)
    result = asyncio.run(g.cycle(_reports(store, at, down), at))
    assert result.signals[region].region_status == "unknown"
    assert not [e for e in result.executed if e.tool == "failover"]  # no outage confirmed: no region failover


def test_region_signal_narrows_a_status_page_to_one_region() -> None:
    page = {
        "indicator": "outage",
        "description": "NBG1 down",
        "incidents": [{"title": "Network outage in NBG1", "locations": ["nbg1"]}],
    }
    assert region_signal(page, "eu-hetzner-nbg1").region_status == "outage"
    assert "NBG1" in region_signal(page, "eu-hetzner-nbg1").detail
    assert region_signal(page, "eu-hetzner-fsn1").region_status == "operational"
    wide = {"indicator": "degraded", "incidents": [{"title": "API slow", "locations": []}]}
    assert region_signal(wide, "eu-hetzner-fsn1").region_status == "degraded"
    assert region_signal({"indicator": "unknown", "description": "could not read"}, "x-y-z").region_status == "unknown"
    assert region_signal({}, "eu-hetzner-nbg1").region_status == "unknown"


def test_silence_before_the_engine_listened_is_not_the_nodes_fault(store: Store) -> None:
    """An engine that was down for an hour must not find the fleet 'unreachable' and fail it over."""
    with store.session() as s:
        s.execute(update(Instance).values(last_report_at=NOW - timedelta(hours=1), updated_at=NOW - timedelta(hours=1)))
    started = NOW - timedelta(minutes=2)
    calm = sweep(store, {}, NOW, watching_since=started)
    assert calm.scored == 0 and not calm.transitions
    # still silent a sweep interval after it started listening: now it counts
    later = started + timedelta(seconds=T.SWEEP_INTERVAL_S * T.FAILED_AFTER_MISSED_SWEEPS)
    loud = sweep(store, {}, later, watching_since=started)
    assert loud.bands.get("failed", 0) == len(_rows(store))


def test_a_silenced_incident_stays_open_and_is_not_announced_twice(store: Store) -> None:
    alert = Alert("incident:eu-hetzner-nbg1", "critical", "nbg1 down", ("i-1", "i-2"), "hetzner", "eu-hetzner-nbg1")
    with store.session() as s:
        opened = track_incidents(s, [alert], NOW)
    assert [a.key for a in opened.opened] == [alert.key]
    with store.session() as s:  # silenced: not current, but muted → stays open, nothing announced
        muted = track_incidents(s, [], NOW + timedelta(minutes=5), muted=[alert])
    assert not muted.closed and not muted.opened
    with store.session() as s:  # the silence ended while it still lasts: already open, not announced again
        back = track_incidents(s, [alert], NOW + timedelta(minutes=65))
    assert not back.opened
    with store.session() as s:
        over = track_incidents(s, [], NOW + timedelta(minutes=70))
    assert over.closed == [alert.key]
    with store.session() as s:  # a silence from before the incident: it is not opened while muted
        assert not track_incidents(s, [], NOW + timedelta(minutes=75), muted=[alert]).opened
        rows = s.execute(select(Incident)).scalars().all()
    assert len(rows) == 1
    with store.session() as s:
        timeline = [a for (a,) in s.execute(select(col(AuditEntry.action)).order_by(col(AuditEntry.seq))).all()]
    assert timeline == ["incident.open", "incident.close"]


def test_the_scheduled_sweep_is_registered_only_where_reports_flow(clawops_home: Path) -> None:
    from engine.runtime import Engine
    from engine.scheduler import start_scheduler, stop_scheduler

    engine = Engine.open(demo_pairs=5, demo_providers="sim")
    try:

        async def ids(guardian: bool) -> set[str]:
            scheduler = await start_scheduler(engine, guardian=guardian)
            try:
                return {sched.id for sched in await scheduler.get_schedules()}
            finally:
                await stop_scheduler(scheduler)

        assert "guardian-sweep" not in asyncio.run(ids(False))
        assert "guardian-sweep" in asyncio.run(ids(True))
        name, _task, every = engine.scheduler.guardian_schedule()
        assert name == "guardian-sweep" and every.total_seconds() == T.SWEEP_INTERVAL_S
    finally:
        engine.close()


def test_the_daemon_schedules_guardian_with_a_gateway_or_over_the_demos_simulated_fleet() -> None:
    import inspect

    from engine.api import _daemon

    source = inspect.getsource(_daemon._main)
    assert "guardian=gateway is not None or engine.settings.demo" in source
    assert source.index("_start_gateway(engine)") < source.index("_start_scheduler(engine")


def test_the_scheduled_task_sweeps_stored_reports_through_the_operation_layer(clawops_home: Path) -> None:
    from engine.runtime import Engine
    from engine.store import HealthReportRecord, utcnow

    engine = Engine.open(demo_pairs=8, demo_providers="sim")
    try:
        now = utcnow()
        with engine.store.session() as s:
            s.execute(update(Instance).values(state="ACTIVE", health_score=95, health_reason=""))
            ids = [(i, a) for i, a in s.execute(select(col(Instance.id), col(Instance.account_id))).all()]
            for iid, acct in ids:
                s.add(
                    HealthReportRecord(
                        instance_id=iid,
                        received_at=now,
                        payload={
                            "instanceId": iid,
                            "accountId": acct,
                            "ts": int(now.timestamp() * 1000),
                            "cpu": {"percent": 10.0, "load": [0.1, None, None]},
                            "memory": {"totalBytes": 100, "availableBytes": 60},
                            "disk": {"totalBytes": 100, "freeBytes": 60},
                            "uptimeS": 86400,
                            "docker": {"available": True},
                            "gateway": {"running": True, "wsLatencyMs": 20},
                        },
                    )
                )
        heard: list[str] = []
        scheduler = engine.scheduler
        stop = scheduler.on_guardian_message(heard.append)
        try:
            assert asyncio.run(scheduler.guardian_sweep()) == 0  # a healthy fleet: nothing to do, nothing said
        finally:
            stop()
        assert heard == []
        with engine.store.session() as s:
            states = Counter(st for (st,) in s.execute(select(col(Instance.state))).all())
        assert states == Counter({"ACTIVE": len(ids)})
    finally:
        engine.close()
