"""The cost model, daily snapshots and the forecast: EUR totals that say what they converted, trends, budgets."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlmodel import col

from engine.config import Settings
from engine.errors import InputError
from engine.ledger import cost_analysis, load_history, record_daily_snapshot
from engine.ledger._model import next_term_end
from engine.store import CostSnapshot, Instance, Store
from evals.stores import fresh_store
from tests.ledger.ledger_fleet import NOW, OWNER, TENANT_A, TENANT_B


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A new empty SQLite store (migrated once per process and copied: evals/stores.py)."""
    return f"sqlite:///{fresh_store(tmp_path / 'clawops.db')}"


DAILY = 12 / 365


def analyse(
    store: Store, kind: str, caller: Any = OWNER, period: str = "month", settings: Settings | None = None, **kw: Any
) -> dict[str, Any]:
    with store.session() as s:
        return cost_analysis(s, caller, kind, period, settings or Settings(usd_to_eur=0.92), now=NOW, **kw)


def expected_monthly(rate: float = 0.92, tenant: str | None = None) -> float:
    from tests.ledger.ledger_fleet import build_rows

    total = 0.0
    for r in build_rows()[2]:
        if r["state"] in ("DELETED",) or r["monthly_price"] <= 0 or r["currency"] not in ("EUR", "USD"):
            continue
        if tenant and r["tenant_id"] != tenant:
            continue
        total += r["monthly_price"] * (rate if r["currency"] == "USD" else 1.0)
    return total


def test_report_totals_are_eur_at_the_configured_rate_and_say_so(fleet: Store) -> None:
    report = analyse(fleet, "report")
    totals = report["totals"]
    assert totals["monthly_eur"] == pytest.approx(expected_monthly(), abs=0.01)
    assert totals["daily_eur"] == pytest.approx(expected_monthly() * DAILY, abs=0.01)
    assert totals["weekly_eur"] == pytest.approx(expected_monthly() * DAILY * 7, abs=0.01)
    assert totals["period_eur"] == totals["monthly_eur"] or report["period"] == "month"
    assert report["currency"] == "EUR" and report["currency_note"] == "USD converted at 0.92"
    other = analyse(fleet, "report", settings=Settings(usd_to_eur=1.0))
    assert other["currency_note"] == "USD converted at 1"
    assert other["totals"]["monthly_eur"] == pytest.approx(expected_monthly(1.0), abs=0.01)
    assert other["totals"]["monthly_eur"] > totals["monthly_eur"]


def test_report_breaks_spend_down_by_provider_region_tier_tenant_and_billing(fleet: Store) -> None:
    report = analyse(fleet, "report", period="week")
    for key in ("by_provider", "by_region", "by_tier", "by_tenant", "by_billing"):
        groups = report[key]
        assert sum(g["monthly_eur"] for g in groups.values()) == pytest.approx(
            report["totals"]["monthly_eur"], abs=0.05
        )
        assert sum(g["instances"] for g in groups.values()) == report["totals"]["priced_instances"]
        for g in groups.values():
            assert g["period_eur"] == pytest.approx(g["monthly_eur"] * DAILY * 7, abs=0.01)
    assert report["by_provider"]["vultr"]["monthly_eur"] == pytest.approx((20 + 20 + 10) * 0.92, abs=0.01)
    assert set(report["by_billing"]) == {"hourly_capped", "monthly_contract"}
    assert report["by_tenant"]["t-a"]["monthly_eur"] == pytest.approx(expected_monthly(tenant="t-a"), abs=0.01)
    assert list(report["by_provider"]) == sorted(
        report["by_provider"], key=lambda p: -report["by_provider"][p]["monthly_eur"]
    )


def test_a_fleet_without_usd_has_no_currency_note(sqlite_fleet: Store) -> None:
    with sqlite_fleet.session() as s:
        s.execute(update(Instance).where(col(Instance.currency) == "USD").values(currency="EUR"))
    assert analyse(sqlite_fleet, "report")["currency_note"] is None


def test_kind_and_period_are_validated(sqlite_fleet: Store) -> None:
    with pytest.raises(InputError, match="kind 'invoice'"):
        analyse(sqlite_fleet, "invoice")
    with pytest.raises(InputError, match="period 'year'"):
        analyse(sqlite_fleet, "report", period="year")


