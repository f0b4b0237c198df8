"""Status page readers against the emulated feeds (Statuspage JSON, Atom, RSS, Vultr JSON)."""

from __future__ import annotations

import httpx

from engine.providers.emulators import running_emulator
from engine.providers.status import provider_status


async def test_status_is_operational_then_reports_a_region_outage_then_recovers(
    provider: str, vendor_location: str
) -> None:
    location = vendor_location
    async with running_emulator(provider) as emu, httpx.AsyncClient() as client:
        calm = await provider_status(provider, client, emu.status_url)
        assert calm.indicator == "operational" and calm.ok and not calm.incidents, calm

        emu.state.region_outage(location, title=f"Network outage in {location}")
        down = await provider_status(provider, client, emu.status_url)
        assert down.indicator == "outage", down
        assert down.affects(location) and not down.affects("elsewhere-9")
        assert any(location in i.title for i in down.incidents)

        emu.state.end_outage(location)
        again = await provider_status(provider, client, emu.status_url)
        assert again.indicator == "operational", again


async def test_an_unreadable_status_page_is_unknown_not_an_exception(provider: str) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>maintenance</html")

    async with httpx.AsyncClient(transport=httpx.MockTransport(broken)) as client:
        status = await provider_status(provider, client, "http://status.invalid")
    assert status.indicator == "unknown" and status.error and provider in status.description
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(503))) as client:
        status = await provider_status(provider, client, "http://status.invalid")
    assert status.indicator == "unknown"
