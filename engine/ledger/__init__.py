"""Ledger: the cost model, waste findings and forecasts (issue 10).

Wiring (for the operation layer):

* ``cost_analysis(session, caller, kind, period, settings)`` is the read tool; ``cost_analysis_text(result)``
  its reply.
* ``finding_filter(finding, usd_to_eur=settings.usd_to_eur)`` is the SQL condition a selector's ``finding``
  key applies to an already tenant-scoped statement over ``Instance``; the report's lists come from the same
  rules (tested equal on SQLite and PostgreSQL), so a plan built from ``{"finding": "idle"}`` covers exactly
  the accounts the report named.  ``finding_accounts(...)`` gives a finding's full account list, e.g. without
  Contabo ("leave Contabo"), for a selector ``{"finding": …, "accounts": […]}``.
* ``record_daily_snapshot(store, day)`` writes the day's cost rows (idempotent), so trends exist.
* ``ledger_run(store, settings, previous=state)`` is the 6-hourly job: snapshot, all three analyses, the notable
  changes for Commander and the summary line for Briefer; keep ``run.state`` for the next run.
* Money agrees everywhere: what acting on instances saves is computed once (``removal_saving``,
  ``downsize_saving``, ``savings_of``: the findings and the teardown/resize plans call the same functions), and
  every figure a person reads is shown by ``Money`` (the operator's currency, converted and rounded once);
  ``finding_line`` / ``finding_scope`` / ``deferral_text`` are a finding in words for every reply that lists it.
"""

from engine.ledger._analysis import KINDS, PERIODS, cost_analyses, cost_analysis, finding_accounts, waste_findings
from engine.ledger._findings import DEFAULT_USD_TO_EUR, finding_filter
from engine.ledger._model import IDLE_DAYS, alternatives, best_alternative, fit_tier
from engine.ledger._money import Money
from engine.ledger._render import (
    cost_analysis_text,
    deferral_clause,
    deferral_text,
    finding_line,
    finding_scope,
    save_charts,
    saving_text,
    sparkline,
    spend_chart_svg,
    waste_chart_svg,
)
from engine.ledger._run import LedgerRun, ledger_run, notable_changes
from engine.ledger._savings import (
    LEAVING_STATES,
    Savings,
    downsize_saving,
    price_eur,
    removal_saving,
    savings_from_steps,
    savings_of,
    step_saving,
)
from engine.ledger._snapshots import load_history, record_daily_snapshot

__all__ = [
    "DEFAULT_USD_TO_EUR",
    "IDLE_DAYS",
    "KINDS",
    "LEAVING_STATES",
    "LedgerRun",
    "Money",
    "PERIODS",
    "Savings",
    "alternatives",
    "best_alternative",
    "cost_analyses",
    "cost_analysis",
    "cost_analysis_text",
    "deferral_clause",
    "deferral_text",
    "downsize_saving",
    "finding_accounts",
    "finding_filter",
    "finding_line",
    "finding_scope",
    "fit_tier",
    "ledger_run",
    "load_history",
    "notable_changes",
    "price_eur",
    "record_daily_snapshot",
    "removal_saving",
    "save_charts",
    "saving_text",
    "savings_from_steps",
    "savings_of",
    "step_saving",
    "sparkline",
    "spend_chart_svg",
    "waste_chart_svg",
    "waste_findings",
]
