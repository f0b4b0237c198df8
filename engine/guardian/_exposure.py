"""Exposure to a provider or region: who is at risk, who already moved, who has no gateway.

"Hetzner Nuremberg looks down. What's our exposure?" is answered from the store alone (the status
page is a separate read): primaries and standbys there, how many pairs already failed over, how many
could fail over right now, and how many users have no active gateway anywhere.  The ``provider_health``
operation combines this with :mod:`engine.providers.status`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from engine.domain import SERVING_STATES, InstanceState
from engine.guardian import _thresholds as T
from engine.store import Instance

__all__ = ["FAILED_OVER_PREFIX", "Exposure", "exposure", "exposure_by_region"]

S = InstanceState
_SERVING = frozenset(s.value for s in SERVING_STATES)
FAILED_OVER_PREFIX = "failed over"
"""The failover step leaves the old primary FAILED with a reason starting with this (engine.operations);
the store has no column for "was failed over", so this marker is how exposure tells a failed-over old
primary from a standby that merely failed."""


@dataclass(frozen=True, slots=True)
class Exposure:
    """Counts for one provider and/or region (``None`` = all)."""

    provider: str | None
    region: str | None
    primaries: int = 0
    """Primaries there (serving, or FAILED and not yet failed over)."""
    standbys: int = 0
    """Standbys there (any live state)."""
    unhealthy_primaries: int = 0
    """Primaries there below the healthy band or FAILED."""
    failed: int = 0
    """Instances there in state FAILED (either role; failed-over old primaries included)."""
    failed_over: int = 0
    """Accounts whose former primary there is FAILED and which are served by a primary elsewhere."""
    standbys_lost: int = 0
    """Standbys there that are FAILED (not failed-over old primaries): their users have no fallback."""
    can_fail_over: int = 0
    """Unhealthy primaries there whose standby is ACTIVE and healthy: Guardian can move them now."""
    no_healthy_standby: int = 0
    """Unhealthy primaries there with no healthy standby: these users need a human."""
    users: int = 0
    """Accounts with any instance there."""
    without_gateway: int = 0
    """Accounts with an instance there and no serving, reachable primary anywhere."""
    without_gateway_accounts: tuple[str, ...] = field(default=())
    at_risk: tuple[dict[str, Any], ...] = field(default=())
    """The users behind the numbers, worst first: account, what is wrong, since when, what to do."""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["without_gateway_accounts"] = list(self.without_gateway_accounts[:20])
        out["at_risk"] = list(self.at_risk[:20])
        return out

    def describe(self) -> str:
        """One operator sentence with the numbers."""
        where = self.region or self.provider or "the fleet"
        parts = [f"{where}: {self.primaries} primaries and {self.standbys} standbys ({self.users} users)"]
        if self.unhealthy_primaries:
            parts.append(f"{self.unhealthy_primaries} primaries unhealthy")
        parts.append(f"{self.failed_over} already failed over")
        if self.standbys_lost:
            parts.append(f"{self.standbys_lost} standbys lost (those users have no fallback)")
        if self.can_fail_over:
            parts.append(f"{self.can_fail_over} can fail over now")
        if self.no_healthy_standby:
            parts.append(f"{self.no_healthy_standby} have no healthy standby")
        parts.append(f"{self.without_gateway} users without an active gateway")
        return "; ".join(parts) + "."


_COLUMNS: tuple[Any, ...] = (
    Instance.id,
    Instance.account_id,
    Instance.role,
    Instance.provider,
    Instance.region,
    Instance.state,
    Instance.health_score,
    Instance.health_reason,
    Instance.updated_at,
)
_Row = tuple[Any, ...]
"""id, account, role, provider, region, state, health score, health reason, updated at."""


def _since(moment: Any) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment is not None else "an unknown time"


def _risk(acct: str, mine: list[_Row], here: Any, no_gateway: bool) -> dict[str, Any] | None:
    """One user's exposure in words: what is wrong, since when, and the recommended action (or None: fine)."""
    bad_primary = next((r for r in mine if r[2] == "primary" and here(r) and not _healthy(r[5], r[6])), None)
    standby_ok = next((r for r in mine if r[2] == "standby" and _healthy(r[5], r[6]) and not here(r)), None)
    lost = next(
        (
            r
            for r in mine
            if r[2] == "standby"
            and here(r)
            and r[5] == S.FAILED.value
            and not (r[7] or "").startswith(FAILED_OVER_PREFIX)
        ),
        None,
    )
    if bad_primary is not None:
        what = f"primary {bad_primary[0]} {bad_primary[5]}" + (f" ({bad_primary[7]})" if bad_primary[7] else "")
        if standby_ok is not None and (no_gateway or bad_primary[5] == S.FAILED.value):
            action = f"fail over {acct} (its standby {standby_ok[0]} is healthy)"
        elif standby_ok is not None:
            action = (
                f"restart {bad_primary[0]} (Guardian's heal ladder does so on its own; it fails over to "
                f"{standby_ok[0]} if that does not hold)"
            )
        else:
            action = f'repair {bad_primary[0]} ("restart {bad_primary[0]}") and give {acct} a healthy standby'
        return {
            "account": acct,
            "problem": ("no gateway: " if no_gateway else "") + what,
            "since": _since(bad_primary[8]),
            "action": action,
            "severity": 0 if no_gateway else 1,
        }
    if lost is not None:
        return {
            "account": acct,
            "problem": f"standby {lost[0]} FAILED: served, but with no fallback",
            "since": _since(lost[8]),
            "action": f"provision a new standby for {acct}",
            "severity": 2,
        }
    return None


