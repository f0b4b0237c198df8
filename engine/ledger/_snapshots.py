"""Daily cost snapshots: the fleet's run-rate per provider/region/tier/tenant, one set of rows per day.

Recording is idempotent: a day's rows are replaced as a unit, so the 6-hourly
Ledger run (or a retry after a crash) can record "today" again without
doubling anything.  Reads are tenant-scoped like every Instance query.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import case, delete, func, insert, select
from sqlmodel import Session, col

from engine.domain import BILLED_STATES
from engine.errors import InputError
from engine.ledger._findings import DEFAULT_USD_TO_EUR, own_eur_sql, priced
from engine.ledger._model import DAYS_PER_MONTH
from engine.policy import Caller
from engine.store import CostSnapshot, Instance, Store

_BILLED = tuple(sorted(s.value for s in BILLED_STATES))


def _day(day: date | str) -> str:
    if isinstance(day, date):
        return day.isoformat()
    try:
        return date.fromisoformat(day).isoformat()
    except ValueError:
        raise InputError(f"'{day}' is not a day; use YYYY-MM-DD, e.g. 2026-11-24.") from None


def record_daily_snapshot(store: Store, day: date | str, *, usd_to_eur: float = DEFAULT_USD_TO_EUR) -> int:
    """Write the fleet's cost as of now under ``day`` (replacing that day's rows).  Returns the rows written.

    Every tenant is recorded: this is the Ledger's own bookkeeping, not an operator's read.  ``instances``
    counts every billed instance; ``monthly_eur`` adds only instances with a usable price (unknown prices are
    reported by ``cost_analysis``, never guessed here)."""
    key = _day(day)
    price = case_priced_eur(usd_to_eur)
    stmt = (
        select(
            col(Instance.provider),
            col(Instance.region),
            col(Instance.tier),
            col(Instance.tenant_id),
            func.count(),
            func.coalesce(func.sum(price), 0.0),
        )
        .where(col(Instance.state).in_(_BILLED))
        .group_by(col(Instance.provider), col(Instance.region), col(Instance.tier), col(Instance.tenant_id))
    )
    with store.session() as s:
        rows = [
            {
                "day": key,
                "provider": str(p),
                "region": str(r),
                "tier": str(t),
                "tenant_id": str(tn),
                "instances": int(n),
                "monthly_eur": round(float(m), 6),
                "daily_eur": round(float(m) / DAYS_PER_MONTH, 6),
            }
            for p, r, t, tn, n, m in s.connection().execute(stmt).all()
        ]
        s.execute(delete(CostSnapshot).where(col(CostSnapshot.day) == key))
        if rows:
            s.execute(insert(CostSnapshot), rows)
    return len(rows)


def case_priced_eur(usd_to_eur: float) -> Any:
    """The monthly EUR price where usable, else 0 (for sums)."""
    return case((priced(), own_eur_sql(usd_to_eur)), else_=0.0)


def scoped_snapshots(stmt: Any, caller: Caller) -> Any:
    """The tenant scope of :func:`engine.tenancy.scoped`, for the cost_snapshots table."""
    if caller.tenant_id is not None:
        stmt = stmt.where(col(CostSnapshot.tenant_id) == caller.tenant_id)
    return stmt


@dataclass(slots=True)
class History:
    """Daily totals the caller may see, oldest first."""

    days: list[str] = field(default_factory=list)
    monthly_eur: list[float] = field(default_factory=list)  # run-rate recorded that day
    daily_eur: list[float] = field(default_factory=list)
    instances: list[int] = field(default_factory=list)
    by_provider: dict[str, list[float]] = field(default_factory=dict)  # daily_eur per provider, aligned to days
    region_instances: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    """region → (instances on the first day of the last 30, instances on the latest day, days between)."""


def load_history(session: Session, caller: Caller, today: date, days: int = 90) -> History:
    """Up to ``days`` days of snapshots before and including ``today``, summed over what the caller may see."""
    start = (today - timedelta(days=days - 1)).isoformat()
    end = today.isoformat()
    stmt = (
        select(
            col(CostSnapshot.day),
            col(CostSnapshot.provider),
            func.sum(col(CostSnapshot.monthly_eur)),
            func.sum(col(CostSnapshot.daily_eur)),
            func.sum(col(CostSnapshot.instances)),
        )
        .where(col(CostSnapshot.day) >= start, col(CostSnapshot.day) <= end)
        .group_by(col(CostSnapshot.day), col(CostSnapshot.provider))
    )
    per_day: dict[str, dict[str, tuple[float, float, int]]] = defaultdict(dict)
    for day, prov, monthly, daily, n in session.connection().execute(scoped_snapshots(stmt, caller)).all():
        per_day[str(day)][str(prov)] = (float(monthly or 0), float(daily or 0), int(n or 0))
    hist = History()
    providers = sorted({p for rows in per_day.values() for p in rows})
    hist.by_provider = {p: [] for p in providers}
    for day in sorted(per_day):
        rows = per_day[day]
        hist.days.append(day)
        hist.monthly_eur.append(sum(v[0] for v in rows.values()))
        hist.daily_eur.append(sum(v[1] for v in rows.values()))
        hist.instances.append(sum(v[2] for v in rows.values()))
        for p in providers:
            hist.by_provider[p].append(rows.get(p, (0.0, 0.0, 0))[1])
    if hist.days:
        window = [d for d in hist.days if d >= (today - timedelta(days=30)).isoformat()]
        first, last = window[0], window[-1]
        rstmt = (
            select(col(CostSnapshot.day), col(CostSnapshot.region), func.sum(col(CostSnapshot.instances)))
            .where(col(CostSnapshot.day).in_((first, last)))
            .group_by(col(CostSnapshot.day), col(CostSnapshot.region))
        )
        counts: dict[str, dict[str, int]] = defaultdict(dict)
        for day, region, n in session.connection().execute(scoped_snapshots(rstmt, caller)).all():
            counts[str(region)][str(day)] = int(n or 0)
        span = (date.fromisoformat(last) - date.fromisoformat(first)).days
        hist.region_instances = {r: (c.get(first, 0), c.get(last, 0), span) for r, c in counts.items()}
    return hist
