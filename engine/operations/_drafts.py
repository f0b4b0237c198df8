"""Drafting plans for the mutating tools: who is affected, what it costs, which facts policy judges.

A draft never changes the fleet.  It reads the store (always through the
caller's tenant scope), validates arguments into one clear sentence when they
are wrong, and returns the steps a job would run.  Placement for new pairs
follows simple, explainable defaults: Hetzner first in the EU, Vultr first in
the US and AP, the standby always on another provider in the same geo, and
regions used round-robin so one outage never takes a whole batch.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from engine.config import Settings
from engine.domain import (
    REGIONS,
    SERVING_STATES,
    Geo,
    InstanceState,
    Provider,
    Region,
    Selector,
    Tier,
    plan_for,
    regions_for,
    to_eur,
)
from engine.errors import InputError, PolicyRefusal
from engine.operations._scope import select_instances
from engine.policy import Caller, PolicyFacts, TargetFacts
from engine.providers import ProviderDriver
from engine.providers.errors import ProviderQuotaExceeded
from engine.providers.status import ProviderStatus
from engine.store import Incident, Instance, JobStep, utcnow

MAX_PROVISION = 1000
from engine.guardian import HEALTHY_MIN as HEALTHY_SCORE  # noqa: E402 - one number, one place

PRIMARY_PREFERENCE: dict[Geo, tuple[Provider, ...]] = {
    Geo.EU: (Provider.HETZNER, Provider.DIGITALOCEAN, Provider.VULTR, Provider.CONTABO, Provider.HOSTINGER),
    Geo.US: (Provider.VULTR, Provider.DIGITALOCEAN, Provider.HETZNER, Provider.CONTABO, Provider.HOSTINGER),
    Geo.AP: (Provider.VULTR, Provider.DIGITALOCEAN, Provider.HETZNER, Provider.CONTABO, Provider.HOSTINGER),
}


@dataclass(slots=True)
class Draft:
    """A plan before it is stored."""

    tool: str
    args: dict[str, Any]
    summary: str
    targets: list[str]
    steps: list[dict[str, Any]]
    affected_users: int
    monthly_cost_delta: float
    reversible: bool
    facts: PolicyFacts


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _enum(enum: type[Any], value: Any, what: str) -> Any:
    try:
        return enum(str(value).strip().lower())
    except ValueError:
        choices = ", ".join(e.value for e in enum if e.value != "sim")
        raise InputError(f"Unknown {what} '{value}'; use one of: {choices}.") from None


def _eur(settings: Settings, amount: float, currency: str) -> float:
    return to_eur(amount, currency, settings.usd_to_eur)


def _standby_facts(s: Session, targets: list[Instance]) -> list[TargetFacts]:
    """Policy facts for each target, including the state and health of the *other* half of its pair."""
    accounts = {t.account_id for t in targets}
    partners = list(s.exec(select(Instance).where(col(Instance.account_id).in_(accounts))).all()) if accounts else []
    # Each target looks only among its own account's instances (in the order read): scanning every partner for
    # every target was quadratic, ~2 million comparisons for a thousand targets, on every plan and confirm.
    by_account: dict[str, list[Instance]] = {}
    for p in partners:
        by_account.setdefault(p.account_id, []).append(p)
    facts = []
    for t in targets:
        other = next(
            (
                p
                for p in by_account.get(t.account_id, ())
                if p.id != t.id and p.role != t.role and p.state != InstanceState.DELETED.value
            ),
            None,
        )
        facts.append(
            TargetFacts(
                t.id,
                t.account_id,
                t.tenant_id,
                t.role,
                t.state,
                standby_state=other.state if other else None,
                standby_healthy=bool(other and other.state == "ACTIVE" and (other.health_score or 0) >= HEALTHY_SCORE),
            )
        )
    return facts


# ---------------------------------------------------------------------- placement health
STATUS_TTL_SECONDS = 600.0
"""A status page read longer ago than this no longer steers placement (it may have recovered)."""
QUOTA_MEMORY = timedelta(hours=6)
"""How long a provider's quota refusal of a create keeps it out of automatic standby choices."""
_FAILED_CALL = re.compile(r"^(\w+) \w+ failed\b")


