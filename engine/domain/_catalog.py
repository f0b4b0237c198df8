"""Providers, regions, tiers and the built-in price catalog.

The catalog here is the *fallback* (and the demo's truth): provider drivers
refresh it from each vendor's plan/pricing endpoint where one exists, and
Contabo, which has none, keeps this maintained table.  Prices carry their
currency; anything that adds money up converts with the configured rate and
says so, instead of silently mixing EUR and USD.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from engine.errors import InputError


class Provider(StrEnum):
    """Providers ClawOps can drive (ARCHITECTURE §2, contract)."""

    HETZNER = "hetzner"
    VULTR = "vultr"
    CONTABO = "contabo"
    HOSTINGER = "hostinger"
    DIGITALOCEAN = "digitalocean"
    SIM = "sim"


class Tier(StrEnum):
    """Size classes, mapped to one plan per provider."""

    NANO = "nano"
    STANDARD = "standard"
    PERFORMANCE = "performance"


class Geo(StrEnum):
    EU = "eu"
    US = "us"
    AP = "ap"


class Billing(StrEnum):
    """How a provider bills: decides whether stopping early saves money."""

    HOURLY_CAPPED = "hourly_capped"
    MONTHLY_CONTRACT = "monthly_contract"
    SUBSCRIPTION = "subscription"


TIER_SIZES: dict[Tier, tuple[int, int]] = {
    Tier.NANO: (1, 2),
    Tier.STANDARD: (2, 4),
    Tier.PERFORMANCE: (4, 8),
}
"""vCPUs and GB of memory each tier promises (a plan may exceed it, never undercut it)."""

_REGION_RE = re.compile(r"^(eu|us|ap)-(hetzner|vultr|contabo|hostinger|digitalocean|sim)-([a-z0-9]+)$")


@dataclass(frozen=True, slots=True)
class Region:
    """A provider location, named ``<geo>-<provider>-<location>``."""

    geo: Geo
    provider: Provider
    location: str
    city: str

    @property
    def name(self) -> str:
        return f"{self.geo}-{self.provider}-{self.location}"


def _r(geo: str, provider: str, location: str, city: str) -> Region:
    return Region(Geo(geo), Provider(provider), location, city)


REGIONS: dict[str, Region] = {
    r.name: r
    for r in (
        _r("eu", "hetzner", "nbg1", "Nuremberg"),
        _r("eu", "hetzner", "fsn1", "Falkenstein"),
        _r("eu", "hetzner", "hel1", "Helsinki"),
        _r("us", "hetzner", "ash", "Ashburn"),
        _r("us", "hetzner", "hil", "Hillsboro"),
        _r("ap", "hetzner", "sin", "Singapore"),
        _r("us", "vultr", "ewr", "New Jersey"),
        _r("us", "vultr", "lax", "Los Angeles"),
        _r("eu", "vultr", "fra", "Frankfurt"),
        _r("eu", "vultr", "ams", "Amsterdam"),
        _r("ap", "vultr", "sgp", "Singapore"),
        _r("ap", "vultr", "nrt", "Tokyo"),
        _r("us", "digitalocean", "nyc3", "New York"),
        _r("us", "digitalocean", "sfo3", "San Francisco"),
        _r("eu", "digitalocean", "fra1", "Frankfurt"),
        _r("eu", "digitalocean", "ams3", "Amsterdam"),
        _r("eu", "digitalocean", "lon1", "London"),
        _r("ap", "digitalocean", "sgp1", "Singapore"),
        _r("eu", "contabo", "nue", "Nuremberg"),
        _r("us", "contabo", "east", "New York"),
        _r("us", "contabo", "central", "St. Louis"),
        _r("ap", "contabo", "sin", "Singapore"),
        _r("eu", "hostinger", "vno", "Vilnius"),
        _r("us", "hostinger", "bos", "Boston"),
        _r("ap", "hostinger", "sin", "Singapore"),
        _r("eu", "sim", "local", "Simulated EU"),
        _r("us", "sim", "local", "Simulated US"),
    )
}


def parse_region(name: str) -> Region:
    """Return the known region called ``name`` or raise a clear :class:`InputError`."""
    key = name.strip().lower()
    if key in REGIONS:
        return REGIONS[key]
    if not _REGION_RE.match(key):
        raise InputError(
            f"'{name}' is not a region name; regions look like eu-hetzner-nbg1 (<geo>-<provider>-<location>)."
        )
    raise InputError(f"Unknown region '{name}'; known regions include {', '.join(sorted(REGIONS)[:6])}, ….")


def regions_for(provider: Provider | None = None, geo: Geo | None = None) -> list[Region]:
    """Known regions, optionally narrowed to one provider and/or geo, in a stable order."""
    return [
        r for r in REGIONS.values() if (provider is None or r.provider == provider) and (geo is None or r.geo == geo)
    ]


@dataclass(frozen=True, slots=True)
class Plan:
    """One provider plan that serves a tier, with its list price."""

    provider: Provider
    tier: Tier
    plan_id: str
    vcpu: int
    ram_gb: int
    currency: str
    monthly: float
    hourly: float | None
    billing: Billing


def _p(
    provider: str,
    tier: str,
    plan_id: str,
    vcpu: int,
    ram: int,
    cur: str,
    monthly: float,
    hourly: float | None,
    billing: Billing,
) -> Plan:
    return Plan(Provider(provider), Tier(tier), plan_id, vcpu, ram, cur, monthly, hourly, billing)


_H, _M, _S = Billing.HOURLY_CAPPED, Billing.MONTHLY_CONTRACT, Billing.SUBSCRIPTION

#: Fallback catalog: tier → plan per provider.  Figures from shared/reference/providers.md §10 and the
#: vendors' public price lists (2026); drivers overwrite them with live prices where an API exists.
PLANS: dict[tuple[Provider, Tier], Plan] = {
    (p.provider, p.tier): p
    for p in (
        _p("hetzner", "nano", "cpx12", 1, 2, "EUR", 4.49, 0.0072, _H),
        _p("hetzner", "standard", "cx23", 2, 4, "EUR", 5.49, 0.0088, _H),
        _p("hetzner", "performance", "cx33", 4, 8, "EUR", 8.99, 0.0144, _H),
        _p("digitalocean", "nano", "s-1vcpu-2gb", 1, 2, "USD", 12.00, 0.01786, _H),
        _p("digitalocean", "standard", "s-2vcpu-4gb", 2, 4, "USD", 24.00, 0.03571, _H),
        _p("digitalocean", "performance", "s-4vcpu-8gb", 4, 8, "USD", 48.00, 0.07143, _H),
        _p("vultr", "nano", "vc2-1c-2gb", 1, 2, "USD", 10.00, 0.015, _H),
        _p("vultr", "standard", "vc2-2c-4gb", 2, 4, "USD", 20.00, 0.030, _H),
        _p("vultr", "performance", "vc2-4c-8gb", 4, 8, "USD", 40.00, 0.060, _H),
        _p("contabo", "nano", "V91", 4, 8, "EUR", 5.50, None, _M),
        _p("contabo", "standard", "V91", 4, 8, "EUR", 5.50, None, _M),
        _p("contabo", "performance", "V94", 6, 12, "EUR", 9.50, None, _M),
        _p("hostinger", "nano", "hostingercom-vps-kvm1-usd-1m", 1, 4, "USD", 9.99, None, _S),
        _p("hostinger", "standard", "hostingercom-vps-kvm2-usd-1m", 2, 8, "USD", 17.99, None, _S),
        _p("hostinger", "performance", "hostingercom-vps-kvm4-usd-1m", 4, 16, "USD", 29.99, None, _S),
        _p("sim", "nano", "sim-nano", 1, 2, "EUR", 4.00, 0.0055, _H),
        _p("sim", "standard", "sim-standard", 2, 4, "EUR", 8.00, 0.011, _H),
        _p("sim", "performance", "sim-performance", 4, 8, "EUR", 16.00, 0.022, _H),
    )
}


def plan_for(provider: Provider, tier: Tier) -> Plan:
    """The plan that serves ``tier`` on ``provider``."""
    try:
        return PLANS[(provider, tier)]
    except KeyError:
        raise InputError(f"No {tier} plan is known for {provider}; pick another tier or provider.") from None


def to_eur(amount: float, currency: str, usd_to_eur: float) -> float:
    """Convert a price to EUR, the reporting currency, with the configured rate."""
    if currency == "EUR":
        return amount
    if currency == "USD":
        return amount * usd_to_eur
    raise InputError(f"No exchange rate is configured for {currency}; set one in the settings file.")
