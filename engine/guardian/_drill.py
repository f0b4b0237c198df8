"""The incident drill: take a provider region down on the DEMO's emulators and let Guardian handle it.

Everything real except the far end: the engine's operation layer, policy engine, jobs and provider
drivers (HTTP, rate limits, polling) against the loopback vendor emulators, time-scaled.  Node
reports are simulated (every instance outside the dead region reports healthy each sweep; the
region's nodes fall silent), and the sweep clock advances one sweep interval per cycle, so the drill
covers an hour of outage in seconds.

Only for a DEMO engine with emulated providers: it plants an outage in the emulator, which a real
account does not have.  :func:`run_drill` returns a :class:`DrillReport` with what the issue asks to
measure — time until every affected pair is served by its standby, users left without an active
gateway, alerts the operator got — and the tests and ``bench/bench_guardian.py`` read it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlmodel import col

from engine.domain import InstanceState
from engine.errors import InputError
from engine.guardian import _thresholds as T
from engine.guardian._cycle import CycleResult, Guardian
from engine.guardian._exposure import Exposure, exposure
from engine.guardian._score import HealthReport
from engine.store import Instance

__all__ = ["DrillReport", "healthy_reports", "run_drill"]

S = InstanceState


@dataclass
class DrillReport:
    """What the drill measured (numbers, not verdicts: the test and the benchmark judge them)."""

    region: str
    primaries: int = 0
    """Primaries in the region when it went down."""
    standbys: int = 0
    cycles: list[CycleResult] = field(default_factory=list)
    cycles_to_served: int = 0
    """Sweep cycles from the outage until every affected pair was served by its standby."""
    detect_s: float = 0.0
    """Sweep-clock seconds from the outage to the cycle that failed the pairs over."""
    failover_wall_s: float = 0.0
    """Wall seconds the failovers took (jobs, provider calls against the emulators)."""
    time_scale: float = 1.0
    served_pairs: int = 0
    """Affected accounts served at the end by an ACTIVE primary outside the region (their former standby)."""
    exposure_down: Exposure | None = None
    """The region's exposure while it was down, after the failovers (what "what's our exposure?" answers)."""
    exposure_end: Exposure | None = None
    """The region's exposure at the end of the drill (after it recovered)."""
    incidents_notified: int = 0
    instance_alerts_notified: int = 0
    messages: list[str] = field(default_factory=list)
    delete_calls: int = 0
    """DELETE requests the emulators received (must stay 0: no path deletes a VPS)."""
    failovers: int = 0
    heal_tools: set[str] = field(default_factory=set)
    reprovision: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failover_emulated_s(self) -> float:
        return self.failover_wall_s * self.time_scale

    @property
    def time_to_standby_s(self) -> float:
        """Detection on the sweep clock plus the failovers in emulated (time-scaled) seconds."""
        return self.detect_s + self.failover_emulated_s


def healthy_reports(engine: Any, at: datetime, skip: set[str]) -> dict[str, HealthReport]:
    """A healthy report from every live instance not in ``skip``, received just before ``at``."""
    with engine.store.session() as s:
        rows = s.execute(
            select(col(Instance.id), col(Instance.account_id)).where(col(Instance.state) != S.DELETED.value)
        ).all()
    received = at - timedelta(seconds=10)
    return {
        iid: HealthReport(
            iid,
            received,
            sent_at=received,
            account_id=acct,
            cpu_percent=20.0,
            mem_percent=40.0,
            disk_percent=40.0,
            load_1=0.3,
            vcpus=2,
            gateway_up=True,
            docker_running=True,
            gateway_latency_ms=30.0,
            gateway_restarts_10m=0,
            uptime_s=86400.0,
        )
        for iid, acct in rows
        if iid not in skip
    }


