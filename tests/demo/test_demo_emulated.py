"""The DEMO on the real HTTP drivers and local vendor emulators (issue 3, "demo wiring").

Every provider call here crosses loopback HTTP into an emulator of that
vendor's API: the same driver code, limiter and error handling a real account
uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from engine.demo_providers import EmulatedDrivers
from engine.runtime import Engine
from engine.store import Instance

PAIRS = 60


@pytest.fixture
def engine(clawops_home: Path) -> Iterator[Engine]:
    eng = Engine.open(demo_pairs=PAIRS)
    assert isinstance(eng.drivers, EmulatedDrivers)
    yield eng
    eng.close()


def test_fleet_status_starts_no_emulator(engine: Engine) -> None:
    asyncio.run(engine.ask("fleet status"))
    assert engine.drivers._worlds == {}  # a read never pays for an emulator


def test_provisioning_runs_through_the_vendor_apis(engine: Engine) -> None:
    async def scenario() -> tuple[list[Instance], list[str]]:
        await engine.ask("provision 3 pairs in the EU, hetzner primary, vultr standby", yes=True)
        with engine.store.session() as s:
            new = list(s.exec(select(Instance).where(col(Instance.account_id) > f"acct-{PAIRS:03d}")).all())
        hetzner = await engine.drivers("hetzner").list_servers()
        return new, [srv.instance_id for srv in hetzner if srv.instance_id]

    new, at_hetzner = asyncio.run(scenario())
    assert len(new) == 6 and {i.state for i in new} == {"ACTIVE"}
    primaries = [i for i in new if i.role == "primary"]
    assert all(i.provider == "hetzner" and i.provider_server_id and i.provider_server_id.isdigit() for i in primaries)
    assert {i.id for i in primaries} <= set(at_hetzner)  # the emulator holds them, labelled with our ids


def test_reboot_and_teardown_reach_the_emulator(engine: Engine) -> None:
    with engine.store.session() as s:
        target = s.exec(
            select(Instance).where(col(Instance.provider) == "digitalocean", col(Instance.role) == "standby")
        ).first()
        assert target is not None

    async def scenario() -> tuple[str, list[str | None]]:
        reboot = await engine.ask(f"reboot {target.id}", yes=True)
        down = await engine.ask(f"tear down {target.id}", yes=True)
        servers = await engine.drivers("digitalocean").list_servers()
        return f"{reboot.tool_calls[0].status}/{down.tool_calls[0].status}", [srv.instance_id for srv in servers]

    statuses, remaining = asyncio.run(scenario())
    assert statuses == "done/done"
    assert target.id not in remaining
    with engine.store.session() as s:
        gone = s.get(Instance, target.id)
        assert gone is not None and gone.state == "DELETED"


def test_provider_health_reports_status_pages_and_exposure(engine: Engine) -> None:
    async def scenario() -> tuple[str, dict[str, Any]]:  # a tool's result is JSON, as the engine declares it
        await engine.drivers.ensure("hetzner")
        engine.drivers.emulator("hetzner").state.region_outage("nbg1")
        result = await engine.ask("provider health")
        return result.reply, result.tool_calls[0].result

    reply, result = asyncio.run(scenario())
    providers = result["providers"]
    assert set(providers) == {"hetzner", "digitalocean", "vultr", "contabo", "hostinger"}
    assert providers["hetzner"]["status"]["indicator"] != "operational"
    assert all(providers[p]["status"]["indicator"] == "operational" for p in ("vultr", "digitalocean"))
    assert providers["hetzner"]["primaries"] > 0
    assert "DEMO — hetzner: outage" in reply and "Exposure:" in reply


def test_reconciliation_finds_an_orphan_planted_in_an_emulator(engine: Engine) -> None:
    from engine.providers._base import owner_tag
    from engine.providers.reconcile import reconcile

    async def scenario() -> list[str]:
        drivers = {p: await engine.drivers.ensure(p) for p in ("hetzner", "vultr")}
        # A server carrying our tag that the store does not track: paid for, but nobody's.
        engine.drivers.emulator("vultr").plant(name="i-acct-999-p", tags=[owner_tag("i-acct-999-p")])
        with engine.store.session() as s:
            tracked = {
                i.id: (i.provider, i.provider_server_id or "")
                for i in s.exec(
                    select(Instance).where(
                        col(Instance.provider).in_(("hetzner", "vultr")), col(Instance.state) != "DELETED"
                    )
                ).all()
            }
        report = await reconcile(drivers, tracked)
        return [o.server.instance_id or "" for o in report.orphans] + [f"ghost:{g}" for g in report.ghosts]

    found = asyncio.run(scenario())
    assert found == ["i-acct-999-p"]


def test_resize_waits_for_each_vendor_action_and_skips_what_a_vendor_cannot_do(engine: Engine) -> None:
    """DigitalOcean and Hetzner need power-off → resize → power-on, one action at a time; Vultr only upgrades."""
    with engine.store.session() as s:
        picks = {
            p: s.exec(
                select(Instance).where(
                    col(Instance.provider) == p, col(Instance.tier) == "performance", col(Instance.state) == "ACTIVE"
                )
            ).first()
            for p in ("digitalocean", "hetzner", "vultr")
        }
    targets = [i for i in picks.values() if i is not None]
    assert any(i.provider in ("digitalocean", "hetzner") for i in targets)

    async def scenario() -> tuple[str, str]:
        result = await engine.ask_tool(
            "resize", {"selector": {"instances": [i.id for i in targets]}, "tier": "nano"}, yes=True
        )
        assert result.plan is not None
        return result.status, result.plan.summary

    status, summary = asyncio.run(scenario())
    assert status == "done", summary
    with engine.store.session() as s:
        after = {i.id: s.get(Instance, i.id) for i in targets}
    for inst in targets:
        expected = "performance" if inst.provider == "vultr" else "nano"
        resized = after[inst.id]
        assert resized is not None and resized.tier == expected
    if any(i.provider == "vultr" for i in targets):
        assert "upgrades only" in summary
