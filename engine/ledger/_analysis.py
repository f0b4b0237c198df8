"""``cost_analysis``: spend report, waste findings and forecast, as one JSON-ready dict.

One scoped read loads every instance the caller may see; the idle flag is the
selector's own SQL, oversized and cheaper_elsewhere come from Python twins of
the selector SQL built from the same tables (``_model.Rules``).  Python then
adds the money (EUR at the configured rate, said so), the details (the tier
each instance would fit, the cheaper provider, when a saving starts) and the
history from the daily snapshots.
"""

from __future__ import annotations

import gc
import hashlib
import math
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlmodel import Session, col

from engine.config import Settings
from engine.domain import BILLED_STATES, PLANS, SERVING_STATES, InstanceState, Provider, Tier
from engine.errors import InputError
from engine.ledger._findings import idle_condition
from engine.ledger._model import (
    CPU_TARGET,
    DAYS_PER_MONTH,
    HORIZON_MONTHS,
    IDLE_DAYS,
    MEM_TARGET,
    MIGRATION_OVERLAP_DAYS,
    MIN_NET_HORIZON_EUR,
    MIN_SAVING_SHARE,
    Alternative,
    FitLimit,
    Rules,
    best_alternative,
    billing_of,
    can_downsize,
    eur,
    fits,
    is_contract,
    net_horizon_saving,
    smaller_limits,
)
from engine.ledger._money import Money
from engine.ledger._savings import LEAVING_STATES, downsize_saving, price_eur, removal_saving, savings_of
from engine.ledger._snapshots import History, load_history
from engine.policy import Caller
from engine.store import Account, Instance, utcnow
from engine.tenancy import is_demo, scoped

KINDS = ("report", "waste", "forecast")
PERIODS = {"week": 7, "month": 30}
MAX_LISTED = 100
"""Lists of ids in a result stop here (counts and savings always cover everything)."""
HISTORY_DAYS = 90

_BILLED = frozenset(s.value for s in BILLED_STATES)
_SERVING = frozenset(s.value for s in SERVING_STATES)


@dataclass(slots=True)
class Row:
    """One instance as the Ledger sees it."""

    id: str
    account: str
    tenant: str
    role: str
    provider: str
    region: str
    tier: str
    state: str
    price: float
    currency: str
    cpu: float | None
    mem: float | None
    created_at: datetime | None
    no_session: bool
    idle: bool
    oversized: bool
    cheaper: bool
    eur: float | None = None  # monthly EUR; None = unknown price
    partner: str | None = None  # provider of the other half of the pair
    billed: bool = False  # still exists at the provider and costs money (BILLED_STATES)

    @property
    def geo(self) -> str:
        return self.region[:2]

    @property
    def in_idle(self) -> bool:
        """In the idle finding: an idle account's instance whose teardown has not started yet (the same rule as
        ``finding_filter("idle")``; a cancelled contract running out is not offered, or counted, twice)."""
        return self.idle and self.state not in LEAVING_STATES


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def load_rows(session: Session, caller: Caller, rules: Rules, now: datetime) -> list[Row]:
    """Every non-deleted instance the caller may see, with its finding flags.

    ``idle`` is the SQL of :func:`idle_condition` (its account subquery, run once); oversized and
    cheaper_elsewhere come from their Python twins in :class:`Rules`, built from the same tables as the SQL
    conditions (tests hold the two equal on SQLite and PostgreSQL) — the correlated "partner provider"
    subquery alone would cost more than the whole report on 10,000 instances."""
    conn = session.connection()
    not_deleted = col(Instance.state) != InstanceState.DELETED.value
    stmt = select(
        col(Instance.id),
        col(Instance.account_id),
        col(Instance.tenant_id),
        col(Instance.role),
        col(Instance.provider),
        col(Instance.region),
        col(Instance.tier),
        col(Instance.state),
        col(Instance.monthly_price),
        col(Instance.currency),
        col(Instance.cpu_p95),
        col(Instance.mem_p95),
    ).where(not_deleted)
    idle_stmt = select(col(Instance.account_id)).where(not_deleted, idle_condition(now)).distinct()
    idle = {a for (a,) in conn.execute(scoped(idle_stmt, caller)).all()}
    unknown_stmt = (
        select(col(Instance.account_id))
        .join(Account, col(Account.id) == col(Instance.account_id))
        .where(not_deleted, col(Account.last_session_at).is_(None))
        .distinct()
    )
    no_session = {a for (a,) in conn.execute(scoped(unknown_stmt, caller)).all()}
    contract = [p.value for p in Provider if is_contract(billing_of(p.value))]
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    created_stmt = select(col(Instance.id), col(Instance.created_at)).where(  # only where the date matters
        not_deleted, or_(col(Instance.provider).in_(contract), col(Instance.created_at) >= month_start)
    )
    created = {i: _aware(c) for i, c in conn.execute(scoped(created_stmt, caller)).all()}
    rows: list[Row] = []
    rate = rules.usd_to_eur
    for iid, acct, tenant, role, prov, region, tier, state, price, currency, cpu, mem in conn.execute(
        scoped(stmt, caller)
    ).all():
        price = float(price or 0.0)
        currency = currency or ""
        rows.append(
            Row(
                iid,
                acct,
                tenant,
                role,
                prov,
                region,
                tier,
                state,
                price,
                currency,
                cpu,
                mem,
                created.get(iid),
                acct in no_session,
                acct in idle,
                False,
                False,
                price_eur(price, currency, rate),
                None,
                state in _BILLED,
            )
        )
    _set_partners(rows)
    oversized, cheaper = rules.is_oversized, rules.is_cheaper
    for row in rows:
        row.oversized = oversized(row.provider, row.tier, row.state, row.cpu, row.mem, row.eur, row.idle)
        row.cheaper = cheaper(
            row.provider, row.tier, row.region, row.state, row.eur, row.partner, row.idle, row.oversized
        )
    return rows


