"""The Ledger's money rules, with no database: prices, billing, fit and cheaper alternatives.

Everything here is a pure function of the price catalog and a few named
constants, so the SQL conditions (``_findings``) and the Python details of a
report are built from the *same* numbers and can never disagree about which
instance a finding covers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from engine.domain import PLANS, REGIONS, Billing, Provider, Tier
from engine.providers import Capabilities
from engine.providers.registry import DRIVERS
from engine.providers.sim import SimDriver

KNOWN_CURRENCIES = ("EUR", "USD")
TIER_ORDER: tuple[Tier, ...] = (Tier.NANO, Tier.STANDARD, Tier.PERFORMANCE)
DAYS_PER_MONTH = 365 / 12
"""A month's cost spread over the average month (30.42 days): daily = monthly × 12 / 365."""

IDLE_DAYS = 14
"""An account is idle when its user has had no gateway session for this many days."""

CPU_TARGET = 0.5
MEM_TARGET = 0.6
"""A smaller plan *fits* when the 14-day p95 use would stay at or under 50 % of its vCPUs and 60 % of its memory
(headroom for peaks: p95 is not the maximum, and a starved gateway costs more than it saves)."""

HORIZON_MONTHS = 12
"""cheaper_elsewhere is judged on the saving over the next 12 months, net of migration cost and lock-in."""
MIGRATION_OVERLAP_DAYS = 2
"""A move runs old and new server side by side for two days (provision, sync, verify, switch)."""
MIN_SAVING_SHARE = 0.10
"""A move must save at least 10 % of the instance's price …"""
MIN_NET_HORIZON_EUR = 6.0
"""… and at least €6 over the horizon after migration cost (€0.50/month): below that the risk is not worth it."""
CONTRACT_LOCK_MONTHS = 1
"""Contabo and Hostinger bill a paid period up front: a saving starts only after the current (monthly) term."""

#: Longer-term prices of the same plan (another *billing model*, no migration), from the vendor's price list
#: (shared/reference/providers.md §10: Contabo cloud-vps-10 €5.50 monthly, €4.95 on 6 months, €4.40 on 12).
TERM_PRICES: dict[tuple[Provider, Tier], tuple[tuple[int, float, str], ...]] = {
    (Provider.CONTABO, Tier.NANO): ((6, 4.95, "EUR"), (12, 4.40, "EUR")),
    (Provider.CONTABO, Tier.STANDARD): ((6, 4.95, "EUR"), (12, 4.40, "EUR")),
}


def capabilities(provider: str) -> Capabilities | None:
    """The driver's declared capabilities (static class data; no driver is built)."""
    if provider == Provider.SIM.value:
        return SimDriver.capabilities
    cls = DRIVERS.get(provider)
    return cls.capabilities if cls is not None else None


def can_downsize(provider: str) -> bool:
    """Whether ``resize`` can move this provider's servers to a *smaller* plan in place."""
    caps = capabilities(provider)
    return caps is not None and caps.can_resize and not caps.resize_upgrade_only


def eur(amount: float, currency: str, usd_to_eur: float) -> float | None:
    """EUR value of a price, or None for a currency we have no rate for (never guessed)."""
    if currency == "EUR":
        return amount
    if currency == "USD":
        return amount * usd_to_eur  # same expression as the SQL (_findings.own_eur), so floats agree
    return None


def billing_of(provider: str) -> Billing | None:
    """How ``provider`` bills (None for a provider we have no plans for)."""
    plan = _NANO_PLANS.get(provider)
    return plan.billing if plan is not None else None


_NANO_PLANS = {p.value: plan for (p, t), plan in PLANS.items() if t == Tier.NANO}


def is_contract(billing: Billing | None) -> bool:
    return billing in (Billing.MONTHLY_CONTRACT, Billing.SUBSCRIPTION)


def next_term_end(created_at: datetime | None, today: date) -> date:
    """When the current monthly term ends, assuming terms renew on the day of the month the server was bought."""
    anchor = created_at.day if created_at is not None else today.day
    year, month = today.year, today.month
    for _ in range(3):
        last_day = _month_days(year, month)
        candidate = date(year, month, min(anchor, last_day))
        if candidate > today:
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return today + timedelta(days=31)  # unreachable in practice


def _month_days(year: int, month: int) -> int:
    nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return (nxt - date(year, month, 1)).days


# ---------------------------------------------------------------------------- oversized
@dataclass(frozen=True, slots=True)
class FitLimit:
    """The p95 percentages under which an instance of (provider, tier) fits ``target``."""

    cpu_pct: float
    mem_pct: float


def fit_limit(provider: Provider, tier: Tier, target: Tier) -> FitLimit | None:
    """Usage limits (percent of the *current* plan) that fit the ``target`` plan with headroom."""
    cur, new = PLANS.get((provider, tier)), PLANS.get((provider, target))
    if cur is None or new is None:
        return None
    return FitLimit(100.0 * CPU_TARGET * new.vcpu / cur.vcpu, 100.0 * MEM_TARGET * new.ram_gb / cur.ram_gb)


