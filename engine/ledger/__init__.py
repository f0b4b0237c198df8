"""Ledger: the cost model, waste findings and forecasts (issue 10).

Wiring (for the operation layer):

* ``cost_analysis(session, caller, kind, period, settings)`` is the read tool; ``cost_analysis_text(result)``
  its reply.
* ``finding_filter(finding, usd_to_eur=settings.usd_to_eur)`` is the SQL condition a selector's ``finding``
  key applies to an already tenant-scoped statement over ``Instance`` — the same expression the report
  uses, so a plan built from ``{"finding": "idle"}`` covers exactly the accounts the report named.
* ``record_daily_snapshot(store, day)`` writes the day's cost rows (idempotent), so trends exist.
"""

from engine.ledger._analysis import KINDS, PERIODS, cost_analysis, waste_findings
from engine.ledger._findings import DEFAULT_USD_TO_EUR, finding_filter
from engine.ledger._model import IDLE_DAYS, alternatives, best_alternative, fit_tier
from engine.ledger._render import cost_analysis_text, sparkline, spend_chart_svg, waste_chart_svg
from engine.ledger._snapshots import load_history, record_daily_snapshot

__all__ = [
    "DEFAULT_USD_TO_EUR",
    "IDLE_DAYS",
    "KINDS",
    "PERIODS",
    "alternatives",
    "best_alternative",
    "cost_analysis",
    "cost_analysis_text",
    "finding_filter",
    "fit_tier",
    "load_history",
    "record_daily_snapshot",
    "sparkline",
    "spend_chart_svg",
    "waste_chart_svg",
    "waste_findings",
]