# ---------------------------------------------------------------------------- snapshots
def test_daily_snapshots_are_idempotent_and_match_the_report(fleet: Store) -> None:
    day = NOW.date()
    first = record_daily_snapshot(fleet, day)
    again = record_daily_snapshot(fleet, day.isoformat())
    with fleet.session() as s:
        rows = s.execute(
            select(col(CostSnapshot.monthly_eur), col(CostSnapshot.instances), col(CostSnapshot.daily_eur))
        ).all()
    assert first == again == len(rows) > 0
    assert sum(r.monthly_eur for r in rows) == pytest.approx(expected_monthly(), abs=0.01)
    assert sum(r.instances for r in rows) == 24  # every billed instance, priced or not
    assert sum(r.daily_eur for r in rows) == pytest.approx(expected_monthly() * DAILY, abs=0.01)
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        record_daily_snapshot(fleet, "24/11/2026")


def test_history_is_tenant_scoped_and_feeds_the_sparkline(fleet: Store) -> None:
    for back in range(10):
        record_daily_snapshot(fleet, NOW.date() - timedelta(days=back))
    with fleet.session() as s:
        everyone = load_history(s, OWNER, NOW.date())
        only_a = load_history(s, TENANT_A, NOW.date())
        only_b = load_history(s, TENANT_B, NOW.date())
    assert len(everyone.days) == 10
    assert everyone.daily_eur[-1] == pytest.approx(only_a.daily_eur[-1] + only_b.daily_eur[-1])
    report = analyse(fleet, "report", caller=TENANT_A)
    assert report["history"]["days"] == 10
    assert report["history"]["period_actual_eur"] == pytest.approx(only_a.daily_eur[-1] * 10, abs=0.05)
    assert set(report["history"]["by_provider_daily_eur"]) == {"hetzner", "vultr", "digitalocean", "contabo"}


# ---------------------------------------------------------------------------- forecast
def grow(store: Store, days: int, start_eur: float, per_day: float) -> None:
    """Synthetic history for tenant t-a: spend growing linearly, one instance a day in eu-hetzner-nbg1."""
    rows = []
    for i in range(days):
        day = (NOW.date() - timedelta(days=days - 1 - i)).isoformat()
        monthly = start_eur + per_day * i
        rows.append(
            {
                "day": day,
                "provider": "hetzner",
                "region": "eu-hetzner-nbg1",
                "tier": "standard",
                "tenant_id": "t-a",
                "instances": 10 + i,
                "monthly_eur": monthly,
                "daily_eur": monthly * DAILY,
            }
        )
    with store.session() as s:
        s.execute(insert(CostSnapshot), rows)


def test_forecast_follows_the_trend_and_says_when_the_budget_is_hit(fleet: Store) -> None:
    grow(fleet, 60, 100.0, 1.0)  # +€30/month
    fc = analyse(fleet, "forecast", caller=TENANT_A)["forecast"]
    now = fc["monthly_eur_now"]
    assert fc["trend_eur_per_month"] == pytest.approx(30.0, abs=0.01)
    assert fc["monthly_eur_in_30_days"] == pytest.approx(now + 30, abs=0.01)
    assert fc["instances_per_month"] == pytest.approx(30.0, abs=0.1)
    assert fc["budget"] == {"configured": False, "note": "No monthly budget is configured, so no date can be given."}
    assert any("60 days of snapshots" in a for a in fc["assumptions"])
    fc = analyse(fleet, "forecast", caller=TENANT_A, budget_eur=now + 10.0)["forecast"]
    assert fc["budget"]["hit_on"] == (NOW.date() + timedelta(days=10)).isoformat()
    fc = analyse(fleet, "forecast", caller=TENANT_A, budget_eur=now - 1)["forecast"]
    assert fc["budget"]["hit_on"] == NOW.date().isoformat() and "Already over budget" in fc["budget"]["note"]


def test_forecast_without_history_assumes_flat_spend_and_says_so(fleet: Store) -> None:
    fc = analyse(fleet, "forecast", budget_eur=1_000_000.0)["forecast"]
    assert fc["trend_eur_per_month"] == 0 and fc["history_days"] == 0
    assert fc["budget"]["hit_on"] is None and "Not reached" in fc["budget"]["note"]
    assert any("no trend yet" in a for a in fc["assumptions"])
    assert any("No provider quotas" in a for a in fc["assumptions"])


