"""Selectors: the one way every operation names its targets (ARCHITECTURE §3).

A selector is a small object whose keys combine with AND.  Parsing is strict:
an unknown key or a misspelt provider is an error with a hint, never a
silently wider match (a typo must not turn "restart vultr" into "restart all").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.domain._catalog import REGIONS, Geo, Provider, Tier
from engine.domain._states import InstanceState, Role
from engine.errors import InputError

_ACCOUNT_RE = re.compile(r"^acct-[a-z0-9-]{1,40}$")
_INSTANCE_RE = re.compile(r"^i-[a-z0-9-]{1,60}$")
FINDINGS = ("idle", "oversized", "cheaper_elsewhere")
SELECTOR_KEYS = ("accounts", "instances", "provider", "region", "geo", "tier", "state", "role", "finding")


def _enum_value(enum: type[Any], key: str, value: Any) -> Any:
    try:
        return enum(str(value).strip().lower() if enum is not InstanceState else str(value).strip().upper())
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise InputError(f"Selector {key} '{value}' is not valid; use one of: {allowed}.") from None


@dataclass(frozen=True, slots=True)
class Selector:
    """Which instances an operation targets.  Empty means "every instance you may see"."""

    accounts: tuple[str, ...] = ()
    instances: tuple[str, ...] = ()
    provider: Provider | None = None
    region: str | None = None
    geo: Geo | None = None
    tier: Tier | None = None
    state: InstanceState | None = None
    role: Role | None = None
    finding: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_empty(self) -> bool:
        return not (
            self.accounts
            or self.instances
            or self.provider
            or self.region
            or self.geo
            or self.tier
            or self.state
            or self.role
            or self.finding
        )

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> Selector:
        """Validate a selector object from a tool call or the CLI."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise InputError('A selector must be an object such as {"provider": "vultr", "state": "DEGRADED"}.')
        unknown = sorted(set(raw) - set(SELECTOR_KEYS))
        if unknown:
            raise InputError(f"Selector key '{unknown[0]}' is not known; use any of: {', '.join(SELECTOR_KEYS)}.")
        accounts = _id_list(raw.get("accounts"), "accounts", _ACCOUNT_RE, "acct-042")
        instances = _id_list(raw.get("instances"), "instances", _INSTANCE_RE, "i-acct-042-p")
        region = raw.get("region")
        if region is not None:
            region = str(region).strip().lower()
            if region not in REGIONS:
                raise InputError(f"Selector region '{region}' is not a known region, e.g. eu-hetzner-nbg1.")
        finding = raw.get("finding")
        if finding is not None and finding not in FINDINGS:
            raise InputError(f"Selector finding '{finding}' is not known; use one of: {', '.join(FINDINGS)}.")
        return cls(
            accounts=accounts,
            instances=instances,
            provider=_enum_value(Provider, "provider", raw["provider"]) if raw.get("provider") else None,
            region=region,
            geo=_enum_value(Geo, "geo", raw["geo"]) if raw.get("geo") else None,
            tier=_enum_value(Tier, "tier", raw["tier"]) if raw.get("tier") else None,
            state=_enum_value(InstanceState, "state", raw["state"]) if raw.get("state") else None,
            role=_enum_value(Role, "role", raw["role"]) if raw.get("role") else None,
            finding=finding,
        )

    @classmethod
    def from_words(cls, words: Iterable[str]) -> Selector:
        """A selector from bare names, each read by what it is: ``["vultr", "DEGRADED"]`` is
        ``{"provider": "vultr", "state": "DEGRADED"}``, ``"acct-042"`` an account, ``"i-acct-042-p"`` an instance.

        This is the short form a slash command or a script types (``/silence eu-hetzner-nbg1 60``): every word
        must be a known name, so a typo is an error with a hint, never a wider match.  Names are unambiguous
        across the vocabularies (a region is never a provider), which is why no key is needed.
        """
        raw: dict[str, Any] = {}
        names = [w.strip().strip(",") for w in words]
        provider = next((w.lower() for w in names if w.lower() in {p.value for p in Provider}), None)
        for word in names:
            if not word:
                continue
            key, value = _classify(word, provider)
            if key in ("accounts", "instances"):
                raw.setdefault(key, []).append(value)
            elif raw.get(key, value) != value:
                raise InputError(f"Name one {key}, not both {raw[key]} and {value}.")
            else:
                raw[key] = value
        return cls.parse(raw)

    def to_dict(self) -> dict[str, Any]:
        """The selector as a compact JSON-ready object (only the keys that are set)."""
        out: dict[str, Any] = {}
        if self.accounts:
            out["accounts"] = list(self.accounts)
        if self.instances:
            out["instances"] = list(self.instances)
        for key in ("provider", "region", "geo", "tier", "state", "role", "finding"):
            value = getattr(self, key)
            if value is not None:
                out[key] = str(value)
        return out

    def describe(self) -> str:
        """Human words for the selector, e.g. "DEGRADED instances on vultr"."""
        parts: list[str] = []
        noun = "instances"
        if self.state:
            noun = f"{self.state} instances"
        if self.role:
            noun = noun.replace("instances", f"{self.role}s")
        parts.append(noun)
        if self.accounts:
            parts.append("of " + ", ".join(self.accounts[:5]) + ("…" if len(self.accounts) > 5 else ""))
        if self.instances:
            parts.append("named " + ", ".join(self.instances[:5]) + ("…" if len(self.instances) > 5 else ""))
        if self.provider:
            parts.append(f"on {self.provider}")
        if self.region:
            parts.append(f"in {self.region}")
        elif self.geo:
            parts.append(f"in {str(self.geo).upper()}")
        if self.tier:
            parts.append(f"on the {self.tier} tier")
        if self.finding:
            parts.append(f"flagged {self.finding}")
        if self.is_empty:
            return "every instance"
        return " ".join(parts)


