"""The Ledger's cadence: every 6 hours, record today's snapshot, analyse, and say what changed.

The scheduler (runtime) calls :func:`ledger_run` and keeps ``run.state`` for the
next call; ``run.changes`` are the notable changes worth a message to Commander
(sentences that name the finding id and the exact call), ``run.summary`` is the
line Briefer puts in the morning note.  Nothing here acts on the fleet: the
Ledger recommends, the operator decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from engine.config import Settings
from engine.ledger._analysis import cost_analyses
from engine.ledger._snapshots import record_daily_snapshot
from engine.policy import Caller, Role
from engine.store import Store, utcnow

LEDGER = Caller("system", "ledger", Role.VIEWER, agent="ledger", autonomous=True)
"""Who the scheduled run reads as: a viewer over every tenant (the run writes only its own snapshots)."""
SPEND_CHANGE = 0.05
"""Spend moving by 5 % or more between runs is notable."""
FINDING_CHANGE_EUR = 50.0
"""A finding whose saving moves by €50/month or more (or that appears or clears) is notable."""
BUDGET_WARNING_DAYS = 30


@dataclass(slots=True)
class LedgerRun:
    results: dict[str, dict[str, Any]]
    changes: list[str]
    summary: str
    state: dict[str, Any]
    snapshot_rows: int = 0
    notes: list[str] = field(default_factory=list)


def ledger_run(
    store: Store,
    settings: Settings,
    *,
    previous: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    budget_eur: float | None = None,
    region_quotas: Mapping[str, int] | None = None,
) -> LedgerRun:
    """One scheduled run over all tenants: snapshot, report + waste + forecast, and the changes since ``previous``."""
    now = now or utcnow()
    rows = record_daily_snapshot(store, now.date(), usd_to_eur=settings.usd_to_eur)
    with store.session() as s:
        results = cost_analyses(
            s,
            LEDGER,
            ("report", "waste", "forecast"),
            "month",
            settings,
            now=now,
            budget_eur=budget_eur,
            region_quotas=region_quotas,
        )
    state = _state(results)
    changes = notable_changes(previous, state, now.date())
    return LedgerRun(results, changes, _summary(results, state), state, rows)


def _state(results: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    waste = results["waste"]
    fc = results["forecast"]["forecast"]
    return {
        "monthly_eur": waste["totals"]["monthly_eur"],
        "growth_pct_per_month": fc["growth_pct_per_month"],
        "budget_hit_on": fc["budget"].get("hit_on"),
        "findings": {
            f["id"]: {
                "count": f["count"],
                "unit": f["unit"],
                "monthly_savings_eur": f["monthly_savings_eur"],
                "fingerprint": f["fingerprint"],
                "action": f["action"],
                "action_text": f["action_text"],
            }
            for f in waste["findings"]
        },
    }


def notable_changes(previous: Mapping[str, Any] | None, state: Mapping[str, Any], today: date) -> list[str]:
    """Sentences for Commander: new or grown findings (with the call to fix them), spend jumps, a near budget."""
    out: list[str] = []
    before = previous or {}
    old_findings: Mapping[str, Any] = before.get("findings", {})
    for fid, f in state["findings"].items():
        old = old_findings.get(fid)
        saving = f["monthly_savings_eur"]
        grew = old is None or abs(saving - old["monthly_savings_eur"]) >= FINDING_CHANGE_EUR
        if old is not None and old["fingerprint"] == f["fingerprint"]:
            grew = False
        if grew and saving > 0:
            call = _call(f["action"])
            out.append(
                f"{f['count']:,} {fid} (finding {fid}): recommend {f['action_text']}, saves €{saving:,.2f}/month"
                + (f"; call {call}" if call else "")
                + "."
            )
    for fid in old_findings:
        if fid not in state["findings"]:
            out.append(f"Finding {fid} cleared: nothing is {fid.replace('_', ' ')} any more.")
    prev_spend = before.get("monthly_eur")
    spend = state["monthly_eur"]
    if prev_spend and abs(spend - prev_spend) / prev_spend >= SPEND_CHANGE:
        out.append(f"Spend is €{spend:,.2f}/month, {(spend - prev_spend) / prev_spend:+.1%} since the last run.")
    hit = state.get("budget_hit_on")
    if hit and hit != before.get("budget_hit_on"):
        days = (date.fromisoformat(hit) - today).days
        if days <= BUDGET_WARNING_DAYS:
            out.append(
                "Spend is over the monthly budget."
                if days <= 0
                else f"At the current trend the monthly budget is reached on {hit} (in {days} days)."
            )
    return out


def _call(action: Mapping[str, Any] | None) -> str:
    if not action or "tool" not in action:
        return ""
    args = ", ".join(f"{k}={v!r}" for k, v in action["args"].items())
    return f"{action['tool']}({args})"


def _summary(results: Mapping[str, dict[str, Any]], state: Mapping[str, Any]) -> str:
    open_findings = sum(1 for f in state["findings"].values() if f["count"])
    demo = "DEMO " if results["report"].get("demo") else ""
    return (
        f"{demo}Costs: €{state['monthly_eur']:,.0f}/month, forecast {state['growth_pct_per_month']:+.1f} %/month, "
        f"{open_findings} finding{'s' if open_findings != 1 else ''} open "
        f"(save €{results['waste']['total_monthly_savings_eur']:,.0f}/month)."
    )
