"""Findings on a fleet where the answer is known: ids, savings, SQL = report, tenant scope, plans keep the promise."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlmodel import col

from engine.config import Settings
from engine.domain import FINDINGS, PLANS, InstanceState, Provider, Tier
from engine.errors import InputError
from engine.ledger import cost_analysis, finding_filter
from engine.ledger._analysis import _fingerprint as fingerprint
from engine.ledger._model import Rules, cheaper_table
from engine.operations import _scope
from engine.operations._drafts import draft_resize, draft_teardown
from engine.providers import ProviderDriver
from engine.providers.registry import DRIVERS
from engine.providers.sim import SimDriver
from engine.store import Account, Instance, Store, Tenant, open_store
from engine.tenancy import scoped
from evals.stores import fresh_store
from tests.ledger.ledger_fleet import KNOWN, NOW, OWNER, TENANT_A, TENANT_B, build_rows, seed


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A new empty SQLite store (migrated once per process and copied: evals/stores.py)."""
    return f"sqlite:///{fresh_store(tmp_path / 'clawops.db')}"


def sql_ids(store: Store, caller: Any, finding: str, rate: float = 0.92) -> set[str]:
    """What a selector {"finding": …} would cover: the SQL condition on a scoped statement."""
    stmt = scoped(select(col(Instance.id)), caller).where(
        col(Instance.state) != InstanceState.DELETED.value, finding_filter(finding, usd_to_eur=rate, now=NOW)
    )
    with store.session() as s:
        return {i for (i,) in s.execute(stmt).all()}


def waste(store: Store, caller: Any, settings: Settings) -> dict[str, Any]:
    with store.session() as s:
        return cost_analysis(s, caller, "waste", "month", settings, now=NOW)


def by_id(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["id"]: f for f in result["findings"]}


def test_each_finding_covers_exactly_the_known_instances(fleet: Store, settings: Settings) -> None:
    found = by_id(waste(fleet, OWNER, settings))
    for finding in FINDINGS:
        assert set(found[finding]["instance_ids"]) == KNOWN[finding], finding
        assert sql_ids(fleet, OWNER, finding) == KNOWN[finding], finding
    assert found["idle"]["unit"] == "accounts" and found["idle"]["count"] == 2
    assert found["idle"]["accounts"] == ["acct-idle1", "acct-idle2"]
    assert found["oversized"]["count"] == 2 and found["cheaper_elsewhere"]["count"] == 5


def test_savings_are_the_hand_computed_figures(fleet: Store, settings: Settings) -> None:
    result = waste(fleet, OWNER, settings)
    found = by_id(result)
    # idle: hetzner standard 5.49 + vultr standard $20 → 18.40 + contabo nano 5.50 + hetzner nano 4.49
    assert found["idle"]["monthly_savings_eur"] == pytest.approx(33.88)
    # oversized to nano: hetzner 8.99 → 4.49, DigitalOcean $48 → $12 (33.12 EUR)
    assert found["oversized"]["monthly_savings_eur"] == pytest.approx(37.62)
    # vultr std → contabo 12.90, DO nano → contabo 5.54 (hetzner is its partner), vultr nano → contabo 3.70,
    # two contabo standard on a 12-month term 1.10 each
    assert found["cheaper_elsewhere"]["monthly_savings_eur"] == pytest.approx(24.34)
    assert result["total_monthly_savings_eur"] == pytest.approx(33.88 + 37.62 + 24.34)
    assert [f["id"] for f in result["findings"]] == ["oversized", "idle", "cheaper_elsewhere"]  # largest first
    assert result["currency_note"] == "USD converted at 0.92"


def test_actions_are_the_calls_that_fix_each_finding(fleet: Store, settings: Settings) -> None:
    found = by_id(waste(fleet, OWNER, settings))
    assert found["idle"]["action"] == {"tool": "teardown", "args": {"selector": {"finding": "idle"}, "archive": True}}
    assert found["oversized"]["action"] == {
        "tool": "resize",
        "args": {"selector": {"finding": "oversized"}, "tier": "nano"},
    }
    assert found["cheaper_elsewhere"]["action"]["agent"] == "forge"  # a re-provision, never a silent move
    for f in found.values():
        assert f["selector"] == {"finding": f["id"]} and len(f["fingerprint"]) == 16


