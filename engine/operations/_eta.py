"""How long a provisioning job still needs, from the providers' own pace, refined as pairs come up.

A new pair is two purchases (each an idempotency lookup and a create, admitted by the provider's rate limiter)
and two boots (the vendor's provisioning + boot time, seen through the engine's backing-off readiness polls).
With simulated nodes the standby is created once the primary is ACTIVE; with real nodes both come up side by
side.  The estimate walks every pair still building from the state its instances are in now:

    pair left = the primary's boot left (+ the standby's whole boot, when it comes after)
    job left  = max over pairs of (pair left) + the rate-limit wait for the creates still to be sent,
                repeated per wave when the job runs fewer pairs at once than it has left

and, once pairs have finished, scales that by how the first pair's real time compared with the model
(a busy vendor, a slow machine), so the figure is refined as steps finish.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from engine.providers import rate_limit_policy
from engine.store import Instance

READY_SECONDS = {"hetzner": 30.0, "digitalocean": 45.0, "vultr": 60.0, "contabo": 180.0, "hostinger": 120.0}
"""A new server's provisioning + boot time by vendor (seconds; typical figures, the emulators' own)."""
REQUESTS_PER_CREATE = 2
"""The lookup by instance id, then the create (readiness polls are counted separately)."""
FIRST_POLL_S, POLL_GROWTH, POLL_MAX_S = 5.0, 1.5, 30.0
"""The drivers' readiness polling (``wait_running``): a server is seen running at the first poll after it is."""


def seen_ready(ready: float) -> tuple[float, int]:
    """When the polls first see a server that is ready after ``ready`` seconds, and how many polls that takes."""
    at, interval, polls = 0.0, FIRST_POLL_S, 1
    while at < ready:
        at += interval
        interval = min(interval * POLL_GROWTH, POLL_MAX_S)
        polls += 1
    return at, polls


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def time_scale(drivers: Any) -> float | None:
    """Emulated seconds per real second of the drivers in use, or ``None`` where boots take no time (``sim``)."""
    scale = getattr(drivers, "time_scale", None)
    if isinstance(scale, int | float) and scale > 0:
        return float(scale)
    if type(drivers).__name__ == "DemoDrivers":
        return None
    # The runtime's drivers carry Settings.provider_time_scale; drivers built by hand talk to real time.
    return 1.0


def estimate_provisioning(
    instances: list[Instance],
    pairs: list[tuple[str, str]],
    done_pairs: int,
    now: datetime,
    scale: float,
    *,
    parallel: bool,
    concurrency: int,
    fastest: float | None,
    started: datetime,
) -> float | None:
    """Seconds left for a provisioning job (``None`` when nothing is left or the model cannot say).

    ``pairs``: (primary id, standby id) of the pairs not done yet; ``instances``: their rows now.
    """
    if not pairs:
        return None
    by_id = {i.id: i for i in instances}
    creates: dict[str, int] = {}
    left: list[float] = []
    for primary_id, standby_id in pairs:
        parts = []
        for iid in (primary_id, standby_id):
            inst = by_id.get(iid)
            if inst is None:
                continue
            ready = READY_SECONDS.get(inst.provider, 60.0)
            seen, polls = seen_ready(ready)
            if inst.state in ("REQUESTED", "CREATING", "ERROR"):
                creates[inst.provider] = creates.get(inst.provider, 0) + REQUESTS_PER_CREATE + polls
                parts.append(seen / scale)
            elif inst.state == "BOOTSTRAPPING":
                booting = (now - _aware(inst.updated_at)).total_seconds()
                remaining = seen / scale - booting
                # past the expected time: the next poll will see it (the rest of the pair still counts)
                parts.append(max(remaining, min(POLL_MAX_S, seen) / scale / 4))
            else:
                parts.append(0.0)
        if not parts:
            continue
        left.append(max(parts) if parallel else sum(parts))
    if not left:
        return None
    admission = 0.0
    for provider, requests in creates.items():
        policy = rate_limit_policy(provider)
        # the slowest window decides; assume its bucket still holds what the job has not used (started full)
        for window in policy.windows:
            rate = window.rate * scale
            admission = max(admission, max(0.0, requests - window.capacity) / rate)
    # the engine's own pace of sending creates (HTTP, the store, a busy machine) is measured, not assumed: creates
    # admitted so far over the time spent, applied to the creates still to come
    unsent = ("REQUESTED", "CREATING", "ERROR")
    pending = 0  # creates that could be sent now (a standby waits for its primary unless nodes boot side by side)
    for primary_id, standby_id in pairs:
        primary, standby = by_id.get(primary_id), by_id.get(standby_id)
        if primary is not None and primary.state in unsent:
            pending += 1
        if (
            standby is not None
            and standby.state in unsent
            and (parallel or primary is None or primary.state == "ACTIVE")
        ):
            pending += 1
    admitted = 2 * done_pairs + sum(1 for i in instances if i.state not in unsent)
    elapsed = max((now - _aware(started)).total_seconds(), 0.0)
    if pending:
        # too few admitted yet for a rate (the first creates queue behind every lookup): at least as long again
        enough = admitted >= max(5, (pending + admitted) // 10)
        observed = pending * elapsed / admitted if enough else elapsed
        admission = max(admission, observed)
    waves = max(1, math.ceil(len(left) / max(concurrency, 1)))
    estimate = max(left) * waves + admission
    if fastest is not None and done_pairs:
        # refine: the first pair's real time against what the model expects of one pair with no queue; a pair
        # slower than that waited in the queue of creates (counted above), so only a faster one scales it down
        expected = _one_pair(instances, parallel) / scale
        if expected > 0:
            estimate *= min(max(fastest / expected, 0.5), 1.0)
    return estimate


def _one_pair(instances: list[Instance], parallel: bool) -> float:
    """The model's time for one pair built alone (the first pair's providers)."""
    providers: list[str] = []
    for inst in instances:
        if inst.provider not in providers:
            providers.append(inst.provider)
        if len(providers) == 2:
            break
    times = [seen_ready(READY_SECONDS.get(p, 60.0))[0] for p in providers]
    if not times:
        return 0.0
    return max(times) if parallel else sum(times)
