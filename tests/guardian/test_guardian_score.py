"""The health score: the formula's bands and reasons, bad reports, and that it never raises."""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.guardian import (
    Band,
    HealthReport,
    ProviderSignal,
    accept_report,
    band_for,
    format_duration,
    missed_sweeps_since,
    score,
)
from engine.guardian import _thresholds as T

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def report(**kw: Any) -> HealthReport:
    base: dict[str, Any] = dict(
        instance_id="i-acct-042-p",
        received_at=NOW - timedelta(seconds=10),
        sent_at=NOW - timedelta(seconds=10),
        account_id="acct-042",
        cpu_percent=20.0,
        mem_percent=40.0,
        disk_percent=40.0,
        load_1=0.5,
        vcpus=2,
        gateway_up=True,
        gateway_latency_ms=40.0,
        docker_running=True,
        gateway_restarts_10m=0,
        uptime_s=86400.0,
    )
    base.update(kw)
    return HealthReport(**base)


# --- the formula -------------------------------------------------------------------------------------


def test_a_clean_report_scores_100_and_says_so() -> None:
    s = score(report(), NOW)
    assert (s.value, s.band) == (100, Band.HEALTHY)
    assert s.explain() == "100: all checks pass"


def test_explain_reads_like_the_issue_example() -> None:
    s = score(report(disk_percent=96.0, gateway_restarts_10m=3), NOW)
    expected = 100 - T.PENALTY_DISK_CRITICAL - 3 * T.PENALTY_PER_GATEWAY_RESTART
    assert s.value == expected
    assert s.band is Band.DEGRADED
    assert s.explain() == f"{expected}: disk 96 %, gateway restarted 3x in 10 min"


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (100, Band.HEALTHY),
        (T.HEALTHY_MIN, Band.HEALTHY),
        (T.HEALTHY_MIN - 1, Band.DEGRADED),
        (T.DEGRADED_MIN, Band.DEGRADED),
        (T.DEGRADED_MIN - 1, Band.CRITICAL),
        (0, Band.CRITICAL),
    ],
)
def test_bands_follow_the_named_thresholds(value: int, band: Band) -> None:
    assert band_for(value) is band


@pytest.mark.parametrize(
    ("kw", "code", "penalty"),
    [
        ({"gateway_up": False}, "gateway_down", T.PENALTY_GATEWAY_DOWN),
        ({"docker_running": False}, "docker_down", T.PENALTY_DOCKER_DOWN),
        ({"gateway_latency_ms": 700.0}, "latency", T.PENALTY_LATENCY_WARN),
        ({"gateway_latency_ms": 2400.0}, "latency", T.PENALTY_LATENCY_CRITICAL),
        ({"gateway_restarts_10m": 1}, "gateway_restarts", T.PENALTY_PER_GATEWAY_RESTART),
        ({"gateway_restarts_10m": 50}, "gateway_crash_loop", T.PENALTY_GATEWAY_RESTARTS_MAX),
        ({"disk_percent": 88.0}, "disk", T.PENALTY_DISK_WARN),
        ({"disk_percent": 99.0}, "disk", T.PENALTY_DISK_CRITICAL),
        ({"mem_percent": 92.0}, "memory", T.PENALTY_MEM_WARN),
        ({"mem_percent": 98.0}, "memory", T.PENALTY_MEM_CRITICAL),
        ({"cpu_percent": 99.0}, "cpu", T.PENALTY_CPU_WARN),
        ({"load_1": 5.0, "vcpus": 2}, "load", T.PENALTY_LOAD_WARN),
        ({"received_at": NOW - timedelta(minutes=4)}, "stale", T.PENALTY_STALE_REPORT),
        ({"uptime_s": 120.0}, "rebooted", T.PENALTY_RECENT_BOOT),
        ({"gateway_up": None}, "missing", T.PENALTY_MISSING_GATEWAY_READING),
        ({"docker_running": None}, "missing", T.PENALTY_MISSING_DOCKER_READING),
    ],
)
def test_each_reading_costs_its_named_penalty(kw: dict[str, Any], code: str, penalty: int) -> None:
    s = score(report(**kw), NOW)
    assert s.value == 100 - penalty
    assert [r.code for r in s.reasons if r.penalty] == [code]