class StatusPages:
    """What the providers' status pages said lately, for placement: one per engine (its ``Operations`` owns it),
    so two engines in one process never steer by each other's reads."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[float, ProviderStatus]] = {}

    def note(self, status: ProviderStatus, *, at: float | None = None) -> None:
        """Remember what a provider's status page said (an unreadable page is not news)."""
        if status.indicator != "unknown":
            self._seen[status.provider] = (time.monotonic() if at is None else at, status)

    def forget(self) -> None:
        """Drop every remembered page (an operator who wants a fresh read; tests)."""
        self._seen.clear()

    def known(self, now: float | None = None) -> dict[str, ProviderStatus]:
        """The pages read within :data:`STATUS_TTL_SECONDS`."""
        now = time.monotonic() if now is None else now
        return {p: st for p, (at, st) in self._seen.items() if now - at <= STATUS_TTL_SECONDS}

    async def refresh(self, drivers: Any, providers: Iterable[str] | None = None) -> dict[str, ProviderStatus]:
        """Read the providers' status pages now (the demo's emulators, or the vendors' public pages) and
        remember them.

        Planning is synchronous, so the operation layer awaits this before drafting a provisioning plan; the
        ``provider_health`` tool and Guardian's checks may :meth:`note` pages as well.
        """
        import asyncio

        from engine.providers.status import provider_status

        wanted = list(providers or ("hetzner", "digitalocean", "vultr", "contabo", "hostinger"))
        if hasattr(drivers, "sim"):  # the in-process sim has no status page
            return {}
        ensure = getattr(drivers, "ensure", None)
        if ensure is not None:  # the demo: each emulator serves its vendor's status feed
            for provider in wanted:
                await ensure(provider)
            found = await asyncio.gather(*(provider_status(p, drivers.client, drivers.status_url(p)) for p in wanted))
        else:
            import httpx

            async with httpx.AsyncClient(timeout=10.0) as client:
                found = await asyncio.gather(*(provider_status(p, client) for p in wanted))
        for status in found:
            self.note(status)
        return {st.provider: st for st in found}


def _vendor_locations(region: Region) -> set[str]:
    """The names a status page may use for this region's location (ours, and the vendor's own)."""
    names = {region.location.lower()}
    if region.provider == Provider.CONTABO:
        from engine.providers.contabo import REGIONS as CONTABO_REGIONS

        if region.location in CONTABO_REGIONS:
            names.add(CONTABO_REGIONS[region.location].lower())
    return names


@dataclass(slots=True)
class PlacementHealth:
    """What is known right now about where new servers should not go, each reason one short phrase.

    ``down_*`` are hard: an open incident (Guardian's, shared through the store) or a major incident on the
    provider's status page.  ``warnings`` are soft (a recent quota refusal, a minor incident): automatic
    choices avoid them, an explicit choice goes ahead with the warning in the plan.  ``room`` is how many
    more servers each provider account takes under ``provider_server_limits``.
    """

    down_providers: dict[str, str] = field(default_factory=dict)
    down_regions: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)
    room: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    """provider → (room left, limit, servers in use)."""
    suspect_regions: dict[str, str] = field(default_factory=dict)
    """Regions Guardian's own rule calls suspect (many of our instances there unhealthy at once): soft — automatic
    choices avoid them while another region is fit; a region you name goes ahead."""

    def region_problem(self, region: Region) -> str | None:
        return self.down_providers.get(region.provider.value) or self.down_regions.get(region.name)

    def healthy_regions(self, provider: Provider, geo: Geo) -> tuple[list[Region], list[str]]:
        """``provider``'s regions in ``geo`` fit for new servers, and a note per region left out."""
        healthy, skipped = [], []
        for region in regions_for(provider, geo):
            why = self.region_problem(region)
            if why:
                skipped.append(f"{region.name} ({why})")
            else:
                healthy.append(region)
        calm = [r for r in healthy if r.name not in self.suspect_regions]
        if calm and len(calm) < len(healthy):
            skipped.extend(f"{r.name} ({self.suspect_regions[r.name]})" for r in healthy if r not in calm)
            healthy = calm
        return healthy, skipped

    def provider_suspect(self, provider: Provider, geo: Geo) -> str | None:
        """Why Guardian would not put new servers on ``provider`` in ``geo`` (every region of it suspect)."""
        regions = regions_for(provider, geo)
        if regions and all(r.name in self.suspect_regions for r in regions):
            return "; ".join(self.suspect_regions[r.name] for r in regions[:2])
        return None

    def short_of_room(self, provider: Provider, servers: int) -> str | None:
        if provider.value not in self.room:
            return None
        left, limit, used = self.room[provider.value]
        if left >= servers:
            return None
        return f"room for {left} more servers under its limit of {limit} ({used} in use)"


