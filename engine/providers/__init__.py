"""Provider drivers: one async driver per vendor API, plus the in-process ``sim``.

``make_driver`` / ``driver_from_settings`` build the five HTTP drivers (Hetzner, DigitalOcean,
Vultr, Contabo, Hostinger); ``engine.providers.emulators`` serves their local emulators;
``engine.providers.status`` reads vendor status pages; ``engine.providers.reconcile``
compares what providers run with what the store tracks.
"""

from engine.providers._base import (
    ActionInfo,
    Capabilities,
    Phase,
    PlanPrice,
    ProviderDriver,
    RegionInfo,
    ServerInfo,
    ServerSpec,
    SnapshotInfo,
)
from engine.providers._ratelimit import LimiterStats, limiter_totals
from engine.providers.sim import SimDriver

__all__ = [
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
    "limiter_totals",
]