def test_gateway_down_is_critical_and_ignores_latency() -> None:
    s = score(report(gateway_up=False, gateway_latency_ms=5000.0), NOW)
    assert s.band is Band.CRITICAL
    assert "latency" not in s.codes


def test_missed_sweeps_cap_the_score_then_fail_it() -> None:
    one = score(report(), NOW, missed_sweeps=1)
    assert one.value == T.UNREACHABLE_CAP and one.band is Band.CRITICAL
    assert one.explain() == f"{T.UNREACHABLE_CAP}: unreachable for 1 sweep"
    both = score(report(disk_percent=96.0), NOW, missed_sweeps=2)
    assert both.explain() == f"{T.UNREACHABLE_CAP}: unreachable for 2 sweeps, disk 96 %"
    gone = score(report(), NOW, missed_sweeps=T.FAILED_AFTER_MISSED_SWEEPS)
    assert (gone.value, gone.band) == (0, Band.FAILED)
    assert gone.explain() == "0: unreachable for 3 sweeps (15 min)"
    never = score(None, NOW, missed_sweeps=0)
    assert never.value <= T.UNREACHABLE_CAP and "no report received" in never.explain()


def test_provider_signals_cost_points() -> None:
    outage = score(report(), NOW, provider_signal=ProviderSignal("outage", detail="NBG1 network"))
    assert outage.value == 100 - T.PENALTY_PROVIDER_OUTAGE
    assert "provider reports an outage here (NBG1 network)" in outage.explain()
    assert score(report(), NOW, provider_signal=ProviderSignal("degraded")).value == 100 - T.PENALTY_PROVIDER_DEGRADED
    off = score(report(), NOW, provider_signal=ProviderSignal("operational", server_status="off"))
    assert off.band is Band.CRITICAL and "server_down" in off.codes
    assert score(report(), NOW, provider_signal=ProviderSignal("operational", server_status="running")).value == 100


def test_missed_sweeps_since_counts_whole_intervals() -> None:
    assert missed_sweeps_since(NOW - timedelta(seconds=299), NOW) == 0
    assert missed_sweeps_since(NOW - timedelta(minutes=15), NOW) == 3
    assert missed_sweeps_since(None, NOW, fallback=NOW - timedelta(minutes=6)) == 1
    assert missed_sweeps_since(None, NOW) == T.FAILED_AFTER_MISSED_SWEEPS
    assert missed_sweeps_since(NOW + timedelta(hours=1), NOW) == 0  # a future timestamp is not silence


def test_format_duration() -> None:
    assert [format_duration(x) for x in (5, 240, 7200, 3 * 86400)] == ["5 s", "4 min", "2 h", "3 d"]


# --- bad reports -------------------------------------------------------------------------------------


def test_impossible_readings_are_dropped_with_a_logged_reason(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="engine.guardian"):
        r = report(
            disk_percent=300.0,
            cpu_percent=float("nan"),
            mem_percent=-5.0,
            load_1=-1.0,
            gateway_latency_ms=float("inf"),
            gateway_restarts_10m=-2,
            uptime_s=-10.0,
            gateway_up="yes",
        )
    assert r.disk_percent is None and r.cpu_percent is None and r.mem_percent is None
    assert r.load_1 is None and r.gateway_latency_ms is None and r.gateway_restarts_10m is None
    assert r.uptime_s is None and r.gateway_up is None
    assert any("disk 300 % is impossible" in n for n in r.notes)
    assert "disk 300 % is impossible" in caplog.text
    s = score(r, NOW)
    assert "disk" not in s.codes  # an impossible 300 % is not believed as a full disk
    assert "report notes: " in s.explain() and "disk 300 % is impossible" in s.explain()