def placement_health(
    s: Session, settings: Settings, *, statuses: Mapping[str, ProviderStatus] | None = None, now: datetime | None = None
) -> PlacementHealth:
    """Gather what speaks against placing new servers somewhere: incidents, status pages (``statuses``: the
    engine's recent reads, :meth:`StatusPages.known`), quotas."""
    health = PlacementHealth()
    for row in s.exec(select(Incident).where(col(Incident.status) == "open")).all():
        detail = row.detail or {}
        confirmed = bool(detail.get("confirmed"))
        count = detail.get("instances")
        why = (
            f"open incident {row.id}"
            + (f", {count} instances failing" if count else "")
            + (f", confirmed by the {row.provider} status page" if confirmed and row.provider else "")
        )
        if row.region and row.region in REGIONS:
            health.down_regions.setdefault(row.region, why)
        elif row.provider and not row.region:
            health.down_providers.setdefault(row.provider, why)
    for provider, status in (statuses or {}).items():
        for incident in status.incidents:
            if incident.status in ("resolved", "postmortem", "completed"):
                continue
            hard = incident.impact in ("major", "critical")
            why = f"{provider} status page: {incident.title.rstrip('.')}"
            if not incident.locations:
                (health.down_providers if hard else health.warnings).setdefault(provider, why)
                continue
            named = {loc.lower() for loc in incident.locations}
            for region in REGIONS.values():
                if region.provider.value == provider and _vendor_locations(region) & named:
                    if hard:
                        health.down_regions.setdefault(region.name, why)
                    else:
                        health.warnings.setdefault(provider, f"{why} (minor, in {region.name})")
    if settings.provider_server_limits:
        used = dict(
            s.exec(
                select(Instance.provider, func.count())
                .where(col(Instance.state) != InstanceState.DELETED.value)
                .group_by(col(Instance.provider))
            ).all()
        )
        for provider, limit in settings.provider_server_limits.items():
            in_use = int(used.get(provider, 0))
            health.room[provider] = (max(limit - in_use, 0), limit, in_use)
    from engine.guardian import region_suspect

    counts: dict[str, list[int]] = {}
    for region_name, state, n in s.exec(
        select(Instance.region, Instance.state, func.count())
        .where(col(Instance.state).in_(("ACTIVE", "DEGRADED", "HEALING", "FAILED")), col(Instance.role) == "primary")
        .group_by(col(Instance.region), col(Instance.state))
    ).all():
        tally = counts.setdefault(region_name, [0, 0])
        tally[0] += int(n)
        if state in ("DEGRADED", "FAILED"):
            tally[1] += int(n)
    for region_name, (total, bad) in counts.items():
        if region_suspect(bad, total):
            health.suspect_regions[region_name] = f"Guardian: {bad} of {total} primaries there unhealthy"
    since = (now or utcnow()) - QUOTA_MEMORY
    hint = ProviderQuotaExceeded.hint
    for failure, when in s.exec(
        select(JobStep.detail, JobStep.updated_at).where(
            col(JobStep.status) == "failed",
            col(JobStep.action) == "provision_pair",
            col(JobStep.updated_at) >= since,
            col(JobStep.detail).contains(hint),
        )
    ).all():
        match = _FAILED_CALL.match(failure or "")
        if match and match.group(1) in {p.value for p in Provider}:
            health.warnings.setdefault(match.group(1), f"it refused a create for quota at {when:%H:%M} UTC")
    return health


@dataclass(slots=True)
class Placement:
    """Where new pairs go, and why some providers or regions were left out."""

    pairs: list[tuple[Region, Region]]
    standby: Provider
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    why: str = ""
    """Why the standbys go where they go, in one sentence (automatic choices only)."""
    costly: list[str] = field(default_factory=list)
    """Providers passed over because Ledger flags them as expensive for this tier and geo."""


def ledger_flags(tier: Tier, geo: Geo, primary: Provider, settings: Settings) -> dict[str, str]:
    """Ledger's cost view for placement: each provider it would flag ``cheaper_elsewhere`` for a new ``tier``
    server in ``geo`` beside a ``primary`` partner, with why (the same rule as Ledger's findings, so the two
    agents never disagree)."""
    from engine.ledger import best_alternative

    flags: dict[str, str] = {}
    for provider in PRIMARY_PREFERENCE[geo]:
        if provider == primary:
            continue
        plan = plan_for(provider, tier)
        own = _eur(settings, plan.monthly, plan.currency)
        alt = best_alternative(provider.value, tier.value, geo.value, primary.value, own, settings.usd_to_eur)
        if alt is not None and alt.provider != provider.value:
            flags[provider.value] = (
                f"Ledger: €{own:.2f}/month, {alt.provider} does {tier.value} for €{alt.monthly_eur:.2f}"
            )
    return flags


def _refuse(message: str) -> PolicyRefusal:
    return PolicyRefusal("healthy_placement", f"Refused: {message}")


def _healthy_alternatives(health: PlacementHealth, geo: Geo, exclude: Provider, count: int) -> str:
    names = [
        p.value
        for p in PRIMARY_PREFERENCE[geo]
        if p != exclude
        and health.healthy_regions(p, geo)[0]
        and not health.short_of_room(p, count)
        and p.value not in health.down_providers
    ]
    return f" (healthy in {geo.value.upper()}: {', '.join(names[:3])})" if names else ""


