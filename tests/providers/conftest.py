"""Fixtures for the provider driver suite: one emulator + one driver per vendor."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from functools import cache

import httpx
import pytest

from engine.providers.emulators import PROVIDERS, running_emulator
from tests.providers.provider_kit import Rig

#: The vendor location id the emulator uses for WHERE's region (what a region outage names).
VENDOR_LOCATION = {"hetzner": "nbg1", "digitalocean": "fra1", "vultr": "ewr", "contabo": "EU", "hostinger": "vno"}


@cache
def _tls() -> ssl.SSLContext:
    """httpx's default TLS context, built once: building it (loading the CA bundle) was half of a test's CPU.

    The rig's client speaks plain HTTP to the loopback emulator; the context is the one it would build anyway.
    """
    return httpx.create_ssl_context()


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def rig(provider: str) -> AsyncIterator[Rig]:
    async with running_emulator(provider, time_scale=1.0) as emu:
        async with httpx.AsyncClient(timeout=5.0, verify=_tls()) as client:
            yield Rig(provider, emu, client)


@pytest.fixture
def vendor_location(provider: str) -> str:
    """The vendor location id of the provider's test region (what a region outage names)."""
    return VENDOR_LOCATION[provider]
