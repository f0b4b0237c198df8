"""``provider_health``: what each provider says about itself, and what it would cost us.

Two sources, kept apart so the operator can judge them: the provider's own
status page (policy rule 4 — never declare a widespread incident without
checking it), and our exposure from the store: per region, how many primaries
and standbys we run there, how many already failed over, and how many users
have no serving gateway at all right now.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from sqlmodel import Session, col, select

from engine.domain import SERVING_STATES, InstanceState, Provider
from engine.errors import InputError
from engine.guardian import FAILED_OVER_PREFIX
from engine.operations._reads import is_demo
from engine.operations._scope import scoped
from engine.policy import Caller
from engine.store import Instance

SERVING = tuple(s.value for s in SERVING_STATES)


def exposure(s: Session, caller: Caller, provider: str | None, region: str | None) -> dict[str, dict[str, Any]]:
    """Per provider region: primaries, standbys, failed, failed over, users without a serving gateway."""
    stmt = scoped(select(Instance), caller).where(col(Instance.state) != InstanceState.DELETED.value)
    if provider:
        stmt = stmt.where(col(Instance.provider) == provider)
    if region:
        stmt = stmt.where(col(Instance.region) == region)
    here = list(s.exec(stmt).all())
    accounts = {i.account_id for i in here}
    serving_accounts: set[str] = set()
    if accounts:
        serving_accounts = set(s.exec(
            select(Instance.account_id).where(col(Instance.account_id).in_(accounts), col(Instance.state).in_(SERVING))
        ).all())
    out: dict[str, dict[str, Any]] = defaultdict(lambda: {
        "primaries": 0, "standbys": 0, "failed": 0, "failed_over": 0, "users_without_gateway": 0, "accounts": set(),
    })
    for inst in here:
        row = out[inst.region]
        row["primaries" if inst.role == "primary" else "standbys"] += 1
        if inst.state == InstanceState.FAILED.value:
            row["failed"] += 1
            if inst.health_reason.startswith(FAILED_OVER_PREFIX):
                row["failed_over"] += 1
        row["accounts"].add(inst.account_id)
    for row in out.values():
        row["users_without_gateway"] = len(row.pop("accounts") - serving_accounts)
    return dict(sorted(out.items()))


async def provider_health(store: Any, caller: Caller, args: dict[str, Any], drivers: Any) -> dict[str, Any]:
    """Status pages + exposure, for one provider/region or all providers."""
    provider = str(args["provider"]).strip().lower() if args.get("provider") else None
    region = str(args["region"]).strip().lower() if args.get("region") else None
    if provider and provider not in {p.value for p in Provider}:
        raise InputError(f"Unknown provider '{provider}'; use one of hetzner, vultr, digitalocean, contabo, hostinger.")
    if region:
        provider = provider or region.split("-")[1]
    providers = [provider] if provider else ["hetzner", "digitalocean", "vultr", "contabo", "hostinger"]
    with store.session() as s:
        exp = exposure(s, caller, provider, region)
        demo = is_demo(s, caller)
    statuses = await asyncio.gather(*(_status(p, drivers) for p in providers))
    result: dict[str, Any] = {"demo": demo, "providers": {}}
    for p, status in zip(providers, statuses, strict=True):
        regions = {r: e for r, e in exp.items() if r.split("-")[1] == p}
        result["providers"][p] = {
            "status": status,
            "regions": regions,
            "primaries": sum(e["primaries"] for e in regions.values()),
            "standbys": sum(e["standbys"] for e in regions.values()),
            "failed": sum(e["failed"] for e in regions.values()),
            "failed_over": sum(e["failed_over"] for e in regions.values()),
            "users_without_gateway": sum(e["users_without_gateway"] for e in regions.values()),
        }
    return result


async def _status(provider: str, drivers: Any) -> dict[str, Any]:
    from engine.providers.status import provider_status

    ensure = getattr(drivers, "ensure", None)
    if hasattr(drivers, "sim"):  # the in-process sim has no status page
        return {"indicator": "unknown", "description": "simulated provider: no status page", "incidents": [],
                "source": ""}
    if ensure is not None:  # the demo: each emulator serves its vendor's status feed
        await ensure(provider)
        status = await provider_status(provider, drivers.client, drivers.status_url(provider))
    else:  # real accounts: the vendor's public status page
        import httpx

        async with httpx.AsyncClient(timeout=10.0) as client:
            status = await provider_status(provider, client)
    return {
        "indicator": status.indicator,
        "description": status.description,
        "incidents": [{"title": i.title, "locations": list(i.locations)} for i in status.incidents],
        "source": status.source,
    }