# ---------------------------------------------------------------------- provision_pairs
def placement(
    geo: Geo,
    primary: Provider,
    standby: Provider | None,
    region: Region | None,
    count: int,
    health: PlacementHealth | None = None,
    costs: Mapping[str, str] | None = None,
) -> Placement:
    """Primary and standby regions for ``count`` new pairs: round-robin over each provider's *healthy* regions.

    Automatic choices (the standby provider when none is named, the regions) skip what ``health`` advises
    against and say so; an explicit choice of something down — the primary provider, a named region or
    standby provider — is refused in one sentence, because placing new users on a known outage is never
    what the operator wants; soft signals (a recent quota refusal) only warn.
    """
    health = health or PlacementHealth()
    costs = costs or {}
    why_chosen = ""
    costly: list[str] = []
    if standby is not None and standby == primary:
        raise InputError(
            f"The standby must be on a different provider than the primary (both are {primary.value}); "
            "pick another standby provider."
        )
    skipped: list[str] = []
    warnings: list[str] = []
    # --- primary: always named by the operator
    if region is not None:
        why = health.region_problem(region)
        if why:
            raise _refuse(
                f"{region.name} is unhealthy right now ({why}); pick another region, or name none and "
                f"healthy {primary.value} regions are used."
            )
        primary_regions = [region]
    else:
        if not regions_for(primary, geo):
            raise InputError(f"{primary.value} has no region in {geo.value.upper()}; pick another geo or provider.")
        if primary.value in health.down_providers:
            raise _refuse(
                f"{primary.value} is unhealthy right now ({health.down_providers[primary.value]}); pick "
                f"another primary provider{_healthy_alternatives(health, geo, primary, count)}."
            )
        primary_regions, left_out = health.healthy_regions(primary, geo)
        if not primary_regions:
            raise _refuse(
                f"every {primary.value} region in {geo.value.upper()} is unhealthy right now "
                f"({'; '.join(left_out)}); pick another primary provider"
                f"{_healthy_alternatives(health, geo, primary, count)}."
            )
        skipped.extend(left_out)
    short = health.short_of_room(primary, count)
    if short:
        raise _refuse(
            f"{primary.value} has {short}, not {count}; ask for fewer pairs, raise "
            f"provider_server_limits.{primary.value}, or pick another primary provider."
        )
    if primary.value in health.warnings:
        warnings.append(f"{primary.value}: {health.warnings[primary.value]}")
    # --- standby: named, or the first healthy provider in the geo's order of preference
    if standby is not None:
        if not regions_for(standby, geo):
            raise InputError(f"{standby.value} has no region in {geo.value.upper()}; pick another standby provider.")
        if standby.value in health.down_providers:
            raise _refuse(
                f"the standby provider {standby.value} is unhealthy right now "
                f"({health.down_providers[standby.value]}); pick another standby provider, or name none "
                "and a healthy one is chosen."
            )
        standby_regions, left_out = health.healthy_regions(standby, geo)
        if not standby_regions:
            raise _refuse(
                f"every {standby.value} region in {geo.value.upper()} is unhealthy right now "
                f"({'; '.join(left_out)}); pick another standby provider, or name none."
            )
        short = health.short_of_room(standby, count)
        if short:
            raise _refuse(
                f"the standby provider {standby.value} has {short}, not {count}; ask for fewer pairs or "
                "pick another standby provider."
            )
        skipped.extend(left_out)
        if standby.value in health.warnings:
            warnings.append(f"{standby.value}: {health.warnings[standby.value]}")
        if standby.value in costs:
            warnings.append(f"{standby.value} as you asked, though {costs[standby.value]}")
        chosen = standby
    else:
        candidates = [p for p in PRIMARY_PREFERENCE[geo] if p != primary and regions_for(p, geo)]
        if not candidates:
            raise InputError(f"No second provider has regions in {geo.value.upper()}; name a standby provider.")
        picked: tuple[Provider, list[Region], list[str]] | None = None
        passed_over: list[str] = []
        fit_but_costly: list[tuple[Provider, list[Region], list[str]]] = []
        for candidate in candidates:
            regions, left_out = health.healthy_regions(candidate, geo)
            why = (
                health.down_providers.get(candidate.value)
                or (None if regions else "no healthy region in " + geo.value.upper())
                or health.provider_suspect(candidate, geo)
                or health.short_of_room(candidate, count)
                or health.warnings.get(candidate.value)
            )
            if why is None and candidate.value in costs:
                fit_but_costly.append((candidate, regions, left_out))
                costly.append(f"{candidate.value} ({costs[candidate.value]})")
                continue
            if why is None:
                picked = (candidate, regions, left_out)
                break
            passed_over.append(f"{candidate.value} for standbys ({why})")
        if picked is None and fit_but_costly:
            picked = fit_but_costly[0]  # every healthy option is flagged: the first of them, and say so
            costly = [c for c in costly if not c.startswith(f"{picked[0].value} ")]
            why_chosen = (
                f"Standbys on {picked[0].value}: every healthy provider is flagged by Ledger as "
                f"expensive ({costs[picked[0].value]}), this is the first by preference."
            )
        if picked is None:
            raise _refuse(
                f"no provider in {geo.value.upper()} is fit for the standbys right now "
                f"({'; '.join(passed_over)}); name a standby provider once one recovers."
            )
        chosen, standby_regions, left_out = picked
        skipped.extend(passed_over)
        skipped.extend(left_out)
        if not why_chosen:
            why_chosen = (
                f"Standbys on {chosen.value}: healthy (no open incident, status page clear)"
                + (", with room," if health.room else "")
                + (" and not flagged by Ledger as expensive." if costs or costly else ".")
            )
    pairs = [
        (primary_regions[i % len(primary_regions)], standby_regions[i % len(standby_regions)]) for i in range(count)
    ]
    return Placement(pairs, chosen, skipped, warnings, why_chosen, costly)


