"""The DEMO fleet: a deterministic, clearly labelled fleet for a newcomer (and for benchmarks).

Same seed, same fleet: ~850 pairs over five providers and many regions, with a
few DEGRADED and FAILED instances and some idle and oversized accounts, so
every conversation in the README has something real to answer.  Everything
it creates lives in tenants whose names start with "DEMO" and whose
``is_demo`` flag is set, and every reply about it says DEMO.

The rest of the simulation that stands in for real infrastructure lives here
too: :class:`SimNodeCommands` (simulated nodes answering the operation layer's
node commands) and :class:`DemoDrivers` (every provider served by the
in-process simulator).  Only the runtime picks them, for a demo engine (or a
drill with ``node_commands = "simulated"``); the operation layer never names
them, so real code does not need the demo.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from types import MappingProxyType
from typing import Any

from sqlalchemy import insert

from engine.domain import PLANS, InstanceState, Provider, Tier, regions_for
from engine.errors import ClawOpsError
from engine.providers import ProviderDriver, SimDriver
from engine.store import Account, Instance, Operator, Store, Tenant, utcnow

__all__ = [
    "DEMO_OPERATORS",
    "DEMO_TENANTS",
    "DemoDrivers",
    "SimNodeCommands",
    "build_demo_fleet",
    "seed_demo",
    "stored_symptom",
]

DEMO_TENANTS = (
    ("demo-acme", "DEMO Acme Robotics", 0.55),
    ("demo-globex", "DEMO Globex", 0.30),
    ("demo-initech", "DEMO Initech", 0.15),
)
DEMO_OPERATORS = (
    ("op-acme-ops", "acme-ops", "operator", "demo-acme"),
    ("op-globex-viewer", "globex-viewer", "viewer", "demo-globex"),
)
#: Share of primaries per provider, and where each provider's standby usually goes.
PRIMARY_MIX = (
    (Provider.HETZNER, 0.45),
    (Provider.DIGITALOCEAN, 0.20),
    (Provider.VULTR, 0.20),
    (Provider.CONTABO, 0.10),
    (Provider.HOSTINGER, 0.05),
)
STANDBY_FOR = {
    Provider.HETZNER: (Provider.VULTR, Provider.DIGITALOCEAN),
    Provider.DIGITALOCEAN: (Provider.HETZNER, Provider.VULTR),
    Provider.VULTR: (Provider.HETZNER, Provider.DIGITALOCEAN),
    Provider.CONTABO: (Provider.HETZNER, Provider.VULTR),
    Provider.HOSTINGER: (Provider.DIGITALOCEAN, Provider.HETZNER),
}
TIER_MIX = ((Tier.NANO, 0.25), (Tier.STANDARD, 0.60), (Tier.PERFORMANCE, 0.15))


def _pick(rng: random.Random, mix: Any) -> Any:
    roll, acc = rng.random(), 0.0
    for value, share in mix:
        acc += share
        if roll < acc:
            return value
    return mix[-1][0]


Rows = list[dict[str, Any]]
_ANCHOR = datetime(2000, 1, 1, tzinfo=UTC)
"""The moment a cached fleet is drawn at; :func:`build_demo_fleet` moves its times to the real now."""


def build_demo_fleet(pairs: int, seed: int) -> tuple[Rows, Rows, Rows]:
    """Tenants, accounts and instances of the demo fleet as plain rows (no I/O: fast and testable).

    The same ``(pairs, seed)`` always draws the same fleet, so it is drawn once per process and handed out as
    fresh rows with their times moved to now (every engine and test store opened on the demo seeds it: drawing
    ~2,500 rows each time was a third of opening a demo engine).
    """
    now = utcnow().replace(microsecond=0)
    shift = now - _ANCHOR
    tenants, accounts, instances = _drawn_fleet(pairs, seed)
    return (
        [{**row, "created_at": row["created_at"] + shift} for row in tenants],
        [
            {**row, "created_at": row["created_at"] + shift, "last_session_at": row["last_session_at"] + shift}
            for row in accounts
        ],
        [
            {
                **row,
                "created_at": row["created_at"] + shift,
                "updated_at": row["updated_at"] + shift,
                "last_report_at": row["last_report_at"] + shift,
            }
            for row in instances
        ],
    )


@cache
def _drawn_fleet(pairs: int, seed: int) -> tuple[tuple[Mapping[str, Any], ...], ...]:
    """The fleet as drawn at :data:`_ANCHOR` (read-only rows; :func:`build_demo_fleet` copies them)."""
    tenants, accounts, instances = _draw_fleet(pairs, seed, _ANCHOR)
    return tuple(tuple(MappingProxyType(row) for row in rows) for rows in (tenants, accounts, instances))


def _draw_fleet(pairs: int, seed: int, now: datetime) -> tuple[Rows, Rows, Rows]:
    rng = random.Random(seed)
    tenants = [{"id": t, "name": n, "is_demo": True, "created_at": now} for t, n, _ in DEMO_TENANTS]
    accounts: list[dict[str, Any]] = []
    instances: list[dict[str, Any]] = []
    width = max(3, len(str(pairs)))
    for n in range(1, pairs + 1):
        acct = f"acct-{n:0{width}d}"
        tenant = _pick(rng, [(t, share) for t, _, share in DEMO_TENANTS])
        tier = _pick(rng, TIER_MIX)
        primary = _pick(rng, PRIMARY_MIX)
        standby = rng.choice(STANDBY_FOR[primary])
        geo = rng.choice(("eu", "eu", "eu", "us", "us", "ap"))
        created = now - timedelta(days=rng.randint(3, 400))
        idle = rng.random() < 0.04
        accounts.append(
            {
                "id": acct,
                "tenant_id": tenant,
                "label": f"DEMO user {n}",
                "created_at": created,
                "last_session_at": now - timedelta(days=rng.randint(30, 90) if idle else rng.randint(0, 2)),
            }
        )
        oversized = tier is Tier.PERFORMANCE and rng.random() < 0.35
        for role, provider in (("primary", primary), ("standby", standby)):
            regions = regions_for(provider) or regions_for(Provider.HETZNER)
            in_geo = [r for r in regions if r.geo.value == geo] or regions
            region = rng.choice(in_geo)
            plan = PLANS[(provider, tier)]
            cpu = rng.uniform(2, 12) if oversized or idle else rng.uniform(15, 85)
            instances.append(
                {
                    "id": f"i-{acct}-{role[0]}",
                    "account_id": acct,
                    "tenant_id": tenant,
                    "role": role,
                    "provider": provider.value,
                    "region": region.name,
                    "tier": tier.value,
                    "state": InstanceState.ACTIVE.value,
                    "provider_server_id": f"{provider.value[:3]}-{rng.randrange(10**8):08d}",
                    "ipv4": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                    "ipv6": None,
                    "monthly_price": plan.monthly,
                    "currency": plan.currency,
                    "health_score": rng.randint(88, 100),
                    "health_reason": "",
                    "created_at": created,
                    "updated_at": now,
                    "last_report_at": now,
                    "cpu_p95": round(cpu, 1),
                    "mem_p95": round(cpu * rng.uniform(0.8, 1.3), 1),
                }
            )
    _inject_trouble(rng, instances)
    return tenants, accounts, instances


def _inject_trouble(rng: random.Random, instances: list[dict[str, Any]]) -> None:
    """A realistic handful of problems: degraded gateways (mostly on Vultr today) and failed primaries."""
    reasons = (
        "disk 96 %",
        "gateway restarted 3x in 10 min",
        "WebSocket latency 2.4 s",
        "memory 97 %",
        "docker daemon not responding",
    )
    wanted = {Provider.VULTR.value: 13, Provider.HETZNER.value: 6, Provider.DIGITALOCEAN.value: 5}
    for provider, count in wanted.items():
        candidates = [i for i in instances if i["provider"] == provider and i["state"] == "ACTIVE"]
        for inst in rng.sample(candidates, min(count, len(candidates))):
            inst["state"] = InstanceState.DEGRADED.value
            inst["health_score"] = rng.randint(52, 78)
            inst["health_reason"] = rng.choice(reasons)
    primaries = [i for i in instances if i["role"] == "primary" and i["state"] == "ACTIVE"]
    for inst in rng.sample(primaries, min(3, len(primaries))):
        inst["state"] = InstanceState.FAILED.value
        inst["health_score"] = 0
        inst["health_reason"] = "unreachable for 3 sweeps"
        inst["last_report_at"] = inst["updated_at"] - timedelta(minutes=15)  # its node went silent 3 sweeps ago


def seed_demo(store: Store, pairs: int, seed: int) -> int:
    """Write the demo fleet in one transaction (all or nothing).  Returns the number of instances."""
    tenants, accounts, instances = build_demo_fleet(pairs, seed)
    with store.session() as s:
        # Core inserts of plain rows: the ORM's bulk insert did per-row bookkeeping these rows do not need
        # (half of seeding's CPU); the rows carry every column, so the result is the same.
        conn = s.connection()
        conn.execute(insert(Tenant.__table__), tenants)  # type: ignore[attr-defined]
        conn.execute(insert(Account.__table__), accounts)  # type: ignore[attr-defined]
        for start in range(0, len(instances), 2000):
            conn.execute(insert(Instance.__table__), instances[start : start + 2000])  # type: ignore[attr-defined]
        for op_id, name, role, tenant in DEMO_OPERATORS:
            if s.get(Operator, op_id) is None:
                s.add(Operator(id=op_id, name=name, role=role, tenant_id=tenant))
    return len(instances)


class DemoDrivers:
    """In demo mode every provider name is served by the in-process simulator."""

    def __init__(self) -> None:
        self.sim = SimDriver()

    def __call__(self, provider: str) -> ProviderDriver:
        return self.sim


def stored_symptom(store: Store) -> Callable[[str], str]:
    """``instance id -> symptom`` for :attr:`SimNodeCommands.condition`: the instance's stored health reason
    while it scores under 80 (the demo fleet's degraded instances carry one, e.g. ``disk 96 %``), else ``""``."""

    def symptom(instance_id: str) -> str:
        with store.session() as s:
            inst = s.get(Instance, instance_id)
            return inst.health_reason if inst is not None and (inst.health_score or 0) < 80 else ""

    return symptom


class SimNodeCommands:
    """Simulated nodes for the demo: every allowed command succeeds and leaves the node healthy.

    It answers the operation layer's ``NodeCommands`` protocol (``engine.operations``) in-process, with no
    gateway and no clawnode; the runtime injects it for a demo engine only.
    """

    def __init__(self, latency: float = 0.0, *, condition: Callable[[str], str] | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.latency = latency
        """Seconds each command takes (tests and benchmarks use it to make work overlap)."""
        self.configs: dict[str, list[dict[str, Any]]] = {}
        """Per instance, the config history clawnode keeps (last = current) so a rollback can restore."""
        self.fragile: set[str] = set()
        """Fault injection: these nodes turn unhealthy after any config change."""
        self.condition = condition
        """The demo symptom of an instance (its stored health reason, :func:`stored_symptom`), for simulated
        diagnostics; without it every node is found healthy."""

    async def invoke(self, instance_id: str, command: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if self.latency:
            await asyncio.sleep(self.latency)
        self.calls.append((instance_id, command))
        if command == "clawops.config_apply":
            history = self.configs.setdefault(instance_id, [{}])
            if params.get("rollback"):
                if len(history) > 1:
                    history.pop()
            else:
                history.append(dict(params.get("config") or {}))
            return {"ok": True}
        if command == "clawops.health":
            changed = len(self.configs.get(instance_id, [{}])) > 1
            return {"ok": True, "healthy": not (changed and instance_id in self.fragile)}
        if command == "clawops.archive":
            return self._archive(instance_id, str(params.get("account_id", "")))
        if command == "clawops.diagnose":
            return self._diagnose(instance_id, list(params.get("checks") or ()))
        return {"ok": True, "healthy": True}

    def _diagnose(self, instance_id: str, checks: list[str]) -> dict[str, Any]:
        """What a simulated node finds: healthy, except for the symptom the demo gave the instance.

        ``condition`` (set by the runtime to the instance's stored health reason) lets the demo's degraded
        instances show the matching finding, e.g. ``disk 96 %`` as a failing disk check.
        """
        reason = self.condition(instance_id) if self.condition is not None else ""
        if "unreachable" in reason:
            raise ClawOpsError(f"{instance_id}'s node is not connected to the gateway; it cannot be asked.")
        disk = re.search(r"disk (\d+)", reason)
        latency = re.search(r"latency ([\d.]+) s", reason)
        restarts = re.search(r"restarted (\d+)x", reason)
        memory = re.search(r"memory (\d+)", reason)
        docker_down = "docker" in reason
        results: dict[str, dict[str, Any]] = {
            "disk": {"ok": not disk or int(disk.group(1)) < 90, "used_percent": float(disk.group(1)) if disk else 41.0},
            "memory": {
                "ok": not memory or int(memory.group(1)) < 95,
                "total_bytes": 4 * 2**30,
                "available_bytes": round(4 * 2**30 * (100 - int(memory.group(1))) / 100) if memory else 2 * 2**30,
            },
            "docker": {"ok": False, "available": False, "error": "docker daemon not responding"}
            if docker_down
            else {
                "ok": True,
                "available": True,
                "containers": [{"name": "openclaw-gateway", "state": "running", "status": "Up 3 days"}],
            },
            "gateway": {"ok": True, "running": True, "pid": 4242},
            "logs": {
                "ok": True,
                "lines": [f"gateway restarted ({n + 1} of {restarts.group(1)})" for n in range(int(restarts.group(1)))]
                if restarts
                else ["gateway listening on :18789"],
            },
            "ws_probe": {
                "ok": not latency or float(latency.group(1)) < 1.0,
                "latency_ms": float(latency.group(1)) * 1000 if latency else 18.0,
            },
        }
        picked = {name: results[name] for name in (checks or results)}
        return {"ok": all(r["ok"] for r in picked.values()), "checks": picked}

    def _archive(self, instance_id: str, account_id: str) -> dict[str, Any]:
        """A small real tar.gz: what a simulated node has to export (its account id and config history)."""
        import base64  # local: only a simulated teardown needs them, and demo.py is loaded on every start
        import hashlib
        import io
        import json
        import tarfile

        manifest = json.dumps(
            {"instance": instance_id, "account": account_id, "configs": self.configs.get(instance_id, [{}])}
        ).encode()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            info = tarfile.TarInfo("clawops-archive/manifest.json")
            info.size = len(manifest)
            tar.addfile(info, io.BytesIO(manifest))
        data = buffer.getvalue()
        return {
            "ok": True,
            "format": "tar.gz",
            "data": base64.b64encode(data).decode(),
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
        }

    def current_config(self, instance_id: str) -> dict[str, Any]:
        return self.configs.get(instance_id, [{}])[-1]
