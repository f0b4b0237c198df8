"""Property: whatever the fleet's states and whatever the reports, a sweep finishes, moves only legally, audits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlmodel import col

from engine import audit
from engine.demo import seed_demo
from engine.domain import InstanceState, can_transition
from engine.guardian import DecisionKind, HealLedger, HealthReport, ProviderSignal, sweep
from engine.store import Instance, open_store

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
STATES = [s.value for s in InstanceState]

_odd = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.text(max_size=3),
)
_report = st.fixed_dictionaries(
    {
        "cpu": _odd,
        "disk": _odd,
        "mem": _odd,
        "gw": _odd,
        "docker": _odd,
        "lat": _odd,
        "restarts": _odd,
        "age": st.integers(-3600, 7200),
        "acct_ok": st.booleans(),
    }
)


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    states=st.lists(st.sampled_from(STATES), min_size=24, max_size=24),
    reports=st.lists(st.one_of(st.none(), _report), min_size=24, max_size=24),
    silence_min=st.lists(st.integers(0, 40), min_size=24, max_size=24),
    outage=st.booleans(),
)
def test_any_fleet_any_reports_the_sweep_finishes_and_moves_legally(
    tmp_path_factory: pytest.TempPathFactory,
    states: list[str],
    reports: list[dict[str, Any] | None],
    silence_min: list[int],
    outage: bool,
) -> None:
    tmp = tmp_path_factory.mktemp("sweep")
    store = open_store(f"sqlite:///{tmp / 'p.db'}")
    try:
        seed_demo(store, 12, seed=5)
        with store.session() as s:
            rows = list(
                s.execute(
                    select(col(Instance.id), col(Instance.account_id), col(Instance.region)).order_by(col(Instance.id))
                ).all()
            )
            for (iid, _, _), state, quiet in zip(rows, states, silence_min, strict=True):
                s.execute(
                    update(Instance)
                    .where(col(Instance.id) == iid)
                    .values(state=state, last_report_at=NOW - timedelta(minutes=quiet))
                )
        built: dict[str, HealthReport] = {}
        for (iid, acct, _), spec in zip(rows, reports, strict=True):
            if spec is None:
                continue
            built[iid] = HealthReport(
                iid,
                NOW - timedelta(seconds=int(spec["age"])),
                account_id=acct if spec["acct_ok"] else "acct-elsewhere",
                cpu_percent=spec["cpu"],
                disk_percent=spec["disk"],
                mem_percent=spec["mem"],
                gateway_up=spec["gw"],
                docker_running=spec["docker"],
                gateway_latency_ms=spec["lat"],
                gateway_restarts_10m=spec["restarts"],
            )
        signals = {rows[0][2]: ProviderSignal("outage")} if outage else {}
        ledger = HealLedger()
        for n in range(2):
            at = NOW + timedelta(minutes=5 * n)
            result = sweep(store, built, at, ledger=ledger, provider_signals=signals)
            for t in result.transitions:
                assert can_transition(InstanceState(t.from_state), InstanceState(t.to_state))
            for d in result.decisions:
                if d.kind is DecisionKind.ACT:
                    assert d.action is not None and d.action["tool"] != "teardown"
            assert all(0 <= h.value <= 100 for h in result.scores.values())
        with store.session() as s:
            after = {iid: state for iid, state in s.execute(select(col(Instance.id), col(Instance.state))).all()}
        for (iid, _, _), before in zip(rows, states, strict=True):
            if before in (
                "DELETED",
                "REQUESTED",
                "CREATING",
                "BOOTSTRAPPING",
                "STANDBY_PROMOTING",
                "DRAINING",
                "ARCHIVING",
                "ERROR",
                "FAILED",
            ):
                assert after[iid] == before  # the sweep only moves ACTIVE, DEGRADED and HEALING
        assert audit.verify(store).ok
    finally:
        store.dispose()