def test_fingerprints_are_stable_and_change_with_membership(fleet: Store, settings: Settings) -> None:
    first = by_id(waste(fleet, OWNER, settings))
    again = by_id(waste(fleet, OWNER, settings))
    assert {k: v["fingerprint"] for k, v in first.items()} == {k: v["fingerprint"] for k, v in again.items()}
    with fleet.session() as s:
        acct = s.get(Account, "acct-cheap1")
        assert acct is not None
        acct.last_session_at = NOW.replace(year=2025)  # now idle: leaves cheaper_elsewhere, joins idle
        s.add(acct)
    moved = by_id(waste(fleet, OWNER, settings))
    assert "acct-cheap1" in moved["idle"]["accounts"]
    assert "i-acct-cheap1-p" not in KNOWN["idle"] and moved["idle"]["fingerprint"] != first["idle"]["fingerprint"]
    assert "i-acct-cheap1-p" not in moved["cheaper_elsewhere"]["instance_ids"]


def test_oversized_says_which_tier_each_would_fit(fleet: Store, settings: Settings) -> None:
    over = by_id(waste(fleet, OWNER, settings))["oversized"]
    assert over["fits"] == {"nano": 2}
    also = over["also_smaller"]
    # hetzner performance at 20 % fits standard, not nano: named by id, never swept into the finding
    assert also["fit_standard"]["action"] == {
        "tool": "resize",
        "args": {"selector": {"instances": ["i-acct-overstd-p"]}, "tier": "standard"},
    }
    assert also["fit_standard"]["monthly_savings_eur"] == pytest.approx(8.99 - 5.49)
    # contabo cannot downsize in place: reported, not selected
    assert also["cannot_shrink_in_place"]["providers"] == ["contabo"]
    assert also["cannot_shrink_in_place"]["instances"] == 1


def test_cheaper_elsewhere_respects_the_pair_and_contract_terms(fleet: Store, settings: Settings) -> None:
    cheap = by_id(waste(fleet, OWNER, settings))["cheaper_elsewhere"]
    moves = {(m["from"], m["to"]): m for m in cheap["moves"]}
    assert set(moves) == {("vultr", "contabo"), ("digitalocean", "contabo"), ("contabo", "contabo on a 12-month term")}
    assert moves[("contabo", "contabo on a 12-month term")]["lock_in_months"] == 12
    assert moves[("contabo", "contabo on a 12-month term")]["instances"] == 2
    # the hetzner primary of acct-pex pays 7.00 but its only cheaper option is Contabo, its partner's provider
    assert "i-acct-pex-p" not in cheap["instance_ids"]
    start = cheap["savings_start"]
    assert start["from_now_eur"] == pytest.approx(12.90 + 5.54 + 3.70)
    assert start["deferred"][0]["provider"] == "contabo" and start["deferred"][0]["monthly_eur"] == pytest.approx(2.2)
    assert cheap["net_12_months_eur"] > 0


def test_contract_savings_start_at_the_term_end(fleet: Store, settings: Settings) -> None:
    idle = by_id(waste(fleet, OWNER, settings))["idle"]
    assert idle["savings_start"]["from_now_eur"] == pytest.approx(33.88 - 5.50)
    (deferred,) = idle["savings_start"]["deferred"]
    # i-acct-idle2-p was bought 100 days before NOW (2026-08-16): its monthly term renews on the 16th
    assert deferred == {
        "provider": "contabo",
        "monthly_eur": 5.5,
        "instances": 1,
        "from": "2026-12-16",
        "until": "2026-12-16",
    }


def test_unknown_prices_usage_and_sessions_are_flagged_not_guessed(fleet: Store, settings: Settings) -> None:
    result = waste(fleet, OWNER, settings)
    unknown = result["unknown"]
    assert unknown["price"]["instances"] == ["i-acct-noprice-p", "i-acct-noprice-s"]  # 0.0 EUR and GBP
    assert unknown["usage"]["instances"] == ["i-acct-nousage-p", "i-acct-nousage-s"]
    assert unknown["sessions"]["accounts"] == ["acct-nosess"]
    every = {i for f in result["findings"] for i in f["instance_ids"]}
    assert not every & {"i-acct-noprice-p", "i-acct-noprice-s", "i-acct-nousage-p"}
    assert result["totals"]["instances"] == 24 and result["totals"]["priced_instances"] == 22


def test_a_scoped_caller_sees_only_its_tenants_money(fleet: Store, settings: Settings) -> None:
    _, _, rows = build_rows()
    tenant_of = {r["id"]: r["tenant_id"] for r in rows}
    for caller, tenant in ((TENANT_A, "t-a"), (TENANT_B, "t-b")):
        result = waste(fleet, caller, settings)
        assert result["scope"] == tenant
        for f in result["findings"]:
            assert {tenant_of[i] for i in f["instance_ids"]} == {tenant}
            assert set(f["instance_ids"]) == KNOWN[f["id"]] & {i for i, t in tenant_of.items() if t == tenant}
        for finding in FINDINGS:
            assert {tenant_of[i] for i in sql_ids(fleet, caller, finding)} <= {tenant}
        with fleet.session() as s:
            report = cost_analysis(s, caller, "report", "month", settings, now=NOW)
        assert set(report["by_tenant"]) == {tenant}
        assert set(report["unknown"]["price"]["instances"]) <= {i for i, t in tenant_of.items() if t == tenant}
    with fleet.session() as s:
        both = cost_analysis(s, OWNER, "report", "month", settings, now=NOW)["totals"]["monthly_eur"]
        a = cost_analysis(s, TENANT_A, "report", "month", settings, now=NOW)["totals"]["monthly_eur"]
        b = cost_analysis(s, TENANT_B, "report", "month", settings, now=NOW)["totals"]["monthly_eur"]
    assert a + b == pytest.approx(both) and 0 < a < both