def test_percentages_a_hair_over_100_are_rounding_and_clamped() -> None:
    r = report(disk_percent=100.4)
    assert r.disk_percent == 100.0 and not r.notes


def test_missing_fields_are_missing_not_zero() -> None:
    r = HealthReport.parse("i-1", {"gateway_up": True}, NOW)
    assert r.cpu_percent is None and r.disk_percent is None and r.docker_running is None
    assert any(n.startswith("missing ") for n in r.notes)
    s = score(r, NOW)
    assert s.value == 100 - T.PENALTY_MISSING_DOCKER_READING
    bare = HealthReport.parse("i-1", {}, NOW)
    assert score(bare, NOW).band is Band.DEGRADED


def test_parse_accepts_iso_and_epoch_timestamps() -> None:
    epoch_ms = int(NOW.timestamp() * 1000)
    assert HealthReport.parse("i", {"sent_at": epoch_ms}, NOW).sent_at == NOW
    assert HealthReport.parse("i", {"sent_at": NOW.timestamp()}, NOW).sent_at == NOW
    assert HealthReport.parse("i", {"sent_at": NOW.isoformat()}, NOW).sent_at == NOW
    bad = HealthReport.parse("i", {"sent_at": "yesterday-ish"}, NOW)
    assert bad.sent_at is None and any("not a time" in n for n in bad.notes)


def test_naive_times_are_taken_as_utc() -> None:
    r = report(received_at=datetime(2026, 11, 24, 11, 59, 50))
    assert r.received_at.tzinfo is not None
    assert r.age_s(NOW) == 10


def test_clock_skew_is_noted_but_the_engine_clock_ages_the_report() -> None:
    r = report(sent_at=NOW + timedelta(hours=2))
    assert r.skewed and r.clock_skew_s is not None and r.clock_skew_s > 7000
    s = score(r, NOW)
    assert s.value == 100  # noted, free: the readings are still good
    assert "node clock 2 h ahead" in s.explain()
    behind = score(report(sent_at=NOW - timedelta(hours=3)), NOW)
    assert "node clock 3 h behind" in behind.explain()


def test_accept_report_rejects_duplicates_and_out_of_order(caplog: pytest.LogCaptureFixture) -> None:
    first = report()
    assert accept_report(None, first).accepted
    with caplog.at_level(logging.WARNING, logger="engine.guardian"):
        dup = accept_report(first, report())
    assert not dup.accepted and "duplicate" in dup.reason and "duplicate" in caplog.text
    older = report(sent_at=NOW - timedelta(seconds=40), received_at=NOW - timedelta(seconds=5), cpu_percent=50.0)
    late = accept_report(first, older)
    assert not late.accepted and "out of order" in late.reason
    newer = report(sent_at=NOW, received_at=NOW, cpu_percent=30.0)
    assert accept_report(first, newer).accepted


def test_accept_report_orders_by_receive_time_when_a_clock_is_skewed() -> None:
    skewed = report(sent_at=NOW + timedelta(hours=5))
    fixed_clock = report(sent_at=NOW, received_at=NOW, cpu_percent=33.0)
    assert accept_report(skewed, fixed_clock).accepted  # a node whose clock was fixed is not frozen out
    stale = report(sent_at=NOW + timedelta(hours=6), received_at=NOW - timedelta(minutes=1), cpu_percent=1.0)
    assert not accept_report(skewed, stale).accepted


def test_accept_report_rejects_foreign_and_future_reports() -> None:
    other = report(account_id="acct-999")
    res = accept_report(None, other, expected_account="acct-042")
    assert not res.accepted and "acct-999" in res.reason
    assert not accept_report(report(instance_id="i-x"), report()).accepted
    future = report(received_at=NOW + timedelta(hours=1))
    assert not accept_report(None, future, now=NOW).accepted