HOURS_PER_MONTH = 730.0
"""Used to derive an hourly rate from a monthly price that is not the catalog's (the catalog's hourly wins)."""


def month_to_date(rows: list[Row], now: datetime, usd_to_eur: float) -> float:
    """What the priced, billed instances have cost so far this calendar month, in EUR.

    Hourly providers bill hours up to the monthly cap, from the later of the month's start and the creation;
    Contabo and Hostinger bill the paid period up front, so the current month counts in full.  An instance
    whose provider's billing model is unknown is left out rather than guessed."""
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    full_hours = max(0.0, (now - start).total_seconds() / 3600)
    hourly_of: dict[tuple[str, str, float], float | None] = {}
    total = 0.0
    for row in rows:
        if row.eur is None or not row.billed:
            continue
        key = (row.provider, row.tier, row.price)
        if key not in hourly_of:
            hourly_of[key] = _hourly_eur(row, usd_to_eur)
        hourly = hourly_of[key]
        if hourly is None:
            continue
        if hourly < 0:  # contract: the month is paid
            total += row.eur
            continue
        hours = full_hours
        if row.created_at is not None and row.created_at > start:
            hours = max(0.0, (now - row.created_at).total_seconds() / 3600)
        total += min(hourly * hours, row.eur)
    return total


def _hourly_eur(row: Row, usd_to_eur: float) -> float | None:
    """EUR per hour for an hourly-billed row (the catalog's rate when the row pays the catalog price), -1 for a
    contract, None for an unknown billing model."""
    billing = billing_of(row.provider)
    if billing is None or row.eur is None:
        return None
    if is_contract(billing):
        return -1.0
    try:
        plan = PLANS.get((Provider(row.provider), Tier(row.tier)))
    except ValueError:
        plan = None
    if plan is not None and plan.hourly is not None and abs(plan.monthly - row.price) < 1e-9:
        return eur(plan.hourly, plan.currency, usd_to_eur)
    return row.eur / HOURS_PER_MONTH


def _money(x: float) -> float:
    return round(x + 0.0, 2)


def _fingerprint(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16]


def _bucket() -> dict[str, Any]:
    return {"instances": 0, "monthly_eur": 0.0}


def _finish(groups: Mapping[str, dict[str, Any]], days: int) -> dict[str, dict[str, Any]]:
    out = {}
    for key, b in sorted(groups.items(), key=lambda kv: (-kv[1]["monthly_eur"], kv[0])):
        out[key] = {
            "instances": b["instances"],
            "monthly_eur": _money(b["monthly_eur"]),
            "period_eur": _money(b["monthly_eur"] / DAYS_PER_MONTH * days),
        }
    return out