def fits(limit: FitLimit, cpu_p95: float, mem_p95: float) -> bool:
    return cpu_p95 <= limit.cpu_pct and mem_p95 <= limit.mem_pct


def smaller_limits(provider: str, tier: str) -> list[tuple[Tier, FitLimit]] | None:
    """The tiers below ``tier`` on ``provider``, smallest first, with their fit limits (None: unknown plan)."""
    try:
        prov, cur = Provider(provider), Tier(tier)
    except ValueError:
        return None
    if (prov, cur) not in PLANS:
        return None
    out = []
    for target in TIER_ORDER[: TIER_ORDER.index(cur)]:
        limit = fit_limit(prov, cur, target)
        if limit is not None:
            out.append((target, limit))
    return out


def fit_tier(
    provider: str,
    tier: str,
    cpu_p95: float | None,
    mem_p95: float | None,
    memo: dict[tuple[str, str], list[tuple[Tier, FitLimit]] | None] | None = None,
) -> Tier | None:
    """The smallest tier whose plan on the same provider fits the usage (None: usage or plan unknown)."""
    if cpu_p95 is None or mem_p95 is None:
        return None
    if memo is None:
        memo = {}
    key = (provider, tier)
    if key not in memo:
        memo[key] = smaller_limits(provider, tier)
    smaller = memo[key]
    if smaller is None:
        return None
    for target, limit in smaller:
        if fits(limit, cpu_p95, mem_p95):
            return target
    return Tier(tier)


def oversized_limits(usd_to_eur: float) -> dict[tuple[str, str], tuple[FitLimit, float]]:
    """(provider, tier) → (limits to fit nano, nano price in EUR) for every tier that ``resize`` can shrink to nano
    *and* where nano is cheaper.  The oversized finding is exactly "fits nano on one of these keys"."""
    out: dict[tuple[str, str], tuple[FitLimit, float]] = {}
    for (prov, tier), plan in PLANS.items():
        if tier == Tier.NANO or not can_downsize(prov.value):
            continue
        nano = PLANS[(prov, Tier.NANO)]
        nano_eur = eur(nano.monthly, nano.currency, usd_to_eur)
        limit = fit_limit(prov, tier, Tier.NANO)
        if limit is None or nano_eur is None or nano.plan_id == plan.plan_id:
            continue
        out[(prov.value, tier.value)] = (limit, nano_eur)
    return out


# ---------------------------------------------------------------------------- cheaper elsewhere
@dataclass(frozen=True, slots=True)
class Alternative:
    """One way to pay less for the same tier: another provider, or a longer term on the same one."""

    provider: str
    tier: str
    monthly_eur: float
    billing: str
    term_months: int  # 0 = no commitment beyond the current period
    migration_eur: float  # one-off: overlap of old and new server during the move (0 for a term change)
    threshold_eur: float  # the instance's own monthly EUR price at or above which this alternative qualifies

    @property
    def label(self) -> str:
        if self.term_months >= 2:
            return f"{self.provider} on a {self.term_months}-month term"
        return self.provider


def _threshold(alt_eur: float, migration_eur: float, lock_months: int) -> float:
    """Own price at or above which ``alt`` saves ≥ 10 % and ≥ €6 over the horizon net of migration and lock-in.

    Both conditions grow with the own price, so the finding is one comparison (identical in SQL and Python)."""
    by_share = alt_eur / (1.0 - MIN_SAVING_SHARE)
    by_net = alt_eur + (MIN_NET_HORIZON_EUR + migration_eur) / (HORIZON_MONTHS - lock_months)
    return max(by_share, by_net)


def alternatives(provider: str, tier: str, geo: str, usd_to_eur: float) -> list[Alternative]:
    """Every qualifying-in-principle alternative for an instance, cheapest threshold first (partner not excluded)."""
    try:
        prov, tr = Provider(provider), Tier(tier)
    except ValueError:
        return []
    if prov is Provider.SIM or (prov, tr) not in PLANS:
        return []
    lock = CONTRACT_LOCK_MONTHS if is_contract(PLANS[(prov, tr)].billing) else 0
    out: list[Alternative] = []
    for (other, other_tier), plan in PLANS.items():
        if other_tier != tr or other in (prov, Provider.SIM):
            continue
        if not any(r.provider == other and r.geo.value == geo for r in REGIONS.values()):
            continue
        alt_eur = eur(plan.monthly, plan.currency, usd_to_eur)
        if alt_eur is None:
            continue
        migration = alt_eur / DAYS_PER_MONTH * MIGRATION_OVERLAP_DAYS
        term = 1 if is_contract(plan.billing) else 0
        out.append(
            Alternative(
                other.value,
                tr.value,
                alt_eur,
                plan.billing.value,
                term,
                migration,
                _threshold(alt_eur, migration, lock),
            )
        )
    for months, price, currency in TERM_PRICES.get((prov, tr), ()):
        alt_eur = eur(price, currency, usd_to_eur)
        if alt_eur is not None:
            out.append(
                Alternative(
                    prov.value,
                    tr.value,
                    alt_eur,
                    Billing.MONTHLY_CONTRACT.value,
                    months,
                    0.0,
                    _threshold(alt_eur, 0.0, lock),
                )
            )
    out.sort(key=lambda a: (a.threshold_eur, a.provider, a.term_months))
    return out


