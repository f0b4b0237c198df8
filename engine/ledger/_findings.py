"""The three findings as SQL conditions on ``Instance``: the one authoritative definition.

``finding_filter("idle")`` is what ``teardown(selector={"finding": "idle"})``
applies.  The report runs the idle subquery itself and computes oversized and
cheaper_elsewhere with Python twins built from the *same* tables
(``engine.ledger._model.Rules``; tests hold SQL and Python equal on SQLite and
PostgreSQL, prices exactly on the thresholds included), so "tear down the idle
ones" acts on exactly the accounts the last report named — never a wider set.

The findings are disjoint, in this order: an idle account is not also counted
oversized, and an oversized instance is not also counted cheaper elsewhere, so
their savings add up without counting a euro twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, case, false, func, literal, not_, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from engine.config import Settings
from engine.domain import FINDINGS, SERVING_STATES, InstanceState
from engine.errors import InputError
from engine.ledger._model import IDLE_DAYS, cheaper_table, oversized_limits
from engine.ledger._savings import LEAVING_STATES
from engine.store import Account, Instance, utcnow

DEFAULT_USD_TO_EUR: float = Settings.model_fields["usd_to_eur"].default
"""The settings default; callers pass ``settings.usd_to_eur`` so selector and report use the same rate."""

_SERVING = tuple(sorted(s.value for s in SERVING_STATES))
_DELETED = InstanceState.DELETED.value


def own_eur_sql(usd_to_eur: float) -> ColumnElement[Any]:
    """The instance's monthly price in EUR as SQL (NULL for a currency without a rate); same arithmetic as
    :func:`engine.ledger._model.eur`, so SQL and Python compare identical floats."""
    return case(
        (col(Instance.currency) == "EUR", col(Instance.monthly_price)),
        (col(Instance.currency) == "USD", col(Instance.monthly_price) * literal(usd_to_eur)),
        else_=None,
    )


def priced() -> ColumnElement[bool]:
    """A usable price: positive, in a currency we can convert."""
    return and_(col(Instance.monthly_price) > 0, col(Instance.currency).in_(("EUR", "USD")))


def idle_condition(now: datetime | None = None) -> ColumnElement[bool]:
    """The account's user has had no gateway session for IDLE_DAYS (an unknown last session is *not* idle)."""
    cutoff = (now or utcnow()) - timedelta(days=IDLE_DAYS)
    idle_accounts = select(col(Account.id)).where(col(Account.last_session_at) < cutoff)
    return col(Instance.account_id).in_(idle_accounts)


def oversized_condition(usd_to_eur: float = DEFAULT_USD_TO_EUR, now: datetime | None = None) -> ColumnElement[bool]:
    """A serving instance above nano whose 14-day p95 CPU and memory fit the nano plan of its provider with
    headroom, on a provider that can downsize in place, where nano is cheaper — and not on an idle account."""
    limits = oversized_limits(usd_to_eur)
    if not limits:
        return false()
    key = col(Instance.provider) + literal("/", String) + col(Instance.tier)
    keys = [f"{p}/{t}" for p, t in limits]
    cpu_max = case({f"{p}/{t}": lim.cpu_pct for (p, t), (lim, _) in limits.items()}, value=key, else_=None)
    mem_max = case({f"{p}/{t}": lim.mem_pct for (p, t), (lim, _) in limits.items()}, value=key, else_=None)
    nano_eur = case({f"{p}/{t}": price for (p, t), (_, price) in limits.items()}, value=key, else_=None)
    return and_(
        key.in_(keys),
        col(Instance.state).in_(_SERVING),
        col(Instance.cpu_p95).is_not(None),
        col(Instance.mem_p95).is_not(None),
        priced(),
        col(Instance.cpu_p95) <= cpu_max,
        col(Instance.mem_p95) <= mem_max,
        own_eur_sql(usd_to_eur) > nano_eur,
        not_(idle_condition(now)),
    )


def partner_provider() -> ColumnElement[Any]:
    """The provider of the other half of the instance's pair (correlated subquery; NULL if there is none)."""
    other = aliased(Instance)
    return (
        select(col(other.provider))
        .where(
            col(other.account_id) == col(Instance.account_id),
            col(other.id) != col(Instance.id),
            col(other.state) != _DELETED,
        )
        .order_by(col(other.id))
        .limit(1)
        .scalar_subquery()
    )


def cheaper_condition(usd_to_eur: float = DEFAULT_USD_TO_EUR, now: datetime | None = None) -> ColumnElement[bool]:
    """Same tier cheaper on another provider (never the partner's: the pair stays on two providers) or on a
    longer term, by at least 10 % and €6 over 12 months net of migration overlap and the current term."""
    table = cheaper_table(usd_to_eur)
    if not table:
        return false()
    geo = func.substr(col(Instance.region), 1, 2)
    key = col(Instance.provider) + literal("/", String) + col(Instance.tier) + literal("/", String) + geo
    names = {k: "/".join(k) for k in table}
    t1 = case({names[k]: v.t1 for k, v in table.items()}, value=key, else_=None)
    a1 = case({names[k]: v.a1 for k, v in table.items()}, value=key, else_=None)
    t2 = case({names[k]: v.t2 for k, v in table.items() if v.t2 is not None}, value=key, else_=None)
    price = own_eur_sql(usd_to_eur)
    partner = func.coalesce(partner_provider(), literal("", String))
    return and_(
        key.in_(list(names.values())),
        col(Instance.state).in_(_SERVING),
        priced(),
        or_(and_(price >= t1, partner != a1), and_(t2.is_not(None), price >= t2)),
        not_(idle_condition(now)),
        not_(oversized_condition(usd_to_eur, now)),
    )


def finding_filter(
    finding: str, *, usd_to_eur: float = DEFAULT_USD_TO_EUR, now: datetime | None = None
) -> ColumnElement[bool]:
    """The SQL condition on ``Instance`` for a finding id (``idle``, ``oversized``, ``cheaper_elsewhere``).

    Use it as ``stmt.where(finding_filter(selector.finding, usd_to_eur=settings.usd_to_eur))`` on a statement
    already scoped to the caller; an unknown id is an :class:`InputError`, never a wider match.  For ``idle``,
    DELETED instances are the caller's to exclude (``select_instances`` does), and instances already DRAINING or
    ARCHIVING (a teardown under way, a cancelled contract running out) are left out; the other two require a
    serving state themselves."""
    if finding == "idle":  # an instance whose teardown has started is not offered (or priced) again
        return and_(idle_condition(now), col(Instance.state).not_in(sorted(LEAVING_STATES)))
    if finding == "oversized":
        return oversized_condition(usd_to_eur, now)
    if finding == "cheaper_elsewhere":
        return cheaper_condition(usd_to_eur, now)
    raise InputError(f"The finding '{finding}' is not known; use one of: {', '.join(FINDINGS)}.")