async def run_drill(
    engine: Any, region: str = "eu-hetzner-nbg1", *, ask: str | None = None, max_cycles: int = 8
) -> tuple[DrillReport, Any]:
    """Run the drill on a DEMO engine; returns the report and the ``engine.ask(ask)`` turn (or None).

    ``ask`` is put to the engine as the operator while the region is down and after Guardian failed it
    over ("Hetzner Nuremberg looks down. What's our exposure?"), so its answer can be checked against the
    store.  Then the region recovers and one more cycle runs (the incident closes, re-provisioning fires).
    """
    drivers = engine.drivers
    if not engine.settings.demo or not hasattr(drivers, "ensure"):
        raise InputError("The incident drill runs only on the DEMO fleet with emulated providers.")
    provider, location = region.split("-", 2)[1], region.split("-", 2)[2]
    report = DrillReport(region, time_scale=float(drivers.time_scale))
    with engine.store.session() as s:  # the drill starts from a healthy fleet: the outage is the only trouble
        s.execute(
            update(Instance)
            .where(col(Instance.state) != S.DELETED.value)
            .values(state=S.ACTIVE.value, health_score=95, health_reason="")
        )
        rows = s.execute(
            select(col(Instance.id), col(Instance.account_id), col(Instance.role)).where(
                col(Instance.region) == region, col(Instance.state) != S.DELETED.value
            )
        ).all()
    down = {iid for iid, _, _ in rows}
    affected = {acct for _, acct, role in rows if role == "primary"}
    report.primaries = len(affected)
    report.standbys = sum(1 for _, _, role in rows if role == "standby")

    told: list[str] = []
    # As in the daemon: heal jobs run in the background and Guardian holds a slot only until users are served.
    background, engine.ops.background_jobs = engine.ops.background_jobs, True
    caller = dataclasses.replace(engine.caller(), agent="guardian", autonomous=True, channel="guardian")
    guardian = Guardian(engine.store, engine.ops, caller, notify=told.append)
    await drivers.ensure(provider)
    emulator = drivers.emulator(provider)

    now = datetime.now(UTC).replace(microsecond=0)
    calm = await guardian.cycle(healthy_reports(engine, now, set()), now)
    report.cycles.append(calm)
    outage_at = now
    emulator.state.region_outage(location, title=f"Network outage in {location.upper()}")
    turn = None
    for n in range(1, max_cycles + 1):
        now = outage_at + timedelta(seconds=n * T.SWEEP_INTERVAL_S)
        cycle = await guardian.cycle(healthy_reports(engine, now, down), now)
        report.cycles.append(cycle)
        moved = [e for e in cycle.executed if e.tool == "failover"]
        if moved:
            report.failover_wall_s += max(e.ended for e in moved) - min(e.started for e in moved)
            report.detect_s = max(report.detect_s, (now - outage_at).total_seconds())
        if not report.cycles_to_served and _served(engine, region, affected) == len(affected):
            report.cycles_to_served = n
        if report.cycles_to_served and n >= report.cycles_to_served + T.FAILED_AFTER_MISSED_SWEEPS:
            break  # the region's silent standbys have had time to go FAILED: the steady outage state
    with engine.store.session() as s:
        report.exposure_down = exposure(s, region=region)
    if ask is not None:
        turn = await engine.ask(ask)

    await engine.ops.wait_for_jobs()  # the replacement standbys finish building before the region recovers
    engine.ops.background_jobs = background
    emulator.state.end_outage(location)
    now += timedelta(seconds=T.SWEEP_INTERVAL_S)
    report.cycles.append(await guardian.cycle(healthy_reports(engine, now, set()), now))

    report.served_pairs = _served(engine, region, affected)
    with engine.store.session() as s:
        report.exposure_end = exposure(s, region=region)
    for cycle in report.cycles:
        report.incidents_notified += sum(1 for a in cycle.notify if a.is_incident)
        report.instance_alerts_notified += sum(1 for a in cycle.notify if not a.is_incident)
        report.failovers += sum(1 for e in cycle.executed if e.tool == "failover" and e.status == "done")
        report.heal_tools |= {e.tool for e in cycle.executed}
        report.reprovision.extend(cycle.reprovision)
    report.messages = told
    world = drivers._world()
    report.delete_calls = sum(emu.state.count("DELETE") for emu in world.emulators.values())
    return report, turn


def _served(engine: Any, region: str, accounts: set[str]) -> int:
    """Accounts served by an ACTIVE primary outside ``region``."""
    if not accounts:
        return 0
    with engine.store.session() as s:
        rows = s.execute(
            select(col(Instance.account_id)).where(
                col(Instance.account_id).in_(sorted(accounts)),
                col(Instance.role) == "primary",
                col(Instance.state) == S.ACTIVE.value,
                col(Instance.region) != region,
            )
        ).all()
    return len({a for (a,) in rows})