def test_headroom_per_region_against_a_quota(fleet: Store) -> None:
    grow(fleet, 31, 100.0, 0.0)  # one more instance a day in eu-hetzner-nbg1
    fc = analyse(fleet, "forecast", caller=TENANT_A, region_quotas={"eu-hetzner-nbg1": 20, "contabo": 2})["forecast"]
    head = {h["region"]: h for h in fc["headroom"]}
    nbg1 = head["eu-hetzner-nbg1"]
    assert nbg1["growth_30d"] == pytest.approx(30.0)
    assert nbg1["quota"] == 20 and nbg1["headroom"] == 20 - nbg1["instances"]
    assert nbg1["full_in_days"] == nbg1["headroom"]  # one a day
    assert head["eu-contabo-nue"]["quota"] == 2 and head["eu-contabo-nue"]["full_on"] == "now"
    assert sum(h["primary_share_pct"] for h in fc["headroom"]) == pytest.approx(100.0, abs=0.5)


@pytest.mark.parametrize(
    ("created", "today", "expected"),
    [
        (date(2026, 1, 16), date(2026, 11, 24), date(2026, 12, 16)),
        (date(2026, 1, 31), date(2027, 2, 10), date(2027, 2, 28)),
        (date(2026, 3, 24), date(2026, 11, 24), date(2026, 12, 24)),
        (date(2025, 12, 30), date(2026, 12, 31), date(2027, 1, 30)),
    ],
)
def test_contract_terms_renew_on_the_purchase_day(created: date, today: date, expected: date) -> None:
    from datetime import datetime

    assert next_term_end(datetime(created.year, created.month, created.day), today) == expected


def test_month_to_date_bills_hours_up_to_the_cap_and_contracts_in_full(sqlite_fleet: Store) -> None:
    from engine.domain import PLANS, Billing, Provider, Tier
    from tests.ledger.ledger_fleet import build_rows

    with sqlite_fleet.session() as s:  # one hourly server bought this month, 36 hours ago
        s.execute(
            update(Instance).where(col(Instance.id) == "i-acct-cheap1-p").values(created_at=NOW - timedelta(hours=36))
        )
    hours = (23 * 24) + 12  # 2026-11-01 00:00 → 2026-11-24 12:00
    expected = 0.0
    for r in build_rows()[2]:
        if r["state"] == "DELETED" or r["monthly_price"] <= 0 or r["currency"] not in ("EUR", "USD"):
            continue
        rate = 0.92 if r["currency"] == "USD" else 1.0
        plan = PLANS[(Provider(r["provider"]), Tier(r["tier"]))]
        if plan.billing is not Billing.HOURLY_CAPPED:
            expected += r["monthly_price"] * rate
            continue
        assert plan.hourly is not None  # an hourly-capped plan has an hourly price
        hourly = plan.hourly * rate if plan.monthly == r["monthly_price"] else r["monthly_price"] * rate / 730
        h = 36 if r["id"] == "i-acct-cheap1-p" else hours
        expected += min(hourly * h, r["monthly_price"] * rate)
    totals = analyse(sqlite_fleet, "report")["totals"]
    assert totals["month_to_date_eur"] == pytest.approx(expected, abs=0.01)
    assert totals["month_to_date_eur"] < totals["monthly_eur"]


def test_the_trend_counts_calendar_days_across_gaps(sqlite_fleet: Store) -> None:
    rows = [
        {
            "day": (NOW.date() - timedelta(days=back)).isoformat(),
            "provider": "hetzner",
            "region": "eu-hetzner-nbg1",
            "tier": "nano",
            "tenant_id": "t-a",
            "instances": 1,
            "monthly_eur": 100.0 - back,
            "daily_eur": 1.0,
        }
        for back in (0, 1, 10, 20)
    ]  # +€1/day, with gaps
    with sqlite_fleet.session() as s:
        s.execute(insert(CostSnapshot), rows)
    fc = analyse(sqlite_fleet, "forecast", caller=TENANT_A)["forecast"]
    assert fc["trend_eur_per_month"] == pytest.approx(30.0, abs=0.01)
