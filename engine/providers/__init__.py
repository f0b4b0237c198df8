"""Provider drivers: one async driver per vendor API, plus the in-process ``sim``.

``make_driver`` / ``driver_from_settings`` build the five HTTP drivers (Hetzner, DigitalOcean,
Vultr, Contabo, Hostinger); ``engine.providers.emulators`` serves their local emulators;
``engine.providers.status`` reads vendor status pages; ``engine.providers.reconcile``
compares what providers run with what the store tracks.
"""

from engine.providers._base import (
    OWNER_LABEL,
    ActionInfo,
    Capabilities,
    Phase,
    PlanPrice,
    ProviderDriver,
    RegionInfo,
    ServerInfo,
    ServerSpec,
    SnapshotInfo,
    owner_tag,
)
from engine.providers._ratelimit import LimiterStats, RateLimiters, RateLimitPolicy, rate_limit_policy
from engine.providers.sim import SimDriver

__all__ = [
    "OWNER_LABEL",
    "RateLimitPolicy",
    "RateLimiters",
    "ActionInfo",
    "Capabilities",
    "LimiterStats",
    "Phase",
    "PlanPrice",
    "ProviderDriver",
    "RegionInfo",
    "ServerInfo",
    "ServerSpec",
    "SimDriver",
    "SnapshotInfo",
    "owner_tag",
    "rate_limit_policy",
]
