"""Provider benchmarks (issue 3), printed as a table.  Run: ``python bench/bench_providers.py``.

1. 1,000 creates through the Hetzner emulator under Hetzner's real limit (3,600/h, refilled 1/s),
   time-scaled (``--scale``, default 100: 100 requests/s allowed), starting from an exhausted
   budget so the refill rate is what binds.  Targets: achieved/allowed >= 95 %, and no 429 once
   the limiter has learned the ``RateLimit-*`` headers (the very first call is the probe that
   learns them).
2. Listing 10,000 servers across the five emulators (2,000 each) with each vendor's pagination:
   wall time and requests made versus the minimum the page-size limits allow.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import httpx

from engine.providers import ServerSpec
from engine.providers.emulators import PROVIDERS, running_emulator
from engine.providers.registry import emulator_driver

ROWS: list[tuple[str, str, str, str]] = []


def row(metric: str, value: str, target: str, ok: bool | None) -> None:
    ROWS.append((metric, value, target, "" if ok is None else ("PASS" if ok else "MISS")))


async def bench_creates(count: int, scale: float, concurrency: int) -> None:
    async with (
        running_emulator("hetzner", time_scale=scale) as emu,
        httpx.AsyncClient(timeout=30.0, limits=httpx.Limits(max_connections=concurrency)) as client,
    ):
        emu.state.drain_rate_limit()
        driver = emulator_driver(emu, client, token="bench-token")
        sem = asyncio.Semaphore(concurrency)

        async def one(n: int) -> None:
            async with sem:
                await driver.create_server(ServerSpec(f"i-bench-{n:05d}", f"bench-{n:05d}", "nbg1", "cx23"))

        await one(0)  # the probe: learns RateLimit-* (an exhausted budget answers 429 first)
        learned_429 = emu.state.count(status=429)
        start = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(1, count)))
        elapsed = time.perf_counter() - start
        after_429 = emu.state.count(status=429) - learned_429
        allowed = driver.limiter.allowed_rate
        achieved = (count - 1) / elapsed
        ratio = achieved / allowed
        created = len(emu.state.servers)
    row(f"hetzner: {count} creates, allowed rate", f"{allowed:.1f} req/s", f"(3600/h refilled 1/s, x{scale:g})", None)
    row("hetzner: achieved create rate", f"{achieved:.1f} req/s ({ratio:.1%})", ">= 95 % of allowed", ratio >= 0.95)
    row("hetzner: 429s while learning headers", str(learned_429), "(the probe)", None)
    row("hetzner: 429s after learning", str(after_429), "0", after_429 == 0)
    row("hetzner: servers created", str(created), str(count), created == count)


async def bench_listing(total: int) -> None:
    per = total // len(PROVIDERS)
    page_limit = {"hetzner": 50, "digitalocean": 200, "vultr": 500, "contabo": 100, "hostinger": None}
    made = minimum = 0
    wall = 0.0
    async with httpx.AsyncClient(timeout=60.0) as client:
        for provider in PROVIDERS:
            async with running_emulator(provider) as emu:
                for n in range(per):
                    emu.plant(name=f"fleet-{n:05d}")
                driver = emulator_driver(emu, client, token="bench-list")
                if provider == "hostinger":
                    await driver.list_regions()  # data-center ids are looked up once per driver, then cached
                before = driver.requests_made
                start = time.perf_counter()
                servers = await driver.list_servers()
                took = time.perf_counter() - start
                wall += took
                used = driver.requests_made - before
                limit = page_limit[provider]
                need = 1 if limit is None else math.ceil(per / limit)
                made += used
                minimum += need
                assert len(servers) == per, (provider, len(servers))
                row(f"list {per} on {provider}", f"{took:.2f} s, {used} requests", f"min {need}", used == need)
    row(f"list {total} across 5 providers", f"{wall:.2f} s wall, {made} requests", f"min {minimum}", made == minimum)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--creates", type=int, default=1000)
    parser.add_argument("--scale", type=float, default=100.0, help="time scale of the Hetzner rate limit")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--servers", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(bench_creates(args.creates, args.scale, args.concurrency))
    asyncio.run(bench_listing(args.servers))
    width = [max(len(r[i]) for r in [("metric", "value", "target", "result"), *ROWS]) for i in range(4)]
    for r in [("metric", "value", "target", "result"), *ROWS]:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, width, strict=True)))


if __name__ == "__main__":
    main()