def draft_provision(
    s: Session, caller: Caller, args: dict[str, Any], settings: Settings, pages: StatusPages | None = None
) -> Draft:
    """A provisioning plan, placed around what ``pages`` (this engine's status-page reads) and the store say."""
    try:
        count = int(args["count"])
    except (TypeError, ValueError):
        raise InputError(f"count must be a whole number of pairs, not '{args['count']}'.") from None
    if count < 1:
        raise InputError("count must be at least 1 pair.")
    if count > MAX_PROVISION:
        raise InputError(f"count {count:,} is more than one request may provision ({MAX_PROVISION:,}); split it up.")
    tier = _enum(Tier, args["tier"], "tier")
    primary = _enum(Provider, args["primary_provider"], "provider")
    standby = _enum(Provider, args["standby_provider"], "provider") if args.get("standby_provider") else None
    region = None
    if args.get("region"):
        name = str(args["region"]).strip().lower()
        if name not in REGIONS:
            raise InputError(f"Unknown region '{args['region']}'; regions look like eu-hetzner-nbg1.")
        region = REGIONS[name]
        if region.provider != primary:
            raise InputError(
                f"Region {name} belongs to {region.provider.value}, not the primary provider {primary.value}."
            )
    geo = region.geo if region else _enum(Geo, args.get("geo") or "eu", "geo")
    statuses = pages.known() if pages is not None else None
    placed = placement(
        geo,
        primary,
        standby,
        region,
        count,
        placement_health(s, settings, statuses=statuses),
        ledger_flags(tier, geo, primary, settings),
    )
    pairs, standby = placed.pairs, placed.standby
    p_plan, s_plan = plan_for(primary, tier), plan_for(standby, tier)
    per_pair = _eur(settings, p_plan.monthly, p_plan.currency) + _eur(settings, s_plan.monthly, s_plan.currency)
    regions_used = sorted({r.name for pair in pairs for r in pair})
    clean = {
        "count": count,
        "tier": tier.value,
        "geo": geo.value,
        "primary_provider": primary.value,
        "standby_provider": standby.value,
    }
    if region:
        clean["region"] = region.name
    if args.get("label"):
        clean["label"] = str(args["label"])[:100]
    steps = [
        {
            "action": "provision_pair",
            "pair": i,
            "primary_region": p.name,
            "standby_region": sb.name,
            "tier": tier.value,
            "text": f"pair {i + 1}: primary {p.name}, standby {sb.name}",
        }
        for i, (p, sb) in enumerate(pairs)
    ]
    summary = (
        f"Provision {_plural(count, 'new pair')} ({count} × {tier.value}): primaries on {primary.value}, "
        f"standbys on {standby.value}, in {', '.join(regions_used)}. "
        f"Adds about €{per_pair * count:,.2f}/month (€{per_pair:.2f} per pair)."
    )
    if placed.why:
        summary += f" {placed.why}"
    if placed.costly:
        summary += f" Passed over as expensive: {'; '.join(placed.costly)}."
    if placed.skipped:
        summary += f" Skipped as unhealthy or full: {'; '.join(placed.skipped)}."
    if placed.warnings:
        summary += f" Warning: {'; '.join(placed.warnings)}."
    facts = PolicyFacts(
        tool="provision_pairs", kind="mutate", affected_users=count, confirm_threshold=settings.confirm_threshold
    )
    return Draft("provision_pairs", clean, summary, [], steps, count, round(per_pair * count, 2), True, facts)


