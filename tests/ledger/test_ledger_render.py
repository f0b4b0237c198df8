"""What the operator reads: numbers-first replies, sparklines, SVG charts; and the demo fleet end to end."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from engine.config import Settings
from engine.demo import seed_demo
from engine.domain import Selector
from engine.ledger import (
    cost_analysis,
    cost_analysis_text,
    record_daily_snapshot,
    sparkline,
    spend_chart_svg,
    waste_chart_svg,
)
from engine.operations._registry import tool_spec
from engine.policy import Caller, Role
from engine.store import Store, open_store
from tests.ledger.ledger_fleet import NOW, OWNER, TENANT_A


def analyse(store: Store, kind: str, caller: Any = OWNER, **kw: Any) -> dict[str, Any]:
    """An analysis for an operator who reads euros (the USD default is covered by test_ledger_agreement.py)."""
    with store.session() as s:
        return cost_analysis(s, caller, kind, "month", Settings(usd_to_eur=0.92, currency="EUR"), now=NOW, **kw)


def test_sparklines_scale_to_the_range() -> None:
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([5, 5, 5]) == "▄▄▄"
    assert sparkline([]) == ""
    assert len(sparkline(range(100))) == 30 and sparkline(range(100)).endswith("█")


def test_waste_reply_puts_the_saving_first(sqlite_fleet: Store) -> None:
    text = cost_analysis_text(analyse(sqlite_fleet, "waste"))
    first = text.splitlines()[0]
    assert first == (
        "We could save €71.50/month: €37.62 by downsizing 2 oversized instances to nano, €33.88 by tearing "
        "down 2 idle accounts (4 instances); moving 5 instances to cheaper providers would save "
        "€24.34/month more (a plan for Forge)."
    )
    assert "USD converted at 0.92" in text
    assert "2 instances without a usable price (left out of the totals, not guessed)" in text
    assert "2 instances without usage data yet (not judged oversized)" in text
    assert "1 account without session data (not judged idle)" in text


def test_report_reply_has_a_sparkline_once_history_exists(sqlite_fleet: Store) -> None:
    assert "Daily spend" not in cost_analysis_text(analyse(sqlite_fleet, "report"))
    for back in range(5):
        record_daily_snapshot(sqlite_fleet, NOW.date() - timedelta(days=back))
    text = cost_analysis_text(analyse(sqlite_fleet, "report"))
    assert "Daily spend, last 5 days: ▄▄▄▄▄" in text
    assert "By provider: " in text and text.splitlines()[1].startswith("Spend: €")


def test_forecast_reply_states_budget_and_trend(sqlite_fleet: Store) -> None:
    text = cost_analysis_text(analyse(sqlite_fleet, "forecast", caller=TENANT_A, budget_eur=50.0))
    assert text.startswith("Forecast: €") and "Already over budget" in text
    assert "(no history yet, assumed flat)" in text
    assert "(tenant t-a)" in text


def test_charts_are_well_formed_svg(sqlite_fleet: Store) -> None:
    empty = spend_chart_svg(analyse(sqlite_fleet, "report"))
    assert "No history yet" in ET.tostring(ET.fromstring(empty), encoding="unicode")
    for back in range(14):
        record_daily_snapshot(sqlite_fleet, NOW.date() - timedelta(days=back))
    report = analyse(sqlite_fleet, "report")
    spend = ET.fromstring(spend_chart_svg(report))
    ns = "{http://www.w3.org/2000/svg}"
    assert len(spend.findall(f"{ns}polygon")) == 4  # one band per provider with spend
    assert {t.text for t in spend.findall(f"{ns}text")} >= {"hetzner", "vultr", "digitalocean", "contabo"}
    bars = ET.fromstring(waste_chart_svg(analyse(sqlite_fleet, "waste")))
    assert len(bars.findall(f"{ns}rect")) == 1 + 3  # background + one bar per finding
    labels = " ".join(t.text or "" for t in bars.findall(f"{ns}text"))
    assert "2 oversized" in labels and "€37.62/month" in labels


# ---------------------------------------------------------------------------- the demo fleet
@pytest.fixture
def demo(sqlite_url: str) -> Iterator[Store]:
    store = open_store(sqlite_url)
    seed_demo(store, 300, seed=42)
    yield store
    store.dispose()


def test_the_demo_has_idle_and_oversized_findings_with_valid_calls(demo: Store) -> None:
    with demo.session() as s:
        result = cost_analysis(s, OWNER, "waste", "month", Settings(usd_to_eur=0.92))
    found = {f["id"]: f for f in result["findings"]}
    assert result["demo"] is True and found["idle"]["count"] > 0 and found["oversized"]["count"] > 0
    for f in result["findings"]:
        assert f["monthly_savings_eur"] > 0
        action = f["action"]
        if action and "tool" in action:
            args = tool_spec(action["tool"]).validate(action["args"])
            assert Selector.parse(args["selector"]).finding == f["id"]
    text = cost_analysis_text(result)
    assert text.startswith("We could save $") and "DEMO" in text  # the operator's currency: USD by default
    assert "€" not in text
    scoped = Caller("op-acme-ops", "acme-ops", Role.OPERATOR, tenant_id="demo-acme")
    with demo.session() as s:
        mine = cost_analysis(s, scoped, "waste", "month", Settings(usd_to_eur=0.92))
    assert mine["total_monthly_savings_eur"] < result["total_monthly_savings_eur"]


@pytest.mark.parametrize("first", ["engine.ledger", "engine.operations"])
def test_imports_in_either_order(first: str) -> None:
    """_scope will import the Ledger's finding_filter; neither order may deadlock on a circular import."""
    code = f"import {first}; import engine.ledger, engine.operations; print(engine.ledger.finding_filter)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_importing_the_ledger_does_not_load_the_operation_layer() -> None:
    """So engine.operations._scope may import finding_filter at module level without a cycle."""
    code = "import sys, engine.ledger; assert 'engine.operations' not in sys.modules, 'cycle risk'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_charts_are_saved_for_the_html_report(sqlite_fleet: Store, tmp_path: Any) -> None:
    from engine.ledger import save_charts

    paths = save_charts(analyse(sqlite_fleet, "report"), tmp_path / "charts")
    assert sorted(p.name for p in paths.values()) == ["spend_by_provider.svg", "waste.svg"]
    for path in paths.values():
        ET.parse(path)  # well-formed


def _result(findings: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "kind": "waste",
        "period": "month",
        "demo": False,
        "scope": "all tenants",
        "totals": {"instances": 4, "monthly_eur": 40.0, "weekly_eur": 9.2},
        "findings": findings,
        "total_monthly_savings_eur": sum(f["monthly_savings_eur"] for f in findings),
        "unknown": {},
    }


def test_reply_without_quick_fixes_or_without_waste() -> None:
    move = {
        "id": "cheaper_elsewhere",
        "count": 3,
        "monthly_savings_eur": 30.0,
        "action": {"agent": "forge", "task": "…"},
        "action_text": "move",
    }
    assert cost_analysis_text(_result([move])).splitlines()[0] == (
        "Moving 3 instances to cheaper providers would save €30.00/month (a plan for Forge); "
        "nothing is idle or oversized."
    )
    text = cost_analysis_text(_result([]))
    assert text.splitlines() == [
        "No waste found: nothing idle, oversized or cheaper elsewhere.",
        "Spend: €40.00/month run-rate on 4 instances.",
    ]
