"""The DEMO fleet: a deterministic, clearly labelled fleet for a newcomer (and for benchmarks).

Same seed, same fleet: ~850 pairs over five providers and many regions, with a
few DEGRADED and FAILED instances and some idle and oversized accounts, so
every conversation in the README has something real to answer.  Everything
it creates lives in tenants whose names start with "DEMO" and whose
``is_demo`` flag is set, and every reply about it says DEMO.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from sqlalchemy import insert

from engine.domain import PLANS, InstanceState, Provider, Tier, regions_for
from engine.store import Account, Instance, Operator, Store, Tenant, utcnow

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
PRIMARY_MIX = ((Provider.HETZNER, 0.45), (Provider.DIGITALOCEAN, 0.20), (Provider.VULTR, 0.20),
               (Provider.CONTABO, 0.10), (Provider.HOSTINGER, 0.05))
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


def build_demo_fleet(pairs: int, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Tenants, accounts and instances of the demo fleet as plain rows (no I/O: fast and testable)."""
    rng = random.Random(seed)
    now = utcnow().replace(microsecond=0)
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
        accounts.append({
            "id": acct, "tenant_id": tenant, "label": f"DEMO user {n}", "created_at": created,
            "last_session_at": now - timedelta(days=rng.randint(30, 90) if idle else rng.randint(0, 2)),
        })
        oversized = tier is Tier.PERFORMANCE and rng.random() < 0.35
        for role, provider in (("primary", primary), ("standby", standby)):
            regions = regions_for(provider) or regions_for(Provider.HETZNER)
            in_geo = [r for r in regions if r.geo.value == geo] or regions
            region = rng.choice(in_geo)
            plan = PLANS[(provider, tier)]
            cpu = rng.uniform(2, 12) if oversized or idle else rng.uniform(15, 85)
            instances.append({
                "id": f"i-{acct}-{role[0]}", "account_id": acct, "tenant_id": tenant, "role": role,
                "provider": provider.value, "region": region.name, "tier": tier.value,
                "state": InstanceState.ACTIVE.value, "provider_server_id": f"{provider.value[:3]}-{rng.randrange(10**8):08d}",
                "ipv4": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}", "ipv6": None,
                "monthly_price": plan.monthly, "currency": plan.currency, "health_score": rng.randint(88, 100),
                "health_reason": "", "created_at": created, "updated_at": now, "last_report_at": now,
                "cpu_p95": round(cpu, 1), "mem_p95": round(cpu * rng.uniform(0.8, 1.3), 1),
            })
    _inject_trouble(rng, instances)
    return tenants, accounts, instances


def _inject_trouble(rng: random.Random, instances: list[dict[str, Any]]) -> None:
    """A realistic handful of problems: degraded gateways (mostly on Vultr today) and failed primaries."""
    reasons = ("disk 96 %", "gateway restarted 3x in 10 min", "WebSocket latency 2.4 s", "memory 97 %",
               "docker daemon not responding")
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
        s.execute(insert(Tenant), tenants)
        s.execute(insert(Account), accounts)
        for start in range(0, len(instances), 2000):
            s.execute(insert(Instance), instances[start:start + 2000])
        for op_id, name, role, tenant in DEMO_OPERATORS:
            if s.get(Operator, op_id) is None:
                s.add(Operator(id=op_id, name=name, role=role, tenant_id=tenant))
    return len(instances)