# ---------------------------------------------------------------------- teardown
def draft_teardown(
    s: Session, caller: Caller, args: dict[str, Any], settings: Settings, drivers: Callable[[str], ProviderDriver]
) -> Draft:
    selector = Selector.parse(args["selector"])
    if selector.is_empty:
        raise InputError("teardown needs a selector that names what to remove; it never means 'everything'.")
    archive = args.get("archive", True)
    if not isinstance(archive, bool):
        raise InputError("archive must be true or false.")
    targets = select_instances(s, caller, selector, usd_to_eur=settings.usd_to_eur)
    if not targets:
        raise InputError(f"No instances match {selector.describe()}; nothing to tear down.")
    from engine.ledger import Money, price_eur, removal_saving, saving_text, savings_of, step_saving

    users = len({t.account_id for t in targets})
    # Priced by the Ledger's own functions, so the plan saves exactly what the finding it came from said; each
    # step keeps its share and when it starts, for "what did that save us?".
    today = utcnow().date()
    saves = {
        t.id: removal_saving(t.state, price_eur(t.monthly_price, t.currency, settings.usd_to_eur)) for t in targets
    }
    saved = savings_of(((t.provider, t.created_at, saves[t.id]) for t in targets), today)
    cancels = [t for t in targets if not drivers(t.provider).capabilities.can_delete]
    steps = [
        {
            "instance": t.id,
            "action": "teardown",
            "archive": archive,
            "text": f"{'archive, then ' if archive else ''}"
            f"{'cancel the contract of' if t in cancels else 'delete'} {t.id} ({t.provider}, {t.state})",
            **step_saving(t.provider, t.created_at, saves[t.id], today),
        }
        for t in targets
    ]
    note = (
        f" {len(cancels)} on Contabo/Hostinger cannot be deleted early: their contracts are cancelled and they "
        "run, and are billed, to the end of the term."
        if cancels
        else ""
    )
    what = (
        f"the pairs of {_plural(users, 'account')} ({len(targets):,} {selector.describe()})"
        if len(targets) > 1 and _whole_accounts(s, targets)
        else f"{_plural(len(targets), 'instance')} ({selector.describe()})"
    )
    summary = (
        f"Tear down {what}, affecting {_plural(users, 'user')}"
        f"{'; each account is archived first' if archive else '; NO archive'}. "
        f"{saving_text(saved, Money.of(settings))}{note}"
    )
    facts = PolicyFacts(
        tool="teardown",
        kind="mutate",
        affected_users=users,
        deletes_servers=True,
        confirm_threshold=settings.confirm_threshold,
        targets=_standby_facts(s, targets),
    )
    args = {"selector": selector.to_dict(), "archive": archive}
    return Draft(
        "teardown", args, summary, [t.id for t in targets], steps, users, 0.0 - saved.monthly_eur, False, facts
    )


def _whole_accounts(s: Session, targets: list[Instance]) -> bool:
    """Whether the targets are every instance their accounts still have (whole pairs go, not halves), so the plan
    can name accounts as the Ledger's idle finding does."""
    from engine.ledger import LEAVING_STATES

    accounts = {t.account_id for t in targets}
    gone = [InstanceState.DELETED.value, *LEAVING_STATES]
    stmt = (
        select(func.count())
        .select_from(Instance)
        .where(col(Instance.account_id).in_(accounts), col(Instance.state).not_in(gone))
    )
    return int(s.exec(stmt).one()) == len(targets)


# ---------------------------------------------------------------------- resize
def draft_resize(
    s: Session, caller: Caller, args: dict[str, Any], settings: Settings, drivers: Callable[[str], ProviderDriver]
) -> Draft:
    selector = Selector.parse(args["selector"])
    tier = _enum(Tier, args["tier"], "tier")
    matched = [
        i
        for i in select_instances(s, caller, selector, usd_to_eur=settings.usd_to_eur)
        if InstanceState(i.state) in SERVING_STATES
    ]
    candidates = [i for i in matched if i.tier != tier.value]
    if not candidates:
        raise InputError(
            f"No serving instances match {selector.describe()} on a tier other than {tier.value}; nothing to resize."
        )
    order = [t.value for t in Tier]

    def cannot(i: Instance) -> bool:
        caps = drivers(i.provider).capabilities
        downsizing = order.index(tier.value) < order.index(i.tier)
        return not caps.can_resize or (downsizing and caps.resize_upgrade_only)

    fixed = [i for i in candidates if cannot(i)]
    targets = [i for i in candidates if i not in fixed]
    if not targets:
        raise InputError(
            f"All {len(candidates)} matching instances are on providers that cannot make this change in place "
            f"({', '.join(sorted({i.provider for i in fixed}))}: no resize, or upgrades only); replace them instead."
        )
    from engine.ledger import Money, downsize_saving, price_eur, saving_text, savings_of, step_saving

    today = utcnow().date()
    changes = []
    steps = []
    for i in targets:
        new = plan_for(Provider(i.provider), tier)
        # The Ledger's own per-instance figure (the oversized finding sums the same), an unpriced one as 0.
        own = price_eur(i.monthly_price, i.currency, settings.usd_to_eur)
        saving = downsize_saving(i.provider, own, tier, settings.usd_to_eur) or 0.0
        changes.append((i.provider, i.created_at, saving))
        steps.append(
            {
                "instance": i.id,
                "action": "resize",
                "tier": tier.value,
                "plan_id": new.plan_id,
                "text": f"resize {i.id} ({i.provider}) {i.tier} → {tier.value} ({new.plan_id})",
                **step_saving(i.provider, i.created_at, saving, today),
            }
        )
    saved = savings_of(changes, today)
    money = Money.of(settings)
    users = len({i.account_id for i in targets})
    skipped = (
        f" {len(fixed)} on providers that cannot do this in place (no resize, or upgrades only) are skipped."
        if fixed
        else ""
    )
    cost = (
        saving_text(saved, money)
        if saved.monthly_eur > 0
        else f"Adds about {money.text(-saved.monthly_eur)}/month."
        if saved.monthly_eur < 0
        else "The monthly cost does not change."
    )
    summary = (
        f"Resize {_plural(len(targets), 'instance')} ({selector.describe()}) to {tier.value}, affecting "
        f"{_plural(users, 'user')}; each restarts once. {cost}{skipped}"
    )
    facts = PolicyFacts(
        tool="resize",
        kind="mutate",
        affected_users=users,
        confirm_threshold=settings.confirm_threshold,
        targets=_standby_facts(s, targets),
    )
    clean = {"selector": selector.to_dict(), "tier": tier.value}
    return Draft("resize", clean, summary, [i.id for i in targets], steps, users, 0.0 - saved.monthly_eur, True, facts)


