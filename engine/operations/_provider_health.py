"""``provider_health``: what each provider says about itself, and what it would cost us.

Two sources, kept apart so the operator can judge them: the provider's own
status page (policy rule 4 — never declare a widespread incident without
checking it), and our exposure from the store: per region, how many primaries
and standbys we run there, how many already failed over, and how many users
have no active gateway at all right now.  The exposure numbers come from
Guardian's one formula (:func:`engine.guardian.exposure_by_region`), so what
this tool says and what Guardian acts on can never disagree.
"""

from __future__ import annotations

import asyncio
from typing import Any

from engine.domain import Provider
from engine.errors import InputError
from engine.guardian import Exposure, exposure_by_region
from engine.policy import Caller
from engine.tenancy import is_demo

_KEYS = (
    "primaries",
    "standbys",
    "failed",
    "failed_over",
    "standbys_lost",
    "unhealthy_primaries",
    "can_fail_over",
    "no_healthy_standby",
    "users",
)


def _numbers(e: Exposure) -> dict[str, Any]:
    out: dict[str, Any] = {k: getattr(e, k) for k in _KEYS}
    out["users_without_gateway"] = e.without_gateway
    out["accounts_without_gateway"] = list(e.without_gateway_accounts[:20])
    out["at_risk"] = [{k: v for k, v in r.items() if k != "severity"} for r in e.at_risk[:20]]
    out["summary"] = e.describe()
    return out


def exposure(
    s: Any, caller: Caller, provider: str | None, region: str | None
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Per region and per provider: primaries, standbys, failed, failed over, users without an active gateway."""
    regions, providers = exposure_by_region(s, provider=provider, region=region, tenant_id=caller.tenant_id)
    return ({r: _numbers(e) for r, e in regions.items()}, {p: _numbers(e) for p, e in providers.items()})


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
        by_region, by_provider = exposure(s, caller, provider, region)
        demo = is_demo(s, caller)
    statuses = await asyncio.gather(*(_status(p, drivers) for p in providers))
    result: dict[str, Any] = {"demo": demo, "providers": {}}
    empty = _numbers(Exposure(None, region))
    for p, status in zip(providers, statuses, strict=True):
        regions = {r: e for r, e in by_region.items() if r.split("-")[1] == p}
        totals = by_provider.get(p) or {**empty, "summary": Exposure(p, region).describe()}
        result["providers"][p] = {"status": status, "regions": regions, **totals}
    return result


async def _status(provider: str, drivers: Any) -> dict[str, Any]:
    from engine.providers.status import provider_status

    ensure = getattr(drivers, "ensure", None)
    if hasattr(drivers, "sim"):  # the in-process sim has no status page
        return {
            "indicator": "unknown",
            "description": "simulated provider: no status page",
            "incidents": [],
            "source": "",
        }
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
