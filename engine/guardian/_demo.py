"""The demo's sweep source: node reports for the simulated fleet, read from what the simulation holds.

The demo has no real nodes, so nothing reports.  Guardian's sweep still needs readings; without them every
instance would look silent (and be failed over).  This source tells the truth about the simulated fleet: an
instance the simulation keeps ACTIVE reports healthy readings; a DEGRADED one reports the symptom the demo gave
it (``disk 96 %`` → a disk at 96 %, ``WebSocket latency 2.4 s`` → 2,400 ms, ``docker daemon not responding`` →
docker down, …); a FAILED one reports nothing, as a dead node would.  It is used only where no node reports
arrive (the demo), never beside real reports.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import col, select

from engine.domain import InstanceState
from engine.guardian._score import HealthReport
from engine.store import Instance, Store

S = InstanceState
REPORTING = (S.ACTIVE.value, S.DEGRADED.value, S.HEALING.value, S.BOOTSTRAPPING.value)


def _readings(reason: str) -> dict[str, object]:
    """What a node with this demo symptom would send."""
    out: dict[str, object] = {
        "cpu_percent": 22.0,
        "mem_percent": 41.0,
        "disk_percent": 38.0,
        "load_1": 0.3,
        "vcpus": 2,
        "gateway_up": True,
        "gateway_latency_ms": 24.0,
        "docker_running": True,
        "gateway_restarts_10m": 0,
        "uptime_s": 86_400.0,
    }
    if m := re.search(r"disk (\d+)", reason):
        out["disk_percent"] = float(m.group(1))
    if m := re.search(r"memory (\d+)", reason):
        out["mem_percent"] = float(m.group(1))
    if m := re.search(r"latency ([\d.]+) s", reason):
        out["gateway_latency_ms"] = float(m.group(1)) * 1000
    if m := re.search(r"restarted (\d+)x", reason):
        out["gateway_restarts_10m"] = int(m.group(1))
    if "docker" in reason:
        out["docker_running"] = False
    return out


def demo_reports(store: Store, now: datetime) -> dict[str, HealthReport]:
    """One fresh report per simulated instance that is up (a FAILED one stays silent)."""
    with store.session() as s:
        rows = s.exec(
            select(Instance.id, Instance.account_id, Instance.state, Instance.health_reason).where(
                col(Instance.state).in_(REPORTING)
            )
        ).all()
    reports: dict[str, HealthReport] = {}
    for iid, account, state, reason in rows:
        readings = _readings(reason or "") if state == S.DEGRADED.value else _readings("")
        reports[iid] = HealthReport(instance_id=iid, received_at=now, sent_at=now, account_id=account, **readings)  # type: ignore[arg-type]
    return reports
