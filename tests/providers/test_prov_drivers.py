"""The one driver suite: every test runs against all five vendors, each through its HTTP emulator."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from engine.domain import PLANS, InstanceState, Provider, regions_for
from engine.providers import Phase
from engine.providers.contabo import ContaboDriver
from engine.providers.errors import (
    ProviderAPIError,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderInvalidRequest,
    ProviderNotFound,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderUnsupported,
    PurchaseUncertain,
)
from tests.providers.provider_kit import Rig

DAY = 86400.0


async def test_create_carries_our_instance_id_and_is_found_again(rig: Rig) -> None:
    info = await rig.driver.create_server(rig.spec(1))
    assert info.instance_id == "i-acct-001-p"
    assert info.state == InstanceState.CREATING and info.phase == Phase.PROVISIONING
    again = await rig.driver.get_server(info.server_id)
    assert again.server_id == info.server_id and again.instance_id == "i-acct-001-p"
    found = await rig.driver.find_server("i-acct-001-p")
    assert found is not None and found.server_id == info.server_id
    assert await rig.driver.find_server("i-acct-999-p") is None
    listed = await rig.driver.list_servers()
    assert [s.instance_id for s in listed] == ["i-acct-001-p"]


async def test_lifecycle_goes_from_provisioning_to_running_over_time(rig: Rig) -> None:
    info = await rig.driver.create_server(rig.spec(1))
    rig.emu.state.advance(15)
    early = await rig.driver.get_server(info.server_id)
    assert early.phase == Phase.PROVISIONING
    rig.emu.state.advance(600)
    ready = await rig.driver.get_server(info.server_id)
    assert ready.state == InstanceState.ACTIVE, ready
    assert ready.ipv4 and ready.ipv4.startswith("100.")


async def test_create_action_can_be_polled_where_the_vendor_has_actions(rig: Rig) -> None:
    info = await rig.driver.create_server(rig.spec(1))
    if rig.provider != "hetzner" and rig.provider != "digitalocean":
        pytest.skip(f"{rig.provider} returns no create action")
    assert info.action_id is not None
    running = await rig.driver.get_action(info.action_id)
    assert running.status == "running" and not running.done
    rig.emu.state.advance(600)
    done = await rig.driver.poll_action(info.action_id)
    assert done.status == "success"


async def test_reboot_and_power_cycle(rig: Rig) -> None:
    info = await rig.driver.create_server(rig.spec(1))
    rig.emu.state.advance(600)
    await rig.driver.reboot_server(info.server_id)
    rig.emu.state.advance(60)
    action = await rig.driver.power_off(info.server_id)
    rig.emu.state.advance(60)
    off = await rig.driver.get_server(info.server_id)
    assert off.phase == Phase.STOPPED and off.state == InstanceState.FAILED
    if action is not None and rig.driver.capabilities.has_action_objects:
        assert (await rig.driver.poll_action(action.action_id)).status == "success"
    await rig.driver.power_on(info.server_id)
    rig.emu.state.advance(60)
    assert (await rig.driver.get_server(info.server_id)).state == InstanceState.ACTIVE


async def test_delete_or_cancel_follows_the_capability_flag(rig: Rig) -> None:
    info = await rig.driver.create_server(rig.spec(1))
    rig.emu.state.advance(600)
    await rig.driver.delete_server(info.server_id)
    rig.emu.state.advance(10)
    if rig.driver.capabilities.can_delete:
        with pytest.raises(ProviderNotFound) as err:
            await rig.driver.get_server(info.server_id)
        assert rig.provider in str(err.value) and "reconciliation" in str(err.value)
        assert await rig.driver.list_servers() == []
    else:
        # Contabo / Hostinger: the contract was cancelled, the server runs to its term end and is tracked.
        draining = await rig.driver.get_server(info.server_id)
        assert draining.phase == Phase.DELETING and draining.state == InstanceState.DRAINING
        assert draining.cancel_date
        rig.emu.state.advance(62 * DAY)
        with pytest.raises(ProviderNotFound):
            await rig.driver.get_server(info.server_id)


async def test_listing_follows_the_vendors_pagination(rig: Rig) -> None:
    await rig.driver.list_servers()  # warm caches (Hostinger maps data-center ids once)
    for n in range(120):
        rig.emu.plant(name=f"planted-{n}")
    before = rig.driver.requests_made
    servers = await rig.driver.list_servers()
    assert len(servers) == 120 and len({s.server_id for s in servers}) == 120
    pages = {"hetzner": 3, "digitalocean": 1, "vultr": 1, "contabo": 2, "hostinger": 1}[rig.provider]
    assert rig.driver.requests_made - before == pages


async def test_missing_token_is_a_clear_auth_error(rig: Rig) -> None:
    if rig.provider == "contabo":
        from engine.providers.contabo import ContaboCredentials

        driver = rig.make_driver(contabo=ContaboCredentials("id", "secret", "user", ""))
    else:
        driver = rig.make_driver(token="")
    with pytest.raises(ProviderAuthError) as err:
        await driver.list_servers()
    assert rig.provider in str(err.value)
    assert "token" in str(err.value).lower() or "credential" in str(err.value).lower()


async def test_unknown_region_and_plan_are_invalid_requests_that_leave_nothing(rig: Rig) -> None:
    location = {"contabo": "MARS", "hostinger": "mars"}.get(rig.provider, "mars1")
    with pytest.raises(ProviderInvalidRequest) as err:
        await rig.driver.create_server(rig.spec(1, region_location=location))
    assert rig.provider in str(err.value)
    with pytest.raises(ProviderInvalidRequest):
        await rig.driver.create_server(rig.spec(2, plan_id="no-such-plan-9000"))
    assert rig.emu.state.servers == {}


async def test_unknown_server_is_not_found(rig: Rig) -> None:
    missing = "424242" if rig.provider != "vultr" else "00000000-0000-4000-8000-000000000000"
    with pytest.raises(ProviderNotFound) as err:
        await rig.driver.get_server(missing)
    assert err.value.provider == rig.provider and err.value.status == 404 and err.value.operation == "get_server"


async def test_5xx_burst_on_reads_is_retried(rig: Rig) -> None:
    rig.emu.plant(name="x")
    rig.emu.state.burst_5xx(2)
    assert len(await rig.driver.list_servers()) == 1
    assert rig.emu.state.count(status=503) == 2


async def test_429_storm_is_absorbed_by_the_limiter(rig: Rig) -> None:
    rig.emu.plant(name="x")
    rig.emu.state.storm_429(3)
    assert len(await rig.driver.list_servers()) == 1
    assert rig.driver.limiter.stats.rate_limited == 3


async def test_create_through_a_short_5xx_burst_makes_exactly_one_server(rig: Rig) -> None:
    rig.emu.state.burst_5xx(1)
    info = await rig.driver.create_server(rig.spec(1))
    assert info.instance_id == "i-acct-001-p"
    assert len(rig.emu.state.servers) == 1


async def test_create_that_succeeds_but_times_out_is_found_not_repeated(rig: Rig) -> None:
    rig.emu.state.timeout_next_create(1, delay=1.5)
    async with httpx.AsyncClient(timeout=0.5) as impatient:
        rig.client = impatient
        driver = rig.make_driver()
        info = await driver.create_server(rig.spec(1))
    assert info.instance_id == "i-acct-001-p"
    assert len(rig.emu.state.servers) == 1
    creates = [
        r
        for r in rig.emu.state.log
        if r.method == "POST"
        and r.path.rstrip("/").endswith(("/servers", "/droplets", "/instances", "/virtual-machines"))
    ]
    assert len(creates) == 1  # found by label/tag/name, never sent twice


async def test_region_outage_fails_creates_there_without_leaving_a_server(rig: Any, vendor_location: str) -> None:
    rig.emu.state.region_outage(vendor_location)
    with pytest.raises(ProviderAPIError) as err:
        await rig.driver.create_server(rig.spec(1))
    if rig.driver.capabilities.create_is_purchase:
        assert isinstance(err.value, PurchaseUncertain)
        assert "did not retry" in str(err.value) and "acct-001-p" in str(err.value)
    else:
        assert isinstance(err.value, ProviderUnavailable)
    assert rig.emu.state.servers == {}


async def test_purchase_create_is_never_retried_blindly(rig: Rig) -> None:
    if not rig.driver.capabilities.create_is_purchase:
        pytest.skip("create is not a purchase here")
    await rig.driver.create_server(rig.spec(1))  # warms the driver's lookups (data centers, templates)
    rig.emu.state.burst_5xx(50)
    with pytest.raises(PurchaseUncertain) as err:
        await rig.driver.create_server(rig.spec(2))
    assert "acct-002-p" in str(err.value)
    posts = rig.emu.state.count(method="POST", status=503)
    assert posts <= rig.driver.retry.purchase_attempts
    assert len(rig.emu.state.servers) == 1


async def test_stuck_provisioning_stays_creating_and_polling_times_out(rig: Rig) -> None:
    rig.emu.state.faults.stuck_provisioning = True
    info = await rig.driver.create_server(rig.spec(1))
    rig.emu.state.advance(DAY)
    assert (await rig.driver.get_server(info.server_id)).state == InstanceState.CREATING
    if info.action_id is not None:
        with pytest.raises(ProviderTimeout):
            await rig.driver.poll_action(info.action_id, timeout=0.5 * 200, interval=0.02 * 200)


async def test_regions_and_plans_cover_our_catalog(rig: Rig) -> None:
    regions = await rig.driver.list_regions()
    mapped = {r.region for r in regions}
    for region in regions_for(Provider(rig.provider)):
        assert region.name in mapped, region.name
    plans = {p.plan_id: p for p in await rig.driver.list_plans()}
    for plan in PLANS.values():
        if plan.provider == rig.provider:
            assert plan.plan_id in plans, plan.plan_id
            assert plans[plan.plan_id].monthly == pytest.approx(plan.monthly)
            assert plans[plan.plan_id].currency == plan.currency
    assert (plans[next(iter(plans))].source == "table") == (not rig.driver.capabilities.pricing_api)


async def test_resize_where_the_vendor_can(rig: Rig) -> None:
    info = await rig.driver.create_server(rig.spec(1))
    rig.emu.state.advance(600)
    caps = rig.driver.capabilities
    target = {"hetzner": "cx33", "digitalocean": "s-4vcpu-8gb", "vultr": "vc2-4c-8gb"}.get(rig.provider, "x")
    if not caps.can_resize:
        with pytest.raises(ProviderUnsupported) as err:
            await rig.driver.resize_server(info.server_id, target)
        assert "cannot resize" in str(err.value)
        return
    if caps.resize_needs_power_off:
        with pytest.raises(ProviderInvalidRequest):
            await rig.driver.resize_server(info.server_id, target)
        await rig.driver.power_off(info.server_id)
        rig.emu.state.advance(60)
    await rig.driver.resize_server(info.server_id, target)
    rig.emu.state.advance(120)
    assert (await rig.driver.get_server(info.server_id)).plan_id == target
    if caps.resize_upgrade_only:
        with pytest.raises(ProviderInvalidRequest):
            await rig.driver.resize_server(info.server_id, "vc2-1c-2gb")


async def test_snapshot(rig: Rig) -> None:
    info = await rig.driver.create_server(rig.spec(1))
    rig.emu.state.advance(600)
    snap = await rig.driver.snapshot_server(info.server_id, "before-upgrade")
    assert snap.server_id == info.server_id and snap.snapshot_id
    if snap.action_id is not None:
        rig.emu.state.advance(120)
        assert (await rig.driver.poll_action(snap.action_id)).status == "success"


async def test_user_data_reaches_the_server(rig: Rig) -> None:
    script = "#cloud-config\nruncmd: [echo hi]\n"
    info = await rig.driver.create_server(rig.spec(1, user_data=script))
    server = next(iter(rig.emu.state.servers.values()))
    stored = server.user_data
    assert stored is not None, info
    if rig.provider == "vultr":
        stored = base64.b64decode(stored).decode()
    assert stored == script, info


async def test_a_malformed_vendor_body_is_a_typed_error(rig: Rig) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "server": {"id": "not-an-int"},
                "droplet": {"id": "x"},
                "instance": {"id": 5},
                "data": [{"instanceId": "x"}],
                "id": "x",
            },
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(broken)) as client:
        rig.client = client
        driver = rig.make_driver()
        if rig.provider == "contabo":
            assert isinstance(driver, ContaboDriver)
            driver._access, driver._expires = "t", 1e18
        with pytest.raises(ProviderBadResponse) as err:
            await driver.get_server("1")
    assert rig.provider in str(err.value) and "unexpected shape" in str(err.value)
