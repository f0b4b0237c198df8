"""Entity recognisers: which providers, regions, geos, tiers, states, roles and ids a text names.

The bottom of the brain's understanding (UNDERSTANDING.md, step 2): the offline brain reads fresh requests with
them and the dialogue follow-ups (``_dialogue``: "only the vultr ones", "same for DO") read their changes with the
same ones, so neither module reaches into the other for them.  Every table is the fleet's own vocabulary (the
domain's regions and cities) plus the common names operators use for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from engine.domain import REGIONS

__all__ = [
    "ACCOUNT_RE",
    "CITY_WORDS",
    "GEO_WORDS",
    "INSTANCE_RE",
    "LOOSE_TIERS",
    "PROVIDER_WORDS",
    "ROLE_WORDS",
    "STATE_WORDS",
    "TIER_WORDS",
    "account_id",
    "filters",
    "ids",
    "words",
]

PROVIDER_WORDS = {
    "hetzner": "hetzner",
    "htz": "hetzner",
    "vultr": "vultr",
    "digitalocean": "digitalocean",
    "digital ocean": "digitalocean",
    "do": "digitalocean",
    "contabo": "contabo",
    "hostinger": "hostinger",
    "sim": "sim",
}
STATE_WORDS = {
    "degraded": "DEGRADED",
    "unhealthy": "DEGRADED",
    "sick": "DEGRADED",
    "struggling": "DEGRADED",
    "failed": "FAILED",
    "failing": "FAILED",
    "down": "FAILED",
    "dead": "FAILED",
    "offline": "FAILED",
    "unreachable": "FAILED",
    "broken": "FAILED",
    "healing": "HEALING",
    "active": "ACTIVE",
    "healthy": "ACTIVE",
    "error": "ERROR",
    "errored": "ERROR",
    "errors": "ERROR",
    "creating": "CREATING",
    "bootstrapping": "BOOTSTRAPPING",
    "requested": "REQUESTED",
    "draining": "DRAINING",
    "archiving": "ARCHIVING",
    "promoting": "STANDBY_PROMOTING",
    "deleted": "DELETED",
}
GEO_WORDS = {
    "eu": "eu",
    "europe": "eu",
    "european": "eu",
    "us": "us",
    "usa": "us",
    "america": "us",
    "american": "us",
    "states": "us",
    "ap": "ap",
    "asia": "ap",
    "apac": "ap",
    "asian": "ap",
}
TIER_WORDS = {
    "nano": "nano",
    "cheap": "nano",
    "cheapest": "nano",
    "smallest": "nano",
    "small": "nano",
    "tiny": "nano",
    "budget": "nano",
    "standard": "standard",
    "medium": "standard",
    "regular": "standard",
    "performance": "performance",
    "perf": "performance",
    "large": "performance",
    "big": "performance",
    "biggest": "performance",
    "beefy": "performance",
}
LOOSE_TIERS = frozenset(
    {
        "small",
        "big",
        "large",
        "cheap",
        "cheapest",
        "tiny",
        "budget",
        "medium",
        "regular",
        "biggest",
        "beefy",
        "smallest",
    }
)
ROLE_WORDS = {
    "primary": "primary",
    "primaries": "primary",
    "standby": "standby",
    "standbys": "standby",
    "standbies": "standby",
}


_REAL_REGIONS = [r for r in REGIONS.values() if r.provider.value != "sim"]


def _city_words() -> dict[str, tuple[str, ...]]:
    cities: dict[str, list[str]] = {}
    for region in _REAL_REGIONS:
        cities.setdefault(region.city.lower(), []).append(region.name)
    for region in _REAL_REGIONS:
        # A location code names its city, with or without the provider's digit: "fra1" and "fra" are Frankfurt,
        # so "fra on DO" is DigitalOcean's Frankfurt even though "fra" is Vultr's own code. The code's own
        # region first.
        for code in dict.fromkeys((region.location.lower(), region.location.lower().rstrip("0123456789"))):
            if code and code not in ("east", "central"):
                names = cities.setdefault(code, [])
                for name in (region.name, *cities[region.city.lower()]):
                    if name not in names:
                        names.append(name)
    for alias, city in (
        ("nuernberg", "nuremberg"),
        ("nürnberg", "nuremberg"),
        ("nyc", "new york"),
        ("sf", "san francisco"),
        ("newark", "new jersey"),
        ("la", "los angeles"),
        ("virginia", "ashburn"),
    ):
        cities[alias] = cities[city]
    return {city: tuple(names) for city, names in cities.items()}


CITY_WORDS: Mapping[str, tuple[str, ...]] = MappingProxyType(_city_words())
"""A place's names → the regions there, the likeliest first (a provider named elsewhere picks among them).
Read-only: built once from the domain's regions, the same for every engine."""
_CITY_RES = [
    (re.compile(rf"\b{re.escape(city)}\b"), names)
    for city, names in sorted(CITY_WORDS.items(), key=lambda kv: -len(kv[0]))
]
ACCOUNT_RE = re.compile(r"\bacct[- ]?(\d{1,6})\b")
INSTANCE_RE = re.compile(r"\b(i-acct-[a-z0-9-]+)\b")


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9][a-z0-9'-]*", text)


def account_id(digits: str) -> str:
    """``acct-42`` means ``acct-042`` (ids have at least three digits); longer ids are kept as typed."""
    return f"acct-{digits}" if len(digits) >= 3 else f"acct-{int(digits):03d}"


def filters(text: str) -> dict[str, str]:
    """Providers, regions, geos, tiers, states and roles named anywhere in ``text``."""
    found: dict[str, str] = {}
    said = words(text)
    padded = f" {' '.join(said)} "
    for phrase, provider in PROVIDER_WORDS.items():
        if f" {phrase} " in padded and not (
            phrase == "do"
            and re.search(
                r"\b(to do|do (it|this|that|we|you|i|they|not|so|a|the|some|any|anything|"
                r"nothing|something|everything|better|more|with|about)|what do|how do|"
                r"can do|should do|don't|do$)\b",
                text,
            )
            and not re.search(
                r"\b(on|in|at|from|of) do\b|\bdo (primary|standby|instances?|fleet|boxes|servers?|"
                r"nodes|droplets?)\b|^do$",
                text,
            )
        ):
            found.setdefault("provider", provider)
    for word in said:
        if word in REGIONS:
            found["region"] = word
        if word in STATE_WORDS and "state" not in found:
            found["state"] = STATE_WORDS[word]
        if (
            word in GEO_WORDS
            and "geo" not in found
            and not (
                word in ("us", "states")
                and not re.search(r"\b(in|the|across|on) (the )?(us|states)\b|\bus-|\bus (east|west)\b", text)
            )
        ):
            found["geo"] = GEO_WORDS[word]
        if word in TIER_WORDS and "tier" not in found and (word not in LOOSE_TIERS or re.search(r"\btiers?\b", text)):
            found["tier"] = TIER_WORDS[word]
        if word in ROLE_WORDS:
            found["role"] = ROLE_WORDS[word]
    if "region" not in found:
        for city_re, names in _CITY_RES:
            if city_re.search(text):
                wanted = found.get("provider")
                match = [n for n in names if wanted is None or f"-{wanted}-" in n]
                if match:
                    found["region"] = match[0]  # the region names its provider; no need to repeat it
                    break
    if "region" in found:
        found.pop("geo", None)
    return found


def ids(text: str) -> tuple[list[str], list[str]]:
    instances = INSTANCE_RE.findall(text)
    scrubbed = INSTANCE_RE.sub(" ", text)
    accounts = [account_id(d) for d in ACCOUNT_RE.findall(scrubbed)]
    return list(dict.fromkeys(accounts)), list(dict.fromkeys(instances))
