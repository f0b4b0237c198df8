"""Rate limiter behaviour and the vendor status → instance state tables."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from engine.domain import InstanceState
from engine.providers import Phase
from engine.providers._ratelimit import RateLimiter, RateLimiters, RateLimitPolicy, Window
from engine.providers.errors import (
    ProviderAuthError,
    ProviderConflict,
    ProviderInvalidRequest,
    ProviderNotFound,
    ProviderQuotaExceeded,
    ProviderRateLimited,
    ProviderUnavailable,
    error_for_status,
)
from engine.providers.states import (
    CONTABO,
    DIGITALOCEAN,
    HETZNER,
    HOSTINGER,
    PHASE_STATE,
    contabo_phase,
    digitalocean_phase,
    vultr_phase,
)

SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "specs"


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


async def test_limiter_learns_remaining_from_headers_and_paces_at_the_refill_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.t += seconds

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    limiter = RateLimiter(RateLimitPolicy((Window(3600, 3600),)), clock=clock)
    await limiter.acquire()
    limiter.observe(200, {"RateLimit-Limit": "3600", "RateLimit-Remaining": "0", "RateLimit-Reset": "0"})
    for _ in range(5):
        await limiter.acquire()
    assert sum(slept) == pytest.approx(5.0)  # 1 request per second once the bucket is known to be empty
    assert limiter.stats.header_updates == 1


async def test_limiter_honours_retry_after_on_429(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()

    async def fake_sleep(seconds: float) -> None:
        clock.t += seconds

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    limiter = RateLimiter(RateLimitPolicy((Window(250, 60), Window(5000, 3600))), clock=clock)
    await limiter.acquire()
    limiter.observe(429, {"ratelimit-limit": "5000", "ratelimit-remaining": "4000", "retry-after": "7"})
    await limiter.acquire()
    assert clock.t >= 7.0 and limiter.stats.rate_limited == 1


async def test_only_one_request_is_in_flight_until_headers_are_learned() -> None:
    limiter = RateLimiter(RateLimitPolicy((Window(3600, 3600),)))
    await limiter.acquire()
    second = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.01)
    assert not second.done()
    limiter.observe(200, {"RateLimit-Remaining": "3000", "RateLimit-Limit": "3600"})
    await asyncio.wait_for(second, 1.0)


def test_limiters_are_shared_per_provider_and_token_within_one_engine() -> None:
    books = RateLimiters()
    assert books.get("hetzner", "a") is books.get("hetzner", "a")
    assert books.get("hetzner", "a") is not books.get("hetzner", "b")
    assert books.get("vultr", "a") is not books.get("hetzner", "a")
    assert RateLimiters().get("hetzner", "a") is not books.get("hetzner", "a")  # another engine's books


def test_each_engines_drivers_keep_their_own_books(clawops_home: Path) -> None:
    """Two engines in one process: the same vendor token, two sets of books (as two processes would have)."""
    from engine.runtime import Engine

    one = Engine.open(demo_pairs=2, demo_providers="emulated")
    two = Engine.open(demo_pairs=2, demo_providers="emulated")
    try:
        assert one.drivers.limiters is not two.drivers.limiters
        one.drivers.limiters.get("hetzner", "emulator-token").stats.requests += 3
        assert one.drivers.limiters.totals()["hetzner"].requests == 3
        assert two.drivers.limiters.totals() == {}
    finally:
        one.close()
        two.close()


def test_time_scale_multiplies_the_allowed_rate() -> None:
    policy = RateLimitPolicy((Window(3600, 3600),))
    assert RateLimiter(policy.scaled(100)).allowed_rate == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (401, "unauthorized", ProviderAuthError),
        (403, "forbidden", ProviderAuthError),
        (403, "resource_limit_exceeded", ProviderQuotaExceeded),
        (404, "not_found", ProviderNotFound),
        (409, "uniqueness_error", ProviderConflict),
        (423, "locked", ProviderConflict),
        (412, "resource_unavailable", ProviderQuotaExceeded),
        (402, None, ProviderQuotaExceeded),
        (422, "invalid_input", ProviderInvalidRequest),
        (429, None, ProviderRateLimited),
        (503, None, ProviderUnavailable),
        (403, "maintenance", ProviderUnavailable),
    ],
)
def test_error_classes(status: int, code: str | None, cls: type) -> None:
    assert error_for_status(status, code) is cls


def test_every_phase_maps_to_a_state() -> None:
    assert set(PHASE_STATE) == set(Phase)
    assert PHASE_STATE[Phase.RUNNING] == InstanceState.ACTIVE
    assert PHASE_STATE[Phase.PROVISIONING] == InstanceState.CREATING
    assert PHASE_STATE[Phase.GONE] == InstanceState.DELETED


def test_vendor_tables_follow_the_reference_mapping() -> None:
    assert HETZNER["initializing"] == Phase.PROVISIONING and HETZNER["off"] == Phase.STOPPED
    assert digitalocean_phase("active", locked=True) == Phase.TRANSITIONING
    assert digitalocean_phase("archive", locked=False) == Phase.GONE
    assert vultr_phase("active", "running", "ok") == Phase.RUNNING
    assert vultr_phase("active", "running", "installingbooting") == Phase.PROVISIONING
    assert vultr_phase("active", "stopped", "ok") == Phase.STOPPED
    assert vultr_phase("suspended", "running", "ok") == Phase.ERROR
    assert vultr_phase("brand-new", "running", "ok") == Phase.ERROR
    assert contabo_phase("running", "2026-12-01", "2026-11-24") == Phase.DELETING
    assert contabo_phase("running", "2026-11-01", "2026-11-24") == Phase.GONE
    assert HOSTINGER["destroyed"] == Phase.GONE and HOSTINGER["initial"] == Phase.PROVISIONING


def _enum(schema: dict[str, Any], *path: str) -> set[str]:
    node: Any = schema  # a walk down nested JSON
    for key in path:
        node = node[key]
    return set(node)


@pytest.mark.skipif(not SPECS.is_dir(), reason=f"vendor specs not found at {SPECS}")
def test_tables_cover_every_status_the_vendor_specs_define() -> None:
    hetzner = json.loads((SPECS / "hetzner.json").read_text())
    enum = hetzner["paths"]["/servers/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"][
        "properties"
    ]["server"]["properties"]["status"]["enum"]
    assert set(enum) == set(HETZNER)
    hostinger = json.loads((SPECS / "hostinger.json").read_text())
    vm = hostinger["components"]["schemas"]["VPS.V1.VirtualMachine.VirtualMachineResource"]
    assert set(vm["properties"]["state"]["enum"]) == set(HOSTINGER)
    text = (SPECS / "contabo.yaml").read_text()
    block = text[text.index("\n    instanceStatus:") :]
    block = block[block.index("enum:") : block.index("type: string")]
    statuses = {line.strip()[2:] for line in block.splitlines() if line.strip().startswith("- ")}
    assert statuses == set(CONTABO)
    assert set(DIGITALOCEAN) == {"new", "active", "off", "archive"}
