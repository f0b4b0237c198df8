"""Health collectors: /proc parsers plus a collector that turns a :class:`System` into a report.

Every collector fails soft: an exception becomes an entry in ``report.errors`` and the reading stays
``None``.  "Docker is not installed" or "gateway probe refused" is exactly what the Guardian needs to
know, so the report must still go out.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Any

from node.protocol import NodeHealthReport
from node.system import DockerUnavailable, System, is_gateway_container

__all__ = [
    "HealthCollector",
    "NodeFacts",
    "host_stats_payload",
    "parse_cpu_count",
    "parse_cpu_times",
    "parse_loadavg",
    "parse_meminfo",
    "parse_uptime",
]


def parse_cpu_times(stat_text: str) -> tuple[int, int]:
    """``(busy, total)`` jiffies from the aggregate ``cpu`` line of /proc/stat."""
    for line in stat_text.splitlines():
        if line.startswith("cpu "):
            values = [int(v) for v in line.split()[1:]]
            idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
            total = sum(values[:8])  # guest time is already inside user/nice
            return total - idle, total
    raise ValueError("no aggregate cpu line in /proc/stat")


def parse_cpu_count(stat_text: str) -> int:
    """Number of ``cpuN`` lines in /proc/stat (0 when the kernel lists only the aggregate)."""
    return sum(1 for line in stat_text.splitlines() if line.startswith("cpu") and line[3:4].isdigit())


def host_stats_payload(report: NodeHealthReport, cpu_count: int) -> dict[str, Any] | None:
    """The standard ``node.host.stats`` payload (OpenClaw's ``NodeHostStatsPayloadSchema``) from a report.

    The schema is closed and strict: integers, free never above total, disk values only as a pair.
    None when memory could not be read (its two fields are required).
    """
    total, free = report.mem_total_bytes, report.mem_available_bytes
    if total is None or free is None:
        return None
    out: dict[str, Any] = {
        "cpuCount": max(1, min(4096, cpu_count)),
        "memoryTotalBytes": max(0, total),
        "memoryFreeBytes": max(0, min(free, total)),
    }
    loads = (report.load_1, report.load_5, report.load_15)
    if all(v is not None and v >= 0 for v in loads):
        out["loadAverage"] = [float(v) for v in loads if v is not None]
    if report.disk_total_bytes is not None and report.disk_free_bytes is not None:
        out["diskTotalBytes"] = max(0, report.disk_total_bytes)
        out["diskAvailableBytes"] = max(0, min(report.disk_free_bytes, report.disk_total_bytes))
    return out


def parse_meminfo(text: str) -> tuple[int, int]:
    """``(total_bytes, available_bytes)``; old kernels without MemAvailable fall back to free+cache."""
    fields: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[name.strip()] = int(parts[0]) * 1024
    total = fields["MemTotal"]
    avail = fields.get("MemAvailable")
    if avail is None:
        avail = fields.get("MemFree", 0) + fields.get("Cached", 0) + fields.get("Buffers", 0)
    return total, avail


def parse_loadavg(text: str) -> tuple[float, float, float]:
    a, b, c = (float(x) for x in text.split()[:3])
    return a, b, c


def parse_uptime(text: str) -> float:
    return float(text.split()[0])


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """Who this node is (from its config), stamped on every report."""

    node_id: str
    hostname: str
    account_id: str | None = None
    instance_id: str | None = None
    provider: str | None = None
    region: str | None = None
    tier: str | None = None
    role: str | None = None
    version: str = "0.0.0"


class HealthCollector:
    """Builds :class:`NodeHealthReport`s; keeps the previous /proc/stat sample for CPU percent."""

    def __init__(
        self,
        system: System,
        facts: NodeFacts,
        *,
        disk_path: str = "/",
        probe_url: str | None = None,
        probe_timeout: float = 3.0,
    ) -> None:
        self.system = system
        self.facts = facts
        self.disk_path = disk_path
        self.probe_url = probe_url
        self.probe_timeout = probe_timeout
        self._last_cpu: tuple[int, int] | None = None
        try:  # prime the CPU sample so the first report already has a percentage
            self._last_cpu = parse_cpu_times(system.read_proc("stat"))
        except Exception:
            self._last_cpu = None

    def cpu_count(self) -> int:
        try:
            count = parse_cpu_count(self.system.read_proc("stat"))
        except Exception:
            count = 0
        return count or os.cpu_count() or 1

    def _cpu_percent(self) -> float | None:
        busy, total = parse_cpu_times(self.system.read_proc("stat"))
        last, self._last_cpu = self._last_cpu, (busy, total)
        if last is None or total <= last[1]:
            return None
        return round(100.0 * (busy - last[0]) / (total - last[1]), 2)

    async def collect(self) -> NodeHealthReport:
        errors: dict[str, str] = {}
        values: dict[str, Any] = {}

        def soft(name: str, fn: Any) -> None:
            try:
                fn()
            except Exception as exc:  # fail soft by design: record, never raise
                errors[name] = f"{type(exc).__name__}: {exc}"[:300]

        def cpu() -> None:
            values["cpu_percent"] = self._cpu_percent()

        def load() -> None:
            values["load_1"], values["load_5"], values["load_15"] = parse_loadavg(self.system.read_proc("loadavg"))

        def mem() -> None:
            values["mem_total_bytes"], values["mem_available_bytes"] = parse_meminfo(self.system.read_proc("meminfo"))

        def disk() -> None:
            values["disk_total_bytes"], values["disk_free_bytes"] = self.system.disk_usage(self.disk_path)

        def uptime() -> None:
            values["uptime_s"] = parse_uptime(self.system.read_proc("uptime"))

        containers = None
        try:
            async with asyncio.timeout(10):  # a hung docker daemon must not hold the report back
                containers = await self.system.docker_containers()
            values["docker_available"] = True
            values["docker_containers"] = len(containers)
            values["docker_running"] = sum(1 for c in containers if c.state == "running")
        except DockerUnavailable as exc:
            values["docker_available"] = False
            errors["docker"] = str(exc)
        except Exception as exc:
            errors["docker"] = f"{type(exc).__name__}: {exc}"[:300]

        def gateway() -> None:
            pid = self.system.gateway_pid()
            values["gateway_running"], values["gateway_pid"] = pid is not None, pid
            container_of = getattr(self.system, "gateway_container_of", None)
            if pid is not None and callable(container_of):
                values["gateway_container"] = container_of(pid)
            elif pid is None and containers:
                # clawnode in its own PID namespace cannot see the gateway's process; docker still can.
                found = next((c for c in containers if is_gateway_container(c)), None)
                if found is not None:
                    values["gateway_running"], values["gateway_container"] = True, found.name

        for name, fn in (
            ("cpu", cpu),
            ("load", load),
            ("memory", mem),
            ("disk", disk),
            ("uptime", uptime),
            ("gateway", gateway),
        ):
            soft(name, fn)

        if self.probe_url:
            try:
                values["gateway_ws_latency_ms"] = round(
                    await self.system.ws_probe(self.probe_url, self.probe_timeout), 2
                )
            except Exception as exc:
                errors["gateway_ws"] = str(exc)[:300] or type(exc).__name__

        f = self.facts
        return NodeHealthReport(
            node_id=f.node_id,
            hostname=f.hostname,
            account_id=f.account_id,
            instance_id=f.instance_id,
            provider=f.provider,
            region=f.region,
            tier=f.tier,
            role=f.role,
            ts_ms=int(time.time() * 1000),
            clawnode_version=f.version,
            errors=errors,
            **values,
        )
