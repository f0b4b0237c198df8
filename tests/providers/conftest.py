"""Fixtures for the provider driver suite: one emulator + one driver per vendor."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from engine.providers.emulators import PROVIDERS, running_emulator
from tests.providers.provider_kit import Rig
from tests.tls_kit import tls

#: The vendor location id the emulator uses for WHERE's region (what a region outage names).
VENDOR_LOCATION = {"hetzner": "nbg1", "digitalocean": "fra1", "vultr": "ewr", "contabo": "EU", "hostinger": "vno"}


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def rig(provider: str) -> AsyncIterator[Rig]:
    async with running_emulator(provider, time_scale=1.0) as emu:
        async with httpx.AsyncClient(timeout=5.0, verify=tls()) as client:  # one TLS context: tests/tls_kit.py
            yield Rig(provider, emu, client)


@pytest.fixture
def vendor_location(provider: str) -> str:
    """The vendor location id of the provider's test region (what a region outage names)."""
    return VENDOR_LOCATION[provider]
