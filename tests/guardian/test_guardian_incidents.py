"""Incidents are opened once and closed when over; silences mute alerts; stored reports feed the sweep."""

from __future__ import annotations

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
    HealLedger,
    HealthReport,
    ProviderSignal,
    load_reports,
    report_record,
    silence_matcher,
    sweep,
)
from engine.store import AuditEntry, HealthReportRecord, Incident, Instance, Silence, Store, open_store
from node.protocol import NodeHealthReport

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    st = open_store(sqlite_url)
    seed_demo(st, 80, seed=11)
    yield st
    st.dispose()


def _rows(store: Store) -> list[Any]:
    with store.session() as s:
        return list(
            s.execute(
                select(col(Instance.id), col(Instance.account_id), col(Instance.region), col(Instance.state))
            ).all()
        )


def _good(iid: str, acct: str, at: datetime) -> HealthReport:
    return HealthReport(
        iid,
        at - timedelta(seconds=10),
        account_id=acct,
        cpu_percent=20.0,
        mem_percent=40.0,
        disk_percent=40.0,
        gateway_up=True,
        docker_running=True,
        gateway_latency_ms=30.0,
        uptime_s=86400.0,
    )


def _outage(store: Store) -> tuple[str, set[str]]:
    rows = [r for r in _rows(store) if r[3] in ("ACTIVE", "DEGRADED")]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r[2]] = counts.get(r[2], 0) + 1
    region = max(counts, key=lambda k: counts[k])
    down = {r[0] for r in rows if r[2] == region}
    with store.session() as s:
        s.execute(update(Instance).values(last_report_at=NOW - timedelta(minutes=1)))
        s.execute(update(Instance).where(col(Instance.id).in_(down)).values(last_report_at=NOW - timedelta(minutes=6)))
    return region, down


def _reports(store: Store, at: datetime, skip: set[str]) -> dict[str, HealthReport]:
    return {r[0]: _good(r[0], r[1], at) for r in _rows(store) if r[0] not in skip}


def _actions(store: Store, prefix: str) -> list[AuditEntry]:
    with store.session() as s:
        return list(s.execute(select(AuditEntry).where(col(AuditEntry.action).startswith(prefix))).scalars().all())


def test_an_outage_is_notified_once_updated_when_confirmed_and_closed_when_over(store: Store) -> None:
    region, down = _outage(store)
    ledger = HealLedger()
    first = sweep(store, _reports(store, NOW, down), NOW, ledger=ledger)
    key = f"incident:{region}"
    assert first.incidents is not None and [a.key for a in first.incidents.opened] == [key]
    assert key in [a.key for a in first.notify] and first.needs_human

    t2 = NOW + timedelta(minutes=5)
    second = sweep(store, _reports(store, t2, down), t2, ledger=ledger)
    assert second.incidents is not None and not second.incidents.opened
    assert key in [a.key for a in second.alerts] and key not in [a.key for a in second.notify]  # no repeat

    t3 = t2 + timedelta(minutes=5)
    third = sweep(
        store, _reports(store, t3, down), t3, ledger=ledger, provider_signals={region: ProviderSignal("outage")}
    )
    assert third.incidents is not None and [a.key for a in third.incidents.updated] == [key]

    t4 = t3 + timedelta(minutes=5)
    with store.session() as s:  # the region is back: its nodes report again, and an operator revives the boxes
        s.execute(
            update(Instance).where(col(Instance.id).in_(down), col(Instance.state) == "FAILED").values(state="ACTIVE")
        )
    fourth = sweep(store, _reports(store, t4, set()), t4, ledger=ledger)
    assert fourth.incidents is not None and fourth.incidents.closed == [key]
    with store.session() as s:
        rows = s.execute(select(Incident)).scalars().all()
    assert len(rows) == 1 and rows[0].status == "closed" and rows[0].closed_at is not None
    timeline = [e.action for e in _actions(store, "incident.")]
    assert timeline == ["incident.open", "incident.update", "incident.close"]
    assert audit.verify(store).ok


def test_stored_silences_mute_alerts_until_they_expire(store: Store) -> None:
    region, down = _outage(store)
    with store.session() as s:
        s.add(
            Silence(
                id="sil-1",
                selector={"region": region},
                until=NOW + timedelta(minutes=30),
                reason="maintenance",
                created_by="owner",
            )
        )
    muted = sweep(store, _reports(store, NOW, down), NOW)
    assert not muted.alerts and not muted.needs_human and muted.summary is None
    assert muted.suspect_regions == [region]  # muted is not blind: Guardian still sees and handles it
    later = NOW + timedelta(minutes=31)
    loud = sweep(store, _reports(store, later, down), later)
    assert any(a.key == f"incident:{region}" for a in loud.alerts)


def test_silence_matcher_selectors() -> None:
    item = AlertItem("i-acct-001-p", "acct-001", "primary", "hetzner", "eu-hetzner-nbg1", "failed", "x")
    assert silence_matcher([{"region": "eu-hetzner-nbg1"}])(item)
    assert silence_matcher([{"provider": "hetzner", "role": "primary"}])(item)
    assert not silence_matcher([{"provider": "hetzner", "role": "standby"}])(item)
    assert silence_matcher([{"accounts": ["acct-001"]}])(item)
    assert silence_matcher([{"instances": ["i-acct-001-p"]}])(item)
    assert silence_matcher([{"geo": "eu"}])(item) and not silence_matcher([{"geo": "us"}])(item)
    assert not silence_matcher([{}])(item)  # an empty selector never mutes everything
    assert not silence_matcher([])(item)


def test_stored_reports_round_trip_into_the_sweep(store: Store) -> None:
    rows = _rows(store)
    iid, acct = rows[0][0], rows[0][1]
    wire = NodeHealthReport(
        node_id="dev-1",
        hostname="h",
        account_id=acct,
        instance_id=iid,
        provider="hetzner",
        region="eu-hetzner-nbg1",
        tier="standard",
        role="primary",
        ts_ms=int(NOW.timestamp() * 1000),
        clawnode_version="1",
        cpu_percent=10.0,
        mem_total_bytes=100,
        mem_available_bytes=60,
        disk_total_bytes=100,
        disk_free_bytes=4,
        uptime_s=9000.0,
        docker_available=True,
        gateway_running=True,
        gateway_ws_latency_ms=20.0,
    )
    with store.session() as s:
        s.merge(report_record(wire, NOW - timedelta(seconds=5), gateway_restarts_10m=2))
        s.add(HealthReportRecord(instance_id=rows[1][0], received_at=NOW, payload={"not": "a report"}))
        s.add(HealthReportRecord(instance_id=rows[2][0], received_at=NOW, payload={**wire.to_payload()}))  # wrong id
    loaded = load_reports(store)
    assert set(loaded) == {iid}  # the junk payload and the one filed under the wrong id are skipped
    r = loaded[iid]
    assert r.disk_percent == pytest.approx(96.0) and r.gateway_restarts_10m == 2
    assert r.received_at == NOW - timedelta(seconds=5)
    res = sweep(store, {iid: r}, NOW)
    assert res.scores[iid].explain() == "65: disk 96 %, gateway restarted 2x in 10 min"
    assert load_reports(store, [iid]).keys() == {iid}