@dataclass(frozen=True, slots=True)
class CheaperKey:
    """Per (provider, tier, geo): the best alternative's threshold and provider, and the best not on that provider."""

    t1: float
    a1: str
    t2: float | None


def cheaper_table(usd_to_eur: float) -> dict[tuple[str, str, str], CheaperKey]:
    """The whole cheaper_elsewhere rule as a small table (one row per provider, tier and geo).

    The standby must stay on another provider than its primary, so the partner's provider is never a target:
    flagged ⇔ (own ≥ t1 and partner ≠ a1) or own ≥ t2, where t2 is the best alternative on another provider
    than a1 (a term change on the own provider is always allowed)."""
    table: dict[tuple[str, str, str], CheaperKey] = {}
    geos = sorted({r.geo.value for r in REGIONS.values()})
    for prov, tier in PLANS:
        for geo in geos:
            alts = alternatives(prov.value, tier.value, geo, usd_to_eur)
            if not alts:
                continue
            first = alts[0]
            second = next((a for a in alts if a.provider != first.provider or a.provider == prov.value), None)
            if first.provider == prov.value:  # a term change: never blocked by the partner
                table[(prov.value, tier.value, geo)] = CheaperKey(first.threshold_eur, "", first.threshold_eur)
            else:
                table[(prov.value, tier.value, geo)] = CheaperKey(
                    first.threshold_eur, first.provider, second.threshold_eur if second else None
                )
    return table


def best_alternative(
    provider: str,
    tier: str,
    geo: str,
    partner: str | None,
    own_eur: float,
    usd_to_eur: float,
    memo: dict[tuple[str, str, str], list[Alternative]] | None = None,
) -> Alternative | None:
    """The alternative with the largest net saving over the horizon among those that qualify for this instance
    (``memo`` caches the alternatives per provider/tier/geo within one analysis)."""
    best: tuple[float, Alternative] | None = None
    lock = CONTRACT_LOCK_MONTHS if is_contract(billing_of(provider)) else 0
    if memo is None:
        memo = {}
    key = (provider, tier, geo)
    if key not in memo:
        memo[key] = alternatives(provider, tier, geo, usd_to_eur)
    for alt in memo[key]:
        if alt.provider == partner and alt.provider != provider:
            continue
        if own_eur < alt.threshold_eur:
            continue
        net = (own_eur - alt.monthly_eur) * (HORIZON_MONTHS - lock) - alt.migration_eur
        if best is None or net > best[0] + 1e-9:
            best = (net, alt)
    return best[1] if best else None


def net_horizon_saving(provider: str, own_eur: float, alt: Alternative) -> float:
    lock = CONTRACT_LOCK_MONTHS if is_contract(billing_of(provider)) else 0
    return (own_eur - alt.monthly_eur) * (HORIZON_MONTHS - lock) - alt.migration_eur


# ---------------------------------------------------------------------------- the SQL's mirror
SERVING = frozenset({"ACTIVE", "DEGRADED", "HEALING"})
"""engine.domain.SERVING_STATES as strings (the findings that fix a server in place need it serving)."""


@dataclass(frozen=True, slots=True)
class Rules:
    """The finding tables for one exchange rate, computed once per analysis (prices may be refreshed live)."""

    usd_to_eur: float
    oversized: dict[tuple[str, str], tuple[FitLimit, float]]
    cheaper: dict[tuple[str, str, str], CheaperKey]

    @classmethod
    def build(cls, usd_to_eur: float) -> Rules:
        return cls(usd_to_eur, oversized_limits(usd_to_eur), cheaper_table(usd_to_eur))

    def is_oversized(
        self,
        provider: str,
        tier: str,
        state: str,
        cpu: float | None,
        mem: float | None,
        own_eur: float | None,
        idle: bool,
    ) -> bool:
        """Python twin of ``_findings.oversized_condition`` (same table, same comparisons)."""
        entry = self.oversized.get((provider, tier))
        if entry is None or state not in SERVING or cpu is None or mem is None or own_eur is None or idle:
            return False
        limit, nano_eur = entry
        return cpu <= limit.cpu_pct and mem <= limit.mem_pct and own_eur > nano_eur

    def is_cheaper(
        self,
        provider: str,
        tier: str,
        region: str,
        state: str,
        own_eur: float | None,
        partner: str | None,
        idle: bool,
        oversized: bool,
    ) -> bool:
        """Python twin of ``_findings.cheaper_condition``."""
        key = self.cheaper.get((provider, tier, region[:2]))
        if key is None or state not in SERVING or own_eur is None or idle or oversized:
            return False
        return (own_eur >= key.t1 and (partner or "") != key.a1) or (key.t2 is not None and own_eur >= key.t2)