def _healthy(state: str, score: int | None) -> bool:
    return state == S.ACTIVE.value and (score if score is not None else 0) >= T.HEALTHY_MIN


def _reachable_primary(role: str, state: str, score: int | None) -> bool:
    return role == "primary" and state in _SERVING and (score is None or score >= T.DEGRADED_MIN)


def _scope(provider: str | None, region: str | None, tenant_id: str | None) -> list[Any]:
    where: list[Any] = [col(Instance.state) != S.DELETED.value]
    if provider:
        where.append(col(Instance.provider) == provider)
    if region:
        where.append(col(Instance.region) == region)
    if tenant_id:
        where.append(col(Instance.tenant_id) == tenant_id)
    return where


def _pairs(session: Session, where: list[Any]) -> tuple[set[str], dict[str, list[_Row]], list[_Row]]:
    """Accounts with an instance matching ``where``, every live instance of those accounts, and the matches."""
    accounts = {a for (a,) in session.execute(select(col(Instance.account_id)).where(*where).distinct()).all()}
    rows: list[_Row] = []
    ids = sorted(accounts)
    for start in range(0, len(ids), 900):  # stay under SQLite's bound-parameter limit
        chunk = ids[start : start + 900]
        rows.extend(
            tuple(r)
            for r in session.execute(
                select(*_COLUMNS).where(col(Instance.account_id).in_(chunk), col(Instance.state) != S.DELETED.value)
            ).all()
        )
    by_account: dict[str, list[_Row]] = defaultdict(list)
    for r in rows:
        by_account[r[1]].append(r)
    return accounts, by_account, rows


def _count(provider: str | None, region: str | None, accounts: set[str], by_account: dict[str, list[_Row]]) -> Exposure:
    """The one exposure formula: every number ``provider_health`` and Guardian report comes from here."""
    if not accounts:
        return Exposure(provider, region)

    def here(r: _Row) -> bool:
        return (provider is None or r[3] == provider) and (region is None or r[4] == region)

    primaries = standbys = unhealthy = failed = failed_over = lost = movable = stranded = 0
    no_gateway: list[str] = []
    risks: list[dict[str, Any]] = []
    ids = sorted(accounts)
    for acct in ids:
        mine = by_account.get(acct, [])
        served_elsewhere = any(_reachable_primary(r[2], r[5], r[6]) and not here(r) for r in mine)
        if not any(_reachable_primary(r[2], r[5], r[6]) for r in mine):
            no_gateway.append(acct)
        risk = _risk(acct, mine, here, acct in no_gateway)
        if risk is not None:
            risks.append(risk)
        for r in mine:
            if not here(r):
                continue
            _id, _acct, role, _prov, _reg, state, score, reason = r[:8]
            if state == S.FAILED.value:
                failed += 1
            if role == "primary" and (state in _SERVING or state == S.FAILED.value):
                primaries += 1
                if not _healthy(state, score):
                    unhealthy += 1
                    standby_ok = any(o[2] == "standby" and _healthy(o[5], o[6]) and not here(o) for o in mine)
                    if standby_ok:
                        movable += 1
                    else:
                        stranded += 1
            elif role == "standby" and state != S.FAILED.value:
                standbys += 1
            was_primary = (reason or "").startswith(FAILED_OVER_PREFIX)
            if state == S.FAILED.value and served_elsewhere and was_primary:
                failed_over += 1
            elif state == S.FAILED.value and role == "standby" and not was_primary:
                lost += 1
    return Exposure(
        provider,
        region,
        primaries=primaries,
        standbys=standbys,
        unhealthy_primaries=unhealthy,
        failed=failed,
        failed_over=failed_over,
        standbys_lost=lost,
        can_fail_over=movable,
        no_healthy_standby=stranded,
        users=len(ids),
        without_gateway=len(no_gateway),
        without_gateway_accounts=tuple(no_gateway),
        at_risk=tuple(sorted(risks, key=lambda r: (r["severity"], r["since"], r["account"]))),
    )


def exposure(
    session: Session, *, provider: str | None = None, region: str | None = None, tenant_id: str | None = None
) -> Exposure:
    """Count the exposure of every pair with an instance at ``provider`` / in ``region``.

    ``tenant_id`` scopes the count to one tenant (policy rule 6); deleted instances never count.
    """
    accounts, by_account, _ = _pairs(session, _scope(provider, region, tenant_id))
    return _count(provider, region, accounts, by_account)


def exposure_by_region(
    session: Session, *, provider: str | None = None, region: str | None = None, tenant_id: str | None = None
) -> tuple[dict[str, Exposure], dict[str, Exposure]]:
    """Exposure per region and per provider in one read (what ``provider_health`` shows).

    Returns ``(regions, providers)``: every region with an instance in scope and every provider of those
    regions, each counted by :func:`exposure`'s formula.  A provider's numbers are counted over the provider
    as a whole (an account with instances in two of its regions is one user, not two).
    """
    where = _scope(provider, region, tenant_id)
    _, by_account, rows = _pairs(session, where)
    in_scope = [r for r in rows if (provider is None or r[3] == provider) and (region is None or r[4] == region)]
    accounts_in: dict[str, set[str]] = defaultdict(set)
    accounts_at: dict[str, set[str]] = defaultdict(set)
    for r in in_scope:
        accounts_in[r[4]].add(r[1])
        accounts_at[r[3]].add(r[1])
    regions = {r: _count(None, r, accounts_in[r], by_account) for r in sorted(accounts_in)}
    providers = {p: _count(p, region, accounts_at[p], by_account) for p in sorted(accounts_at)}
    return regions, providers
