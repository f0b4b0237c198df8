"""Reconciliation finds orphans planted straight into emulators, and ghosts the store still tracks."""

from __future__ import annotations

import httpx

from engine.providers import ServerSpec
from engine.providers._base import OWNER_LABEL, owned_name
from engine.providers.emulators import running_emulator
from engine.providers.reconcile import reconcile
from engine.providers.registry import emulator_driver


async def test_reconcile_finds_planted_orphans_and_ghosts_across_providers() -> None:
    async with running_emulator("hetzner") as hz, running_emulator("contabo") as cb, httpx.AsyncClient() as client:
        drivers = {
            "hetzner": emulator_driver(hz, client, time_scale=100),
            "contabo": emulator_driver(cb, client, time_scale=100),
        }
        tracked_hz = await drivers["hetzner"].create_server(
            ServerSpec("i-acct-001-p", "acct-001-p", "eu-hetzner-nbg1", "cx23")
        )
        tracked_cb = await drivers["contabo"].create_server(
            ServerSpec("i-acct-001-s", "acct-001-s", "eu-contabo-nue", "V91")
        )
        # Planted behind ClawOps' back: a labelled Hetzner server and a Contabo instance named like ours.
        orphan_hz = hz.plant(name="acct-007-p", labels={OWNER_LABEL: "i-acct-007-p"})
        orphan_cb = cb.plant(name=owned_name(ServerSpec("i-acct-008-s", "acct-008-s", "nue", "V91")))
        hz.plant(name="customers-own-db")  # no ClawOps label: not ours, not an orphan
        tracked = {
            "i-acct-001-p": ("hetzner", tracked_hz.server_id),
            "i-acct-001-s": ("contabo", tracked_cb.server_id),
            "i-acct-002-p": ("hetzner", "999999"),  # the store still claims it; the provider has nothing
        }
        report = await reconcile(drivers, tracked)
    assert {(o.provider, o.server.server_id, o.server.instance_id, o.reason) for o in report.orphans} == {
        ("hetzner", str(orphan_hz.id), "i-acct-007-p", "untracked"),
        ("contabo", str(orphan_cb.id), "i-acct-008-s", "untracked"),
    }
    assert [(g.instance_id, g.provider, g.server_id) for g in report.ghosts] == [("i-acct-002-p", "hetzner", "999999")]
    assert report.listed == {"hetzner": 3, "contabo": 2} and not report.errors and not report.clean


async def test_a_failing_provider_is_reported_and_creates_no_ghosts() -> None:
    async with running_emulator("vultr") as vu, httpx.AsyncClient() as client:
        driver = emulator_driver(vu, client, time_scale=1000)
        vu.state.burst_5xx(100)
        report = await reconcile({"vultr": driver}, {"i-acct-001-p": ("vultr", "abc")})
    assert "vultr" in report.errors and report.ghosts == [] and report.orphans == []


async def test_a_duplicate_create_is_an_orphan() -> None:
    async with running_emulator("digitalocean") as do, httpx.AsyncClient() as client:
        driver = emulator_driver(do, client, time_scale=100)
        first = await driver.create_server(ServerSpec("i-acct-003-p", "acct-003-p", "nyc3", "s-2vcpu-4gb"))
        do.plant(name="acct-003-p", tags=["clawops", "clawops-instance:i-acct-003-p"])
        report = await reconcile({"digitalocean": driver}, {"i-acct-003-p": ("digitalocean", first.server_id)})
    assert [o.reason for o in report.orphans] == ["duplicate"] and report.ghosts == []