# ---------------------------------------------------------------------- failover
def draft_failover(s: Session, caller: Caller, args: dict[str, Any], settings: Settings) -> Draft:
    selector = Selector.parse(args["selector"])
    matched = select_instances(s, caller, selector, usd_to_eur=settings.usd_to_eur)
    accounts = sorted({i.account_id for i in matched})
    matched_ids = {i.id for i in matched}
    if not accounts:
        raise InputError(f"No instances match {selector.describe()}; nothing to fail over.")
    pairs = list(
        s.exec(
            select(Instance).where(
                col(Instance.account_id).in_(accounts), col(Instance.state) != InstanceState.DELETED.value
            )
        ).all()
    )
    steps: list[dict[str, Any]] = []
    unhealthy: list[str] = []
    why_not: list[str] = []
    targets: list[Instance] = []
    cost = 0.0
    # Each account's instances in the order read: scanning every pair for every account was quadratic in the
    # number of accounts a failover moves (a whole region's).
    by_account: dict[str, list[Instance]] = {}
    for inst in pairs:
        by_account.setdefault(inst.account_id, []).append(inst)
    for acct in accounts:
        mine = by_account.get(acct, [])
        primary = next((i for i in mine if i.role == "primary"), None)
        standby = next((i for i in mine if i.role == "standby" and i.state == InstanceState.ACTIVE.value), None)
        if primary is None or primary.id not in matched_ids:
            continue  # only users served from what was selected move (a standby there is not a reason to)
        if standby is None or (standby.health_score or 0) < HEALTHY_SCORE:
            unhealthy.append(acct)
            other = next((i for i in mine if i.role == "standby"), None)
            if standby is not None:
                why_not.append(
                    f"{acct}: standby {standby.id} scores {standby.health_score or 0} "
                    f'({standby.health_reason or "unhealthy"}) — heal it ("restart {standby.id}"), '
                    "then fail over"
                )
            elif other is not None:
                why_not.append(
                    f"{acct}: standby {other.id} is {other.state}, health {other.health_score or 0}"
                    f"{f' ({other.health_reason})' if other.health_reason else ''} — heal or replace it "
                    f'("restart {other.id}"), then fail over'
                )
            else:
                why_not.append(f"{acct}: no standby — provision one, then fail over")
            continue
        targets.extend([primary, standby])
        replacement = plan_for(Provider(standby.provider), Tier(standby.tier))
        cost += _eur(settings, replacement.monthly, replacement.currency)
        steps.append(
            {
                "instance": standby.id,
                "action": "failover",
                "old_primary": primary.id,
                "text": f"{acct}: promote {standby.id} ({standby.provider}), mark {primary.id} FAILED, "
                "queue a replacement standby",
            }
        )
    if unhealthy and not steps:
        raise PolicyRefusal(
            "standby_verified",
            f"Refused: {_plural(len(unhealthy), 'account')} ({', '.join(unhealthy[:5])}) have no ACTIVE standby with "
            f"health ≥ {HEALTHY_SCORE}; failing over would leave users without a gateway. Repair the standby first.",
        )
    if not steps:
        raise InputError(f"No primaries match {selector.describe()}; nothing to fail over.")
    users = len(steps)
    summary = (
        f"Fail over {_plural(users, 'account')} ({selector.describe()}) to their verified healthy standbys; "
        f"old primaries are marked FAILED and replacement standbys are provisioned "
        f"(about €{cost:,.2f}/month more until the failed primaries are torn down)."
    )
    if why_not:
        # Do everything that is safe; say exactly what is left and how to finish it (rule: standby_verified).
        shown = "; ".join(why_not[:10]) + (f"; and {len(why_not) - 10} more" if len(why_not) > 10 else "")
        summary += (
            f" Not failed over ({len(why_not)}, their standby is not verified healthy, so they stay on "
            f"their primary): {shown}."
        )
    facts = PolicyFacts(
        tool="failover",
        kind="mutate",
        affected_users=users,
        confirm_threshold=settings.confirm_threshold,
        targets=_standby_facts(s, targets),
    )
    return Draft(
        "failover",
        {"selector": selector.to_dict()},
        summary,
        [t.id for t in targets],
        steps,
        users,
        round(cost, 2),
        False,
        facts,
    )