# ---------------------------------------------------------------------------- the tool
def _validate(kind: str, period: str) -> tuple[str, str]:
    kind = str(kind).strip().lower()
    period = str(period).strip().lower()
    if kind not in KINDS:
        raise InputError(f"cost_analysis kind '{kind}' is not known; use one of: {', '.join(KINDS)}.")
    if period not in PERIODS:
        raise InputError(f"cost_analysis period '{period}' is not known; use week or month.")
    return kind, period


def cost_analysis(
    session: Session,
    caller: Caller,
    kind: str,
    period: str,
    settings: Settings,
    *,
    now: datetime | None = None,
    budget_eur: float | None = None,
    region_quotas: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The ``cost_analysis`` tool: ``kind`` report | waste | forecast over ``period`` week | month.

    Read-only and tenant-scoped.  Every figure is EUR; USD prices are converted at ``settings.usd_to_eur`` and
    the result says so.  ``budget_eur`` (monthly) and ``region_quotas`` (region or provider → max instances per
    region) feed the forecast; without them it says what it could not know instead of inventing a number."""
    kind, period = _validate(kind, period)
    return cost_analyses(
        session, caller, (kind,), period, settings, now=now, budget_eur=budget_eur, region_quotas=region_quotas
    )[kind]


def cost_analyses(
    session: Session,
    caller: Caller,
    kinds: tuple[str, ...],
    period: str,
    settings: Settings,
    *,
    now: datetime | None = None,
    budget_eur: float | None = None,
    region_quotas: Mapping[str, int] | None = None,
) -> dict[str, dict[str, Any]]:
    """Several kinds over one read of the fleet (the Ledger's 6-hourly run asks for all three): each result is
    exactly what :func:`cost_analysis` returns for that kind."""
    with _gc_paused():
        return _cost_analyses(
            session, caller, kinds, period, settings, now=now, budget_eur=budget_eur, region_quotas=region_quotas
        )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for one analysis.

    An analysis allocates tens of thousands of short-lived, acyclic objects (one row per instance); each burst
    would otherwise trigger collections that walk the engine's whole heap — on 10,000 instances that was a
    third of the time.  Reference counting still frees everything; the collector resumes (if it was on) at
    the end, also when the analysis raises."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _cost_analyses(
    session: Session,
    caller: Caller,
    kinds: tuple[str, ...],
    period: str,
    settings: Settings,
    *,
    now: datetime | None,
    budget_eur: float | None,
    region_quotas: Mapping[str, int] | None,
) -> dict[str, dict[str, Any]]:
    checked = [_validate(k, period) for k in kinds]
    period = checked[0][1] if checked else _validate("report", period)[1]
    now = now or utcnow()
    rate = settings.usd_to_eur
    days = PERIODS[period]
    rules = Rules.build(rate)
    rows = load_rows(session, caller, rules, now)
    today = now.date()
    history = load_history(session, caller, today, HISTORY_DAYS)
    demo = is_demo(session, caller)

    billed = [r for r in rows if r.billed]
    priced = [r for r in billed if r.eur is not None]
    monthly = sum(r.eur for r in priced if r.eur is not None)
    usd = sum(1 for r in priced if r.currency == "USD")
    unknown = _unknowns(rows)
    mtd = _money(month_to_date(priced, now, rate))
    detail = "waste" in kinds
    money = Money.of(settings)
    findings = waste_findings(rows, rules, today, detail=detail, money=money)
    savings = _money(sum(f["monthly_savings_eur"] for f in findings))
    out: dict[str, dict[str, Any]] = {}
    for kind, _ in checked:
        result: dict[str, Any] = {
            "kind": kind,
            "period": period,
            "period_days": days,
            "demo": demo,
            "as_of": now.isoformat(timespec="seconds"),
            "scope": caller.tenant_id or "all tenants",
            "currency": "EUR",
            "currency_note": f"USD converted at {rate:g}" if usd else None,
            "usd_instances": usd,
            "totals": {
                "instances": len(billed),
                "priced_instances": len(priced),
                "accounts": len({r.account for r in rows}),
                "monthly_eur": _money(monthly),
                "weekly_eur": _money(monthly / DAYS_PER_MONTH * 7),
                "daily_eur": _money(monthly / DAYS_PER_MONTH),
                "period_eur": _money(monthly / DAYS_PER_MONTH * days),
                "month_to_date_eur": mtd,
            },
            "unknown": unknown,
            "history": _history_view(history, days, full=kind == "report"),
            "findings": findings if kind == "waste" else [_brief(f) for f in findings],
            "total_monthly_savings_eur": savings,
            "display": {
                **money.display(),
                "total_monthly_savings": money.total(f["monthly_savings_eur"] for f in findings),
            },
        }
        if kind == "report":
            result.update(_breakdowns(priced, days))
        if kind == "waste":
            result["assumptions"] = _waste_assumptions(rate)
            over = next((f for f in findings if f["id"] == "oversized"), None)
            result["also_smaller"] = over["also_smaller"] if over else also_smaller(rows, rules.usd_to_eur)
        if kind == "forecast":
            budget = budget_eur if budget_eur is not None else getattr(settings, "monthly_budget_eur", None)
            quotas = region_quotas if region_quotas is not None else getattr(settings, "region_quotas", None)
            result["forecast"] = _forecast(rows, history, monthly, today, days, budget, quotas)
        out[kind] = result
    return out


def _breakdowns(priced: list[Row], days: int) -> dict[str, Any]:
    groups: dict[str, dict[str, dict[str, Any]]] = {
        k: defaultdict(_bucket) for k in ("provider", "region", "tier", "tenant", "billing")
    }
    billing = {p: str(billing_of(p) or "unknown") for p in {r.provider for r in priced}}
    gp, gr, gt, gn, gb = (groups[k] for k in ("provider", "region", "tier", "tenant", "billing"))
    for r in priced:
        for b in (gp[r.provider], gr[r.region], gt[r.tier], gn[r.tenant], gb[billing[r.provider]]):
            b["instances"] += 1
            b["monthly_eur"] += r.eur
    return {f"by_{name}": _finish(g, days) for name, g in groups.items()}


def _brief(f: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "id",
        "title",
        "unit",
        "count",
        "instances",
        "accounts_count",
        "monthly_savings_eur",
        "action",
        "action_text",
        "selector",
        "fingerprint",
        "confidence",
        "savings_start",
        "display",
    )
    return {k: f[k] for k in keep if k in f}


def _unknowns(rows: list[Row]) -> dict[str, Any]:
    no_price = [r.id for r in rows if r.billed and r.eur is None]
    no_usage = [r.id for r in rows if r.state in _SERVING and (r.cpu is None or r.mem is None)]
    no_sessions = sorted({r.account for r in rows if r.no_session})
    return {
        "price": {
            "count": len(no_price),
            "instances": no_price[:MAX_LISTED],
            "note": "no usable price (missing, zero, or a currency without a rate): left out of every total",
        },
        "usage": {
            "count": len(no_usage),
            "instances": no_usage[:MAX_LISTED],
            "note": "no CPU/memory p95 yet: cannot be judged oversized",
        },
        "sessions": {
            "count": len(no_sessions),
            "accounts": no_sessions[:MAX_LISTED],
            "note": "no gateway session on record: cannot be judged idle",
        },
    }


def _history_view(h: History, days: int, *, full: bool) -> dict[str, Any]:
    window = h.daily_eur[-days:]
    out: dict[str, Any] = {
        "days": len(h.days),
        "first_day": h.days[0] if h.days else None,
        "last_day": h.days[-1] if h.days else None,
        "period_actual_eur": _money(sum(window)) if window else None,
        "period_days_covered": len(window),
        "daily_eur": [_money(x) for x in h.daily_eur[-max(days, 30) :]],
    }
    if full:
        out["by_provider_daily_eur"] = {p: [_money(x) for x in v[-max(days, 30) :]] for p, v in h.by_provider.items()}
        out["chart_days"] = h.days[-max(days, 30) :]
    return out


# ---------------------------------------------------------------------------- findings
def _by_provider(members: list[tuple[Row, float]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for row, saving in members:
        b = out.setdefault(row.provider, {"instances": 0, "accounts": set(), "monthly_savings_eur": 0.0})
        b["instances"] += 1
        b["accounts"].add(row.account)
        b["monthly_savings_eur"] += saving
    return {
        p: {
            "instances": b["instances"],
            "accounts": len(b["accounts"]),
            "monthly_savings_eur": _money(b["monthly_savings_eur"]),
        }
        for p, b in sorted(out.items(), key=lambda kv: -kv[1]["monthly_savings_eur"])
    }


def _finding(
    fid: str,
    title: str,
    unit: str,
    members: list[tuple[Row, float]],
    today: date,
    action: dict[str, Any] | None,
    action_text: str,
    confidence: str,
    detail: bool = True,
    money: Money | None = None,
    **extra: Any,
) -> dict[str, Any]:
    ids = sorted(r.id for r, _ in members)
    accounts = sorted({r.account for r, _ in members})
    saved = savings_of(((r.provider, r.created_at, s) for r, s in members), today)
    money = money or Money()
    return {
        "id": fid,
        "title": title,
        "unit": unit,
        "count": len(accounts) if unit == "accounts" else len(ids),
        "instances": len(ids),
        "accounts_count": len(accounts),
        "accounts": accounts[:MAX_LISTED],
        "instance_ids": ids[:MAX_LISTED],
        "monthly_savings_eur": saved.monthly_eur,
        "savings_start": saved.timing(),
        "by_provider": _by_provider(members) if detail else None,
        "action": action,
        "action_text": action_text,
        "selector": {"finding": fid},
        "fingerprint": _fingerprint(ids),
        "confidence": confidence,
        "display": {
            "currency": money.currency,
            "monthly_savings": money.shown(saved.monthly_eur),
            "deferred_monthly_savings": money.shown(saved.deferred_eur),
            "deferred_instances": saved.deferred_instances,
            "deferred_until": saved.last_term_end.isoformat() if saved.last_term_end else None,
        },
        **extra,
    }


def waste_findings(
    rows: list[Row], rules: Rules, today: date, *, detail: bool = True, money: Money | None = None
) -> list[dict[str, Any]]:
    """The three findings (largest saving first), each with a stable id, counts, accounts and savings.

    ``detail=False`` (the spend report's summary) skips the per-provider splits, moves and the "also smaller"
    notes; ids, counts, savings and when they start are the same either way.  Each finding's ``display`` holds
    its figures as the operator reads them (``money``, EUR when not given)."""
    usd_to_eur = rules.usd_to_eur
    findings: list[dict[str, Any]] = []
    # idle: whole pairs, exactly what teardown(selector={"finding": "idle"}) removes, priced as that plan prices it.
    idle = _members(rows, "idle", usd_to_eur)
    if idle:
        findings.append(
            _finding(
                "idle",
                f"accounts with no gateway session for {IDLE_DAYS}+ days",
                "accounts",
                idle,
                today,
                {"tool": "teardown", "args": {"selector": {"finding": "idle"}, "archive": True}},
                "tear down (archived first)",
                "high",
                detail,
                money,
            )
        )
    # oversized: fits nano on a provider that can shrink in place.
    over = _members(rows, "oversized", usd_to_eur)
    if over:
        extra: dict[str, Any] = {"fits": {"nano": len(over)}}
        if detail:
            extra["also_smaller"] = also_smaller(rows, usd_to_eur)
        findings.append(
            _finding(
                "oversized",
                "instances whose 14-day p95 CPU and memory fit the nano tier",
                "instances",
                over,
                today,
                {"tool": "resize", "args": {"selector": {"finding": "oversized"}, "tier": "nano"}},
                "downsize to nano",
                "high",
                detail,
                money,
                **extra,
            )
        )
    # cheaper elsewhere: the best qualifying alternative per instance.
    cheap: list[tuple[Row, float]] = []
    moves: dict[tuple[str, str], dict[str, Any]] = {}
    net_total = 0.0
    memo: dict[tuple[str, str, str], list[Alternative]] = {}
    best: dict[tuple[str, str, str, str | None, float], tuple[Alternative | None, float]] = {}
    for r in rows:
        if not r.cheaper or r.eur is None:
            continue
        key = (r.provider, r.tier, r.geo, r.partner, r.eur)
        if key not in best:
            alt_ = best_alternative(r.provider, r.tier, r.geo, r.partner, r.eur, usd_to_eur, memo)
            best[key] = (alt_, net_horizon_saving(r.provider, r.eur, alt_) if alt_ else 0.0)
        alt, net = best[key]
        if alt is None:  # cannot happen while SQL and Python share _model; never invent a saving
            continue
        saving = r.eur - alt.monthly_eur
        net_total += net
        cheap.append((r, saving))
        m = moves.setdefault(
            (r.provider, alt.label),
            {
                "from": r.provider,
                "to": alt.label,
                "tier_counts": {},
                "instances": 0,
                "monthly_savings_eur": 0.0,
                "lock_in_months": alt.term_months,
            },
        )
        m["instances"] += 1
        m["monthly_savings_eur"] += saving
        m["tier_counts"][r.tier] = m["tier_counts"].get(r.tier, 0) + 1
    if cheap:
        top = sorted(moves.values(), key=lambda m: -m["monthly_savings_eur"])
        findings.append(
            _finding(
                "cheaper_elsewhere",
                "instances whose tier is cheaper on another provider or a longer term",
                "instances",
                cheap,
                today,
                {
                    "agent": "forge",
                    "task": "re-provision the cheaper_elsewhere instances on the named provider, "
                    "verify them, then tear down the old halves (one plan per move, the operator confirms each)",
                },
                "re-provision on the cheaper provider, then tear down the old half",
                "medium",
                detail,
                money,
                net_12_months_eur=_money(net_total),
                moves=[{**m, "monthly_savings_eur": _money(m["monthly_savings_eur"])} for m in top],
            )
        )
    findings.sort(key=lambda f: -f["monthly_savings_eur"])
    return findings


def _members(rows: list[Row], finding: str, usd_to_eur: float) -> list[tuple[Row, float]]:
    """The rows of the idle or oversized finding, each with what acting on it saves per month (EUR) — priced by
    the same functions as the plans that act on them (``engine.ledger._savings``)."""
    if finding == "idle":
        return [(r, removal_saving(r.state, r.eur)) for r in rows if r.in_idle]
    out: list[tuple[Row, float]] = []
    for r in rows:
        if r.oversized:
            saving = downsize_saving(r.provider, r.eur, Tier.NANO, usd_to_eur)
            if saving is not None:
                out.append((r, saving))
    return out


def _set_partners(rows: list[Row]) -> None:
    """Each row's partner: the provider of the lowest-id other instance of its account (as the SQL orders it)."""
    by_account: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by_account[r.account].append(r)
    for members in by_account.values():
        if len(members) < 2:
            continue
        if len(members) == 2:
            members[0].partner, members[1].partner = members[1].provider, members[0].provider
            continue
        members.sort(key=lambda o: o.id)
        first, second = members[0], members[1]
        for r in members:
            r.partner = (second if r is first else first).provider


def also_smaller(rows: list[Row], usd_to_eur: float) -> dict[str, Any]:
    """Instances that fit a smaller tier but are not in the finding: a smaller tier than nano is not enough,
    or their provider cannot shrink a server in place.  Reported, with explicit ids, never selected by the finding."""
    standard: list[tuple[Row, float]] = []
    replace: list[tuple[Row, float]] = []
    # (provider, tier) → (can shrink in place, [(limit, price in EUR) of each smaller tier, smallest first])
    options: dict[tuple[str, str], tuple[bool, list[tuple[FitLimit, float | None]]] | None] = {}
    for r in rows:
        if (
            r.oversized
            or r.idle
            or r.eur is None
            or r.cpu is None
            or r.mem is None
            or r.state not in _SERVING
            or r.tier == Tier.NANO.value
        ):
            continue
        key = (r.provider, r.tier)
        if key not in options:
            smaller = smaller_limits(r.provider, r.tier)
            options[key] = (
                None
                if smaller is None
                else (
                    can_downsize(r.provider),
                    [
                        (
                            limit,
                            eur(
                                PLANS[(Provider(r.provider), t)].monthly,
                                PLANS[(Provider(r.provider), t)].currency,
                                usd_to_eur,
                            ),
                        )
                        for t, limit in smaller
                    ],
                )
            )
        option = options[key]
        if option is None:
            continue
        in_place, targets = option
        new_eur = next((price for limit, price in targets if fits(limit, r.cpu, r.mem)), None)
        if new_eur is None or new_eur >= r.eur:
            continue
        (standard if in_place else replace).append((r, r.eur - new_eur))
    out: dict[str, Any] = {"count": len(standard) + len(replace)}
    if standard:
        ids = sorted(r.id for r, _ in standard)
        out["fit_standard"] = {
            "instances": len(ids),
            "monthly_savings_eur": _money(sum(s for _, s in standard)),
            "action": (
                {"tool": "resize", "args": {"selector": {"instances": ids}, "tier": "standard"}}
                if len(ids) <= MAX_LISTED
                else None
            ),
        }
    if replace:
        provs = sorted({r.provider for r, _ in replace})
        out["cannot_shrink_in_place"] = {
            "instances": len(replace),
            "providers": provs,
            "monthly_savings_eur": _money(sum(s for _, s in replace)),
            "note": f"{', '.join(provs)} cannot downsize a server in place: replace them (a plan for Forge)",
        }
    return out


def _waste_assumptions(rate: float) -> list[str]:
    return [
        f"USD prices converted at {rate:g} EUR per USD.",
        f"idle: no gateway session for {IDLE_DAYS} days; accounts with no session on record are not judged.",
        f"oversized: 14-day p95 fits the nano plan at ≤ {CPU_TARGET:.0%} of its vCPUs and ≤ {MEM_TARGET:.0%} of its "
        "memory, on providers that can downsize in place (Hetzner, DigitalOcean).",
        f"cheaper_elsewhere: list prices, same tier, never on the pair's other provider; saves ≥ {MIN_SAVING_SHARE:.0%} "
        f"and ≥ €{MIN_NET_HORIZON_EUR:.0f} over {HORIZON_MONTHS} months after {MIGRATION_OVERLAP_DAYS} days of overlap "
        "and the current Contabo/Hostinger term.",
        "Contabo/Hostinger savings start at the end of the paid month (terms assumed to renew monthly on the purchase "
        "day); hourly providers save from now.",
        "Findings are disjoint (idle, then oversized, then cheaper_elsewhere): savings add up without double counting.",
    ]


# ---------------------------------------------------------------------------- forecast
def _slope(days: list[str], values: list[float]) -> float:
    """Least-squares slope per calendar day (gaps in the snapshots count as the days they are)."""
    if len(values) < 2:
        return 0.0
    first = date.fromisoformat(days[0])
    xs = [(date.fromisoformat(d) - first).days for d in days]
    n = len(values)
    mx, my = sum(xs) / n, sum(values) / n
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (v - my) for x, v in zip(xs, values, strict=True)) / den if den else 0.0


def _forecast(
    rows: list[Row],
    h: History,
    monthly: float,
    today: date,
    days: int,
    budget: float | None,
    quotas: Mapping[str, int] | None,
) -> dict[str, Any]:
    assumptions: list[str] = []
    if len(h.days) >= 2:
        slope = _slope(h.days, h.monthly_eur)
        inst_slope = _slope(h.days, [float(n) for n in h.instances])
        assumptions.append(f"Linear trend over the {len(h.days)} days of snapshots ({h.days[0]} to {h.days[-1]}).")
    else:
        slope = inst_slope = 0.0
        assumptions.append("Fewer than two days of snapshots: no trend yet, spend assumed flat.")
    growth_pct = (slope * 30 / monthly * 100) if monthly else 0.0
    next_period = sum((monthly + slope * d) / DAYS_PER_MONTH for d in range(1, days + 1))
    out: dict[str, Any] = {
        "monthly_eur_now": _money(monthly),
        "trend_eur_per_month": _money(slope * 30),
        "growth_pct_per_month": round(growth_pct, 1),
        "instances_per_month": round(inst_slope * 30, 1),
        "monthly_eur_in_30_days": _money(monthly + slope * 30),
        "monthly_eur_in_90_days": _money(monthly + slope * 90),
        "next_period_eur": _money(next_period),
        "history_days": len(h.days),
    }
    if budget is None:
        out["budget"] = {"configured": False, "note": "No monthly budget is configured, so no date can be given."}
        assumptions.append("No budget configured.")
    else:
        b: dict[str, Any] = {
            "configured": True,
            "monthly_eur": _money(budget),
            "used_pct": round(monthly / budget * 100, 1),
        }
        if monthly >= budget:
            b.update(hit_on=today.isoformat(), note=f"Already over budget by €{monthly - budget:,.2f}/month.")
        elif slope > 0:
            when = today + timedelta(days=math.ceil((budget - monthly) / slope))
            b.update(hit_on=when.isoformat(), note=f"At the current trend the budget is reached on {when.isoformat()}.")
        else:
            b.update(hit_on=None, note="Not reached on the current trend (spend is flat or falling).")
        out["budget"] = b
    out["headroom"] = _headroom(rows, h, quotas, assumptions)
    out["assumptions"] = assumptions
    return out


def _headroom(
    rows: list[Row], h: History, quotas: Mapping[str, int] | None, assumptions: list[str]
) -> list[dict[str, Any]]:
    """Per provider region: instances now, 30-day growth, share of primaries, and room under a quota if one is set."""
    now_counts: dict[str, int] = defaultdict(int)
    primaries: dict[str, int] = defaultdict(int)
    for r in rows:
        if r.billed:
            now_counts[r.region] += 1
            primaries[r.region] += r.role == "primary"
    total_primaries = sum(primaries.values()) or 1
    out: list[dict[str, Any]] = []
    for region in sorted(now_counts, key=lambda k: -now_counts[k]):
        first, last, span = h.region_instances.get(region, (0, 0, 0))
        per_day = (last - first) / span if span else 0.0
        entry: dict[str, Any] = {
            "region": region,
            "provider": region.split("-")[1] if "-" in region else region,
            "instances": now_counts[region],
            "growth_30d": round(per_day * 30, 1),
            "primary_share_pct": round(primaries[region] / total_primaries * 100, 1),
        }
        quota = None
        if quotas:
            quota = quotas.get(region, quotas.get(entry["provider"]))
        if quota is not None:
            room = quota - now_counts[region]
            entry.update(quota=quota, headroom=room)
            if room <= 0:
                entry["full_on"] = "now"
            elif per_day > 0:
                entry["full_in_days"] = math.ceil(room / per_day)
        out.append(entry)
    if not quotas:
        assumptions.append("No provider quotas configured: headroom is shown as growth and concentration only.")
    return out


def finding_accounts(
    session: Session,
    caller: Caller,
    finding: str,
    settings: Settings,
    *,
    exclude_providers: tuple[str, ...] = (),
    now: datetime | None = None,
) -> dict[str, Any]:
    """Every account a finding covers (no list cap), optionally leaving out accounts with an instance in it on
    ``exclude_providers`` — how "tear down the idle ones, leave Contabo" becomes one exact selector:
    ``{"finding": "idle", "accounts": result["accounts"]}`` (selector keys combine with AND).

    Returns the accounts, the instances and monthly saving they carry, and what was left out and why."""
    if finding not in ("idle", "oversized", "cheaper_elsewhere"):
        raise InputError(f"The finding '{finding}' is not known; use one of: idle, oversized, cheaper_elsewhere.")
    rules = Rules.build(settings.usd_to_eur)
    with _gc_paused():
        rows = load_rows(session, caller, rules, now or utcnow())
    if finding == "cheaper_elsewhere":
        memo: dict[tuple[str, str, str], list[Alternative]] = {}
        members: list[tuple[Row, float]] = []
        for r in rows:
            alt = (
                best_alternative(r.provider, r.tier, r.geo, r.partner, r.eur or 0.0, settings.usd_to_eur, memo)
                if r.cheaper
                else None
            )
            if alt is not None:
                members.append((r, (r.eur or 0.0) - alt.monthly_eur))
    else:
        members = _members(rows, finding, settings.usd_to_eur)
    excluded = set(exclude_providers)
    touched = (
        {r.account for r in rows if r.provider in excluded}
        if finding == "idle"
        else {r.account for r, _ in members if r.provider in excluded}
    )
    kept = [(r, saving) for r, saving in members if r.account not in touched]
    left = sorted({r.account for r, _ in members if r.account in touched})
    saved = savings_of(((r.provider, r.created_at, saving) for r, saving in kept), (now or utcnow()).date())
    return {
        "finding": finding,
        "accounts": sorted({r.account for r, _ in kept}),
        "instances": len(kept),
        "monthly_savings_eur": saved.monthly_eur,
        "left_out": {"providers": sorted(excluded), "accounts": left},
    }
