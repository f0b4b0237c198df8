"""Fixtures for the provider driver suite: one emulator + one driver per vendor."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from engine.providers._http import HttpDriver, PollPolicy, RetryPolicy
from engine.providers.emulators import PROVIDERS, Emulator, running_emulator
from engine.providers.registry import emulator_driver

#: Drivers run "fast" (backoffs and polls divided by this) against real-time emulators whose lifecycles
#: take tens of seconds, so a test moves them on with ``emu.state.advance`` and nothing changes by itself.
FAST = 200.0

#: A location and a tier plan per provider that the emulators know.
WHERE = {
    "hetzner": ("eu-hetzner-nbg1", "cx23"),
    "digitalocean": ("eu-digitalocean-fra1", "s-2vcpu-4gb"),
    "vultr": ("us-vultr-ewr", "vc2-2c-4gb"),
    "contabo": ("eu-contabo-nue", "V91"),
    "hostinger": ("eu-hostinger-vno", "hostingercom-vps-kvm2-usd-1m"),
}
#: The vendor location id the emulator uses for WHERE's region (what a region outage names).
VENDOR_LOCATION = {"hetzner": "nbg1", "digitalocean": "fra1", "vultr": "ewr", "contabo": "EU", "hostinger": "vno"}


@dataclass
class Rig:
    provider: str
    emu: Emulator
    driver: HttpDriver
    client: httpx.AsyncClient

    def spec(self, n: int = 1, **kw: Any) -> Any:
        from engine.providers import ServerSpec

        region, plan = WHERE[self.provider]
        args = {"instance_id": f"i-acct-{n:03d}-p", "name": f"acct-{n:03d}-p", "region_location": region,
                "plan_id": plan}
        args.update(kw)
        return ServerSpec(**args)

    def make_driver(self, **kw: Any) -> HttpDriver:
        kw.setdefault("time_scale", FAST)
        kw.setdefault("retry", RetryPolicy(initial=0.2, maximum=1.0, jitter=0.1))
        kw.setdefault("poll", PollPolicy(interval=0.5, timeout=60.0, lookup_pause=0.5))
        kw.setdefault("token", f"test-{uuid.uuid4().hex[:12]}")  # a fresh limiter per test
        return emulator_driver(self.emu, self.client, **kw)


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def rig(provider: str) -> AsyncIterator[Rig]:
    async with running_emulator(provider, time_scale=1.0) as emu:
        async with httpx.AsyncClient(timeout=5.0) as client:
            r = Rig(provider, emu, None, client)  # type: ignore[arg-type]
            r.driver = r.make_driver()
            yield r


@pytest.fixture
def vendor_location(provider: str) -> str:
    """The vendor location id of the provider's test region (what a region outage names)."""
    return VENDOR_LOCATION[provider]