def _drivers(provider: str) -> ProviderDriver:
    """A stand-in driver with the provider's capabilities: drafting a plan reads nothing else from a driver."""
    driver = SimDriver()
    driver.capabilities = SimDriver.capabilities if provider == "sim" else DRIVERS[provider].capabilities
    return driver


def test_plans_from_the_finding_selector_deliver_the_promised_saving(
    fleet: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wired the way the lead will wire _scope: teardown/resize on {"finding": …} keep the report's promise."""
    monkeypatch.setattr(
        _scope,
        "_apply_finding",
        lambda stmt, finding, *_: stmt.where(finding_filter(finding, usd_to_eur=0.92, now=NOW)),
    )
    found = by_id(waste(fleet, OWNER, settings))
    with fleet.session() as s:
        idle = found["idle"]
        plan = draft_teardown(s, OWNER, dict(idle["action"]["args"]), settings, _drivers)
        assert sorted(plan.targets) == sorted(KNOWN["idle"]) and plan.affected_users == idle["count"]
        assert plan.monthly_cost_delta == pytest.approx(-idle["monthly_savings_eur"])
        over = found["oversized"]
        plan = draft_resize(s, OWNER, dict(over["action"]["args"]), settings, _drivers)
        assert sorted(plan.targets) == sorted(KNOWN["oversized"])
        assert plan.monthly_cost_delta == pytest.approx(-over["monthly_savings_eur"])


def test_an_unknown_finding_is_an_error_not_a_wider_match() -> None:
    with pytest.raises(InputError, match="not known"):
        finding_filter("expensive")


# ---------------------------------------------------------------------------- SQL twin = Python twin
def random_fleet(seed_: int, pairs: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Pairs with every provider/tier/geo mix, prices on and next to the thresholds, odd states and currencies."""
    rng = random.Random(seed_)
    table = cheaper_table(0.92)
    rules = Rules.build(0.92)
    providers = [p for p in Provider if p is not Provider.SIM]
    regions = {
        p: [r for r in __import__("engine.domain", fromlist=["REGIONS"]).REGIONS.values() if r.provider == p]
        for p in providers
    }
    tenants = [{"id": "t-r", "name": "R", "is_demo": False, "created_at": NOW}]
    accounts, instances = [], []
    for n in range(pairs):
        acct = f"acct-r{n}"
        last = rng.choice([None, NOW, NOW.replace(day=1), NOW.replace(month=10, day=1)])
        accounts.append({"id": acct, "tenant_id": "t-r", "label": "", "last_session_at": last, "created_at": NOW})
        pair = rng.sample(providers, 2) if rng.random() < 0.9 else [rng.choice(providers)] * 2
        tier = rng.choice(list(Tier))
        for role, prov in zip(("primary", "standby"), pair, strict=True):
            region = rng.choice(regions[prov])
            plan = PLANS[(prov, tier)]
            monthly, currency = plan.monthly, plan.currency
            roll = rng.random()
            key = table.get((prov.value, tier.value, region.geo.value))
            if key is not None and roll < 0.3:  # exactly on, just under, just over a threshold (in EUR)
                target = rng.choice([key.t1, key.t2 or key.t1])
                monthly, currency = target + rng.choice([0.0, -1e-9, 1e-9, 0.01, -0.01]), "EUR"
            elif roll < 0.35:
                monthly = 0.0
            elif roll < 0.4:
                currency = "GBP"
            over = rules.oversized.get((prov.value, tier.value))
            cpu = rng.choice([None, rng.uniform(0, 100), over[0].cpu_pct if over else 10.0])
            mem = rng.choice([None, rng.uniform(0, 100), over[0].mem_pct if over else 10.0])
            instances.append(
                {
                    "id": f"i-{acct}-{role[0]}",
                    "account_id": acct,
                    "tenant_id": "t-r",
                    "role": role,
                    "provider": prov.value,
                    "region": region.name,
                    "tier": tier.value,
                    "state": rng.choice(["ACTIVE", "ACTIVE", "DEGRADED", "FAILED", "HEALING", "DELETED", "CREATING"]),
                    "monthly_price": monthly,
                    "currency": currency,
                    "cpu_p95": cpu,
                    "mem_p95": mem,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
    return tenants, accounts, instances


@pytest.mark.parametrize("seed_", [1, 2])
def test_sql_conditions_and_the_report_agree_on_a_random_fleet(store_url: str, settings: Settings, seed_: int) -> None:
    store = open_store(store_url)
    try:
        tenants, accounts, instances = random_fleet(seed_, 250)
        with store.session() as s:
            s.execute(insert(Tenant), tenants)
            s.execute(insert(Account), accounts)
            s.execute(insert(Instance), instances)
        result = waste(store, OWNER, settings)
        found = {f["id"]: f for f in result["findings"]}
        sizes = []
        for finding in FINDINGS:
            sql = sql_ids(store, OWNER, finding)
            assert found.get(finding, {"instances": 0})["instances"] == len(sql), finding
            if finding in found:  # the fingerprint covers every id, not just the listed first 100
                assert found[finding]["fingerprint"] == fingerprint(sorted(sql)), finding
            sizes.append(len(sql))
        assert all(sizes), sizes  # the fleet exercises every finding
    finally:
        store.dispose()


def test_the_findings_are_disjoint(sqlite_fleet: Store) -> None:
    tenants, accounts, instances = random_fleet(3, 150)
    with sqlite_fleet.session() as s:
        s.execute(insert(Tenant), tenants)
        s.execute(insert(Account), accounts)
        s.execute(insert(Instance), instances)
    sets = {f: sql_ids(sqlite_fleet, OWNER, f) for f in FINDINGS}
    assert not sets["idle"] & sets["oversized"] and not sets["idle"] & sets["cheaper_elsewhere"]
    assert not sets["oversized"] & sets["cheaper_elsewhere"]


def test_seed_helper_is_reusable(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    seed(store)
    assert sql_ids(store, OWNER, "idle") == KNOWN["idle"]
    store.dispose()


def test_leave_contabo_narrows_the_finding_to_one_exact_selector(
    fleet: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "Downsize the oversized, tear down the idle ones, leave Contabo": two plans with the promised reduction."""
    from engine.ledger import finding_accounts

    monkeypatch.setattr(
        _scope,
        "_apply_finding",
        lambda stmt, finding, *_: stmt.where(finding_filter(finding, usd_to_eur=0.92, now=NOW)),
    )
    with fleet.session() as s:
        idle = finding_accounts(s, OWNER, "idle", settings, exclude_providers=("contabo",), now=NOW)
        assert idle["accounts"] == ["acct-idle1"] and idle["left_out"]["accounts"] == ["acct-idle2"]
        assert idle["monthly_savings_eur"] == pytest.approx(5.49 + 18.40)
        teardown = draft_teardown(
            s, OWNER, {"selector": {"finding": "idle", "accounts": idle["accounts"]}}, settings, _drivers
        )
        assert teardown.monthly_cost_delta == pytest.approx(-idle["monthly_savings_eur"])
        over = finding_accounts(s, OWNER, "oversized", settings, exclude_providers=("contabo",), now=NOW)
        assert over["accounts"] == ["acct-over1"] and over["left_out"]["accounts"] == []  # contabo never shrinks
        resize = draft_resize(s, OWNER, {"selector": {"finding": "oversized"}, "tier": "nano"}, settings, _drivers)
        assert resize.monthly_cost_delta == pytest.approx(-over["monthly_savings_eur"])
        total = -(teardown.monthly_cost_delta + resize.monthly_cost_delta)
        assert total == pytest.approx(23.89 + 37.62)
        cheap = finding_accounts(s, OWNER, "cheaper_elsewhere", settings, now=NOW)
        assert cheap["instances"] == len(KNOWN["cheaper_elsewhere"])
        assert cheap["monthly_savings_eur"] == pytest.approx(24.34)
        with pytest.raises(InputError):
            finding_accounts(s, OWNER, "expensive", settings)


def test_smaller_tiers_are_reported_even_when_nothing_fits_nano(sqlite_fleet: Store, settings: Settings) -> None:
    with sqlite_fleet.session() as s:  # acct-over1 now needs more than nano: only the standard fit remains
        s.execute(update(Instance).where(col(Instance.account_id) == "acct-over1").values(cpu_p95=20.0, mem_p95=20.0))
    result = waste(sqlite_fleet, OWNER, settings)
    assert "oversized" not in by_id(result)
    assert sql_ids(sqlite_fleet, OWNER, "oversized") == set()
    fit = result["also_smaller"]["fit_standard"]
    assert fit["instances"] == 3  # over1's hetzner and DigitalOcean halves, overstd's hetzner primary
    assert fit["action"]["args"]["selector"]["instances"] == ["i-acct-over1-p", "i-acct-over1-s", "i-acct-overstd-p"]
