"""Reconciliation: what the providers run versus what the store tracks.

A pure function over ``driver.list_servers()``: the caller passes the drivers and the tracked
``instance id → (provider, server id)`` map and decides what to do with the report (adopt or
flag orphans, retire ghosts).  Only servers that carry a ClawOps instance id (label, tag or
name) are considered ours; anything else in the account is the customer's business.

- **orphan**: a server carrying our instance id that the store does not track under that
  provider and server id (a create whose answer was lost, or a duplicate) — we pay for it;
- **ghost**: a tracked server its provider no longer lists (or lists as gone).

A provider whose listing fails is named in ``errors`` and none of its tracked servers is called
a ghost: "could not look" is not "is gone".
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.providers._base import Phase, ProviderDriver, ServerInfo


@dataclass(frozen=True, slots=True)
class Orphan:
    provider: str
    server: ServerInfo
    reason: str
    """``untracked`` (no record of this instance id) or ``duplicate`` (tracked on another server)."""


@dataclass(frozen=True, slots=True)
class Ghost:
    instance_id: str
    provider: str
    server_id: str


@dataclass(slots=True)
class ReconcileReport:
    orphans: list[Orphan] = field(default_factory=list)
    ghosts: list[Ghost] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    listed: dict[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not (self.orphans or self.ghosts or self.errors)


async def reconcile(drivers: Mapping[str, ProviderDriver], tracked: Mapping[str, tuple[str, str]]) -> ReconcileReport:
    """Compare every provider's servers with ``tracked`` (instance id → (provider, server id))."""
    names = list(drivers)
    results = await asyncio.gather(*(drivers[n].list_servers() for n in names), return_exceptions=True)
    report = ReconcileReport()
    present: dict[str, set[str]] = {}
    by_key = {(prov, sid): iid for iid, (prov, sid) in tracked.items()}
    for name, result in zip(names, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result
            report.errors[name] = str(result)
            continue
        report.listed[name] = len(result)
        present[name] = set()
        for server in result:
            if server.phase == Phase.GONE:
                continue
            present[name].add(server.server_id)
            if server.instance_id is None or server.phase == Phase.DELETING:
                continue  # not ours, or already cancelled and running out its term
            if (name, server.server_id) in by_key:
                continue
            reason = "duplicate" if server.instance_id in tracked else "untracked"
            report.orphans.append(Orphan(name, server, reason))
    for iid, (prov, sid) in tracked.items():
        if prov in present and sid not in present[prov]:
            report.ghosts.append(Ghost(iid, prov, sid))
    return report
