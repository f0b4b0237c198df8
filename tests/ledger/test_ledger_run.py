"""The 6-hourly Ledger run: snapshot, all three analyses in one read, notable changes for Commander."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlmodel import col

from engine.config import Settings
from engine.ledger import cost_analyses, cost_analysis, ledger_run, notable_changes
from engine.store import Account, CostSnapshot, Instance, Store
from tests.ledger.ledger_fleet import NOW, OWNER


def test_combined_analyses_equal_the_single_calls(fleet: Store, settings: Settings) -> None:
    with fleet.session() as s:
        many = cost_analyses(s, OWNER, ("report", "waste", "forecast"), "week", settings, now=NOW)
        for kind in ("report", "waste", "forecast"):
            assert many[kind] == cost_analysis(s, OWNER, kind, "week", settings, now=NOW), kind


def test_a_run_snapshots_today_and_reports_new_findings_once(sqlite_fleet: Store, settings: Settings) -> None:
    first = ledger_run(sqlite_fleet, settings, now=NOW)
    assert first.snapshot_rows > 0
    with sqlite_fleet.session() as s:
        days = s.execute(select(func.count(func.distinct(CostSnapshot.day)))).scalar_one()
    assert days == 1
    assert any(
        c.startswith(
            "2 oversized (finding oversized): recommend downsize to nano, saves €37.62/month; "
            "call resize(selector={'finding': 'oversized'}, tier='nano')"
        )
        for c in first.changes
    )
    assert any(c.startswith("2 idle (finding idle)") for c in first.changes)
    assert first.summary.startswith("Costs: €") and "3 findings open" in first.summary
    again = ledger_run(sqlite_fleet, settings, previous=first.state, now=NOW + timedelta(hours=6))
    assert again.changes == []  # nothing moved: Commander hears nothing
    with sqlite_fleet.session() as s:  # the idle users come back; a big DO box appears
        s.execute(update(Account).where(col(Account.id).in_(("acct-idle1", "acct-idle2"))).values(last_session_at=NOW))
        s.execute(update(Instance).where(col(Instance.id) == "i-acct-cheapp-p").values(monthly_price=400.0))
    later = ledger_run(sqlite_fleet, settings, previous=again.state, now=NOW + timedelta(hours=12))
    assert "Finding idle cleared: nothing is idle any more." in later.changes
    assert any(c.startswith("Spend is €") and "since the last run" in c for c in later.changes)
    assert any("cheaper_elsewhere (finding cheaper_elsewhere)" in c for c in later.changes)


def test_a_near_budget_is_notable() -> None:
    state = {"monthly_eur": 100.0, "growth_pct_per_month": 3.0, "budget_hit_on": "2026-12-10", "findings": {}}
    assert notable_changes(None, state, NOW.date()) == [
        "At the current trend the monthly budget is reached on 2026-12-10 (in 16 days)."
    ]
    assert notable_changes(state, state, NOW.date()) == []
    far = {**state, "budget_hit_on": "2027-06-01"}
    assert notable_changes(None, far, NOW.date()) == []


@pytest.mark.parametrize("period", ["week", "month"])
def test_period_sets_the_period_figures(sqlite_fleet: Store, settings: Settings, period: str) -> None:
    with sqlite_fleet.session() as s:
        r = cost_analysis(s, OWNER, "report", period, settings, now=NOW)
    days = 7 if period == "week" else 30
    assert r["period_days"] == days
    assert r["totals"]["period_eur"] == pytest.approx(r["totals"]["monthly_eur"] * 12 / 365 * days, abs=0.01)


def test_the_garbage_collector_is_restored_even_when_the_analysis_fails(
    sqlite_fleet: Store, settings: Settings
) -> None:
    import gc

    from engine.errors import InputError

    assert gc.isenabled()
    with sqlite_fleet.session() as s:
        cost_analysis(s, OWNER, "waste", "month", settings, now=NOW)
        assert gc.isenabled()
        with pytest.raises(InputError):
            cost_analyses(s, OWNER, ("waste", "invoice"), "month", settings, now=NOW)
        assert gc.isenabled()
        gc.disable()
        try:
            cost_analysis(s, OWNER, "report", "month", settings, now=NOW)
            assert not gc.isenabled()  # left as the caller had it
        finally:
            gc.enable()