def test_from_node_maps_the_wire_report() -> None:
    from node.protocol import NodeHealthReport

    wire = NodeHealthReport(
        node_id="n1",
        hostname="h",
        account_id="acct-042",
        instance_id="i-acct-042-p",
        provider="hetzner",
        region="eu-hetzner-nbg1",
        tier="standard",
        role="primary",
        ts_ms=int(NOW.timestamp() * 1000),
        clawnode_version="1",
        cpu_percent=12.0,
        mem_total_bytes=1000,
        mem_available_bytes=250,
        disk_total_bytes=1000,
        disk_free_bytes=40,
        uptime_s=5000.0,
        docker_available=True,
        gateway_running=True,
        gateway_ws_latency_ms=30.0,
    )
    broken = replace(wire, docker_available=None, errors={"docker": "docker not installed"})
    b = HealthReport.from_node(broken, NOW)
    assert b.notes == ("docker collector: docker not installed",)
    assert "no docker reading, report notes: docker collector: docker not installed" in score(b, NOW).explain()
    r = HealthReport.from_node(wire, NOW, gateway_restarts_10m=1, vcpus=2)
    assert r.instance_id == "i-acct-042-p" and r.account_id == "acct-042"
    assert r.mem_percent == pytest.approx(75.0) and r.disk_percent == pytest.approx(96.0)
    assert r.sent_at == NOW and r.gateway_restarts_10m == 1
    assert (
        score(r, NOW).explain() == f"{100 - T.PENALTY_DISK_CRITICAL - T.PENALTY_PER_GATEWAY_RESTART}: disk 96 %, "
        "gateway restarted 1x in 10 min"
    )


# --- never raises ------------------------------------------------------------------------------------


def test_the_last_resort_guard_turns_a_crash_into_a_critical_score(monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.guardian._score as mod

    def boom(*_: Any) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(mod, "_score_readings", boom)
    s = score(report(), NOW)
    assert (s.value, s.band) == (0, Band.CRITICAL) and "could not be computed" in s.explain()


_odd = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
)
_times = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    cpu=_odd,
    mem=_odd,
    disk=_odd,
    load=_odd,
    vcpus=_odd,
    gw=_odd,
    lat=_odd,
    docker=_odd,
    restarts=_odd,
    up=_odd,
    received=_times,
    sent=st.one_of(st.none(), _times, _odd),
    now=_times,
    missed=st.one_of(st.integers(min_value=-5, max_value=10**9), st.floats(allow_nan=True), st.none()),
    status=st.sampled_from(["operational", "degraded", "outage", "unknown", "", "weird"]),
    server=st.one_of(st.none(), st.text(max_size=8)),
)
def test_score_never_raises_and_stays_in_range(**kw: Any) -> None:
    r = HealthReport(
        instance_id="i-x",
        received_at=kw["received"],
        sent_at=kw["sent"],
        cpu_percent=kw["cpu"],
        mem_percent=kw["mem"],
        disk_percent=kw["disk"],
        load_1=kw["load"],
        vcpus=kw["vcpus"],
        gateway_up=kw["gw"],
        gateway_latency_ms=kw["lat"],
        docker_running=kw["docker"],
        gateway_restarts_10m=kw["restarts"],
        uptime_s=kw["up"],
    )
    for rep in (r, None):
        s = score(rep, kw["now"], kw["missed"], ProviderSignal(kw["status"], kw["server"]))
        assert isinstance(s.value, int) and 0 <= s.value <= 100
        assert s.band in Band
        assert "error" not in s.codes  # handled as input, not by the last-resort guard
        assert s.explain().startswith(f"{s.value}: ")
    for value in (r.cpu_percent, r.mem_percent, r.disk_percent):
        assert value is None or (0.0 <= value <= 100.0 and math.isfinite(value))
