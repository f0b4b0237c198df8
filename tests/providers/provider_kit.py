"""The provider driver suite's rig: one emulator and one driver per vendor, typed for the tests that use it.

It lives beside conftest.py (which builds it as the ``rig`` fixture) so test modules can name its type.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from engine.providers import ServerSpec
from engine.providers._http import HttpDriver, PollPolicy, RetryPolicy
from engine.providers.emulators import Emulator
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


@dataclass
class Rig:
    """A vendor's emulator, an HTTP client, and a driver for that vendor talking to the emulator through it."""

    provider: str
    emu: Emulator
    client: httpx.AsyncClient
    driver: HttpDriver = field(init=False)

    def __post_init__(self) -> None:
        self.driver = self.make_driver()

    def spec(self, n: int = 1, **kw: Any) -> ServerSpec:
        region, plan = WHERE[self.provider]
        args: dict[str, Any] = {
            "instance_id": f"i-acct-{n:03d}-p",
            "name": f"acct-{n:03d}-p",
            "region_location": region,
            "plan_id": plan,
        }
        args.update(kw)
        return ServerSpec(**args)

    def make_driver(self, **kw: Any) -> HttpDriver:
        kw.setdefault("time_scale", FAST)
        kw.setdefault("retry", RetryPolicy(initial=0.2, maximum=1.0, jitter=0.1))
        kw.setdefault("poll", PollPolicy(interval=0.5, timeout=60.0, lookup_pause=0.5))
        kw.setdefault("token", f"test-{uuid.uuid4().hex[:12]}")  # a fresh limiter per test
        return emulator_driver(self.emu, self.client, **kw)
