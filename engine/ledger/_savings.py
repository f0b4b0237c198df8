"""What an action saves, computed once: the Ledger's findings and the plans that act on them use these functions.

A finding ("22 idle accounts, save €601.33/month") and the plan that fixes it ("tear down those 44 instances")
must name the same set and the same money.  Both call :func:`removal_saving` / :func:`downsize_saving` per
instance and :func:`savings_of` for the sum and its timing, so the figures are equal to the cent:

* removing an instance saves its monthly price only while it is *billed* (a REQUESTED server was never bought);
* an instance already on its way out (DRAINING or ARCHIVING: torn down, or a contract cancelled and running to
  its term's end) is not counted again — its saving was claimed by the teardown that started it;
* Contabo and Hostinger cannot delete a server early: a cancelled contract runs, and is billed, to the end of
  its paid term, so that part of a saving starts only then (``deferred``, with the dates) — said, never claimed
  as saved from today.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from engine.domain import BILLED_STATES, PLANS, InstanceState, Provider, Tier
from engine.ledger._model import billing_of, eur, is_contract, next_term_end

__all__ = [
    "LEAVING_STATES",
    "Deferred",
    "Savings",
    "downsize_saving",
    "price_eur",
    "removal_saving",
    "saving_starts",
    "savings_from_steps",
    "savings_of",
    "step_saving",
]

LEAVING_STATES = frozenset({InstanceState.DRAINING.value, InstanceState.ARCHIVING.value})
"""States of an instance whose teardown has started (or whose contract is cancelled and runs out)."""
_BILLED = frozenset(s.value for s in BILLED_STATES)


def price_eur(price: float | None, currency: str | None, usd_to_eur: float) -> float | None:
    """An instance's monthly price in EUR, or None when it has no usable price (missing, zero, or a currency
    without a rate: left out, never guessed)."""
    if not price or price <= 0:
        return None
    return eur(float(price), currency or "", usd_to_eur)


def removal_saving(state: str, monthly_eur: float | None) -> float:
    """What removing one instance saves per month (EUR): its price while billed; 0 when it is unpriced, not
    billed (never bought), or already on its way out (that teardown claimed the saving)."""
    if monthly_eur is None or state not in _BILLED or state in LEAVING_STATES:
        return 0.0
    return monthly_eur


def downsize_saving(provider: str, own_eur: float | None, target: Tier | str, usd_to_eur: float) -> float | None:
    """What moving one instance to the ``target`` plan of its own provider saves per month (EUR; negative when it
    costs more); None when the price or a plan is unknown."""
    try:
        plan = PLANS[(Provider(provider), Tier(target))]
    except (KeyError, ValueError):
        return None
    new = eur(plan.monthly, plan.currency, usd_to_eur)
    if own_eur is None or new is None:
        return None
    return own_eur - new


@dataclass(frozen=True, slots=True)
class Deferred:
    """The part of a saving on one contract provider that starts only when its paid terms end."""

    provider: str
    instances: int
    monthly_eur: float
    start: date
    """The first term end (the saving starts growing then) …"""
    until: date
    """… and the last (all of it counts from then)."""

    def to_dict(self) -> dict[str, object]:
        return {
            "provider": self.provider,
            "monthly_eur": self.monthly_eur,
            "instances": self.instances,
            "from": self.start.isoformat(),
            "until": self.until.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Savings:
    """A monthly saving (EUR, rounded to the cent once) and when it starts."""

    monthly_eur: float
    from_now_eur: float
    deferred: tuple[Deferred, ...] = ()

    @property
    def deferred_eur(self) -> float:
        return round(math.fsum(d.monthly_eur for d in self.deferred), 2) + 0.0

    @property
    def deferred_instances(self) -> int:
        return sum(d.instances for d in self.deferred)

    @property
    def last_term_end(self) -> date | None:
        return max((d.until for d in self.deferred), default=None)

    def timing(self) -> dict[str, object]:
        """The ``savings_start`` of a finding: what starts now, and what waits for a term end (per provider)."""
        return {"from_now_eur": self.from_now_eur, "deferred": [d.to_dict() for d in self.deferred]}


def saving_starts(provider: str, created_at: datetime | None, today: date) -> date | None:
    """When a change to an instance starts saving: now (None) on an hourly provider, at the end of the current
    paid term on Contabo and Hostinger (terms assumed to renew monthly on the purchase day)."""
    return next_term_end(created_at, today) if is_contract(billing_of(provider)) else None


def savings_of(members: Iterable[tuple[str, datetime | None, float]], today: date) -> Savings:
    """Sum ``(provider, created_at, monthly saving in EUR)`` once, order-independently, and split it by when it
    starts: hourly providers save from now, contract providers from the end of the current term."""
    return _split(((p, s, saving_starts(p, c, today)) for p, c, s in members), today)


def step_saving(provider: str, created_at: datetime | None, saving: float, today: date) -> dict[str, object]:
    """What a plan step records about its money (``provider``, ``saves_eur``, ``saves_from``), so "what did that
    save us?" can read the plan later (:func:`savings_from_steps`) instead of rescanning the fleet."""
    start = saving_starts(provider, created_at, today)
    return {"provider": provider, "saves_eur": saving, "saves_from": start.isoformat() if start else None}


def savings_from_steps(steps: Iterable[Mapping[str, Any]], today: date) -> Savings | None:
    """A plan's saving as its steps recorded it when it was drafted (equal to the plan's own figure), with only
    the parts whose paid term has not ended by ``today`` still waiting; None when the steps recorded no money."""
    members: list[tuple[str, float, date | None]] = []
    for step in steps:
        if "saves_eur" not in step:
            continue
        start = step.get("saves_from")
        members.append(
            (
                str(step.get("provider") or ""),
                float(step["saves_eur"]),
                date.fromisoformat(str(start)) if start else None,
            )
        )
    return _split(members, today) if members else None


def _split(members: Iterable[tuple[str, float, date | None]], today: date) -> Savings:
    every: list[float] = []
    now: list[float] = []
    later: dict[str, tuple[list[float], list[date]]] = {}
    for provider, saving, start in members:
        every.append(saving)
        if start is not None and start > today:
            amounts, ends = later.setdefault(provider, ([], []))
            amounts.append(saving)
            ends.append(start)
        else:
            now.append(saving)
    deferred = tuple(
        Deferred(provider, len(amounts), round(math.fsum(amounts), 2) + 0.0, min(ends), max(ends))
        for provider, (amounts, ends) in later.items()
    )
    return Savings(round(math.fsum(every), 2) + 0.0, round(math.fsum(now), 2) + 0.0, deferred)