# ---------------------------------------------------------------------- config_push
MAX_CONFIG_BYTES = 64 * 1024
DEFAULT_ROLLING_BATCH = 50


def draft_config_push(s: Session, caller: Caller, args: dict[str, Any], settings: Settings) -> Draft:
    import json

    from engine.policy import MAX_CONFIG_BATCH

    selector = Selector.parse(args["selector"])
    config = args["config"]
    if not isinstance(config, dict) or not config:
        raise InputError('config must be a non-empty object of gateway settings, e.g. {"log_level": "info"}.')
    try:
        size = len(json.dumps(config))
    except (TypeError, ValueError):
        raise InputError("config must contain only JSON values (strings, numbers, booleans, lists, objects).") from None
    if size > MAX_CONFIG_BYTES:
        raise InputError(f"config is {size:,} bytes; the limit is {MAX_CONFIG_BYTES:,}. Push smaller changes.")
    targets = [
        i
        for i in select_instances(s, caller, selector, usd_to_eur=settings.usd_to_eur)
        if InstanceState(i.state) in SERVING_STATES
    ]
    if not targets:
        raise InputError(f"No serving instances match {selector.describe()}; nothing to configure.")
    if args.get("batch_size") is not None:
        try:
            batch = int(args["batch_size"])
        except (TypeError, ValueError):
            raise InputError("batch_size must be a whole number of instances.") from None
        if batch < 1:
            raise InputError("batch_size must be at least 1.")
    else:
        batch = len(targets) if len(targets) <= MAX_CONFIG_BATCH else DEFAULT_ROLLING_BATCH
    batches = [targets[i : i + batch] for i in range(0, len(targets), batch)]
    steps = [
        {
            "instance": b[0].id,
            "action": "config_batch",
            "batch": n,
            "instances": [i.id for i in b],
            "text": f"batch {n + 1}/{len(batches)}: apply to {len(b)} instances, then re-check their health",
        }
        for n, b in enumerate(batches)
    ]
    users = len({i.account_id for i in targets})
    summary = (
        f"Push config ({', '.join(sorted(config)[:5])}) to {_plural(len(targets), 'instance')} "
        f"({selector.describe()}) in {_plural(len(batches), 'batch')} of up to {batch}, health re-checked after "
        f"each; a failing batch halts the rollout and rolls every batch back. Affects {_plural(users, 'user')}."
    )
    facts = PolicyFacts(
        tool="config_push",
        kind="mutate",
        affected_users=users,
        confirm_threshold=settings.confirm_threshold,
        config_targets=len(targets),
        batch_size=batch,
        targets=_standby_facts(s, targets),
    )
    clean = {"selector": selector.to_dict(), "config": config, "batch_size": batch}
    return Draft("config_push", clean, summary, [i.id for i in targets], steps, users, 0.0, True, facts)


# ---------------------------------------------------------------------- silence_alerts
MAX_SILENCE_MINUTES = 7 * 24 * 60


def draft_silence(s: Session, caller: Caller, args: dict[str, Any], settings: Settings) -> Draft:
    selector = Selector.parse(args["selector"])
    try:
        minutes = int(args["minutes"])
    except (TypeError, ValueError):
        raise InputError("minutes must be a whole number, e.g. 60.") from None
    if not 1 <= minutes <= MAX_SILENCE_MINUTES:
        raise InputError(f"minutes must be between 1 and {MAX_SILENCE_MINUTES:,} (one week).")
    targets = select_instances(s, caller, selector, usd_to_eur=settings.usd_to_eur)
    if not targets:
        raise InputError(f"No instances match {selector.describe()}; nothing to silence.")
    users = len({i.account_id for i in targets})
    reason = str(args.get("reason") or "")[:300]
    summary = (
        f"Silence alerts for {_plural(len(targets), 'instance')} ({selector.describe()}) for {minutes} minutes"
        f"{f' ({reason})' if reason else ''}. Guardian keeps healing; only notifications are muted."
    )
    steps = [
        {
            "instance": targets[0].id,
            "action": "silence",
            "selector": selector.to_dict(),
            "minutes": minutes,
            "reason": reason,
            "text": summary,
        }
    ]
    facts = PolicyFacts(
        tool="silence_alerts",
        kind="mutate",
        affected_users=users,
        confirm_threshold=settings.confirm_threshold,
        targets=_standby_facts(s, targets),
    )
    clean: dict[str, Any] = {"selector": selector.to_dict(), "minutes": minutes}
    if reason:
        clean["reason"] = reason
    return Draft("silence_alerts", clean, summary, [i.id for i in targets], steps, users, 0.0, True, facts)