def _id_list(value: Any, key: str, pattern: re.Pattern[str], example: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise InputError(f'Selector {key} must be a list of ids such as ["{example}"].')
    ids: list[str] = []
    for item in value:
        text = str(item).strip().lower()
        if not pattern.match(text):
            raise InputError(f"'{item}' is not a valid id for selector {key}; ids look like {example}.")
        ids.append(text)
    return tuple(dict.fromkeys(ids))


def _classify(word: str, provider: str | None = None) -> tuple[str, str]:
    """Which selector key a bare name belongs to, and its canonical value (or one sentence saying it is none).

    A location code as people type it (``nbg``, ``fra1``, ``sgp``) names the one region it can mean, given the
    provider named beside it if any; one that could be several regions says which.
    """
    lower = word.lower()
    if _ACCOUNT_RE.match(lower):
        return "accounts", lower
    if _INSTANCE_RE.match(lower):
        return "instances", lower
    if lower in REGIONS:
        return "region", lower
    if lower in FINDINGS:
        return "finding", lower
    vocabularies: tuple[tuple[str, type[Any]], ...] = (
        ("provider", Provider),
        ("geo", Geo),
        ("tier", Tier),
        ("role", Role),
    )
    for key, enum in vocabularies:
        if lower in {e.value for e in enum}:
            return key, lower
    if word.upper() in {s.value for s in InstanceState}:
        return "state", word.upper()
    places = _locations(lower, provider)
    if len(places) == 1:
        return "region", places[0]
    if places:
        raise InputError(
            f"'{word}' could be {', '.join(places[:-1])} or {places[-1]}: name the provider too, or the whole region."
        )
    raise InputError(
        f"'{word}' is not a provider, region, geo, tier, state, role or finding, nor an account "
        "(acct-042) or instance (i-acct-042-p) id."
    )


def _locations(code: str, provider: str | None) -> list[str]:
    """Regions whose location code is ``code``, with or without its digits (``nbg`` and ``nbg1``), sorted."""
    bare = code.rstrip("0123456789")
    if not bare.isalpha() or len(bare) < 3:
        return []
    return sorted(
        r.name
        for r in REGIONS.values()
        if (provider is None or str(r.provider) == provider) and code in (r.location, r.location.rstrip("0123456789"))
    )
