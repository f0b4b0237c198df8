"""The ETA of a provisioning job: from the vendors' boot times and rate limits before anything finishes,
refined from the instances' real states as they move."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from engine.operations import JobProgress
from engine.operations._eta import estimate_provisioning, seen_ready
from engine.runtime import Engine
from engine.store import Instance, utcnow


def _pair(
    n: int, primary_state: str = "REQUESTED", standby_state: str = "REQUESTED", booting_for: float = 0.0
) -> list[Instance]:
    now = utcnow()
    return [
        Instance(
            id=f"i-{n}-p",
            account_id=f"a{n}",
            tenant_id="t",
            role="primary",
            provider="hetzner",
            region="eu-hetzner-nbg1",
            tier="standard",
            state=primary_state,
            updated_at=now - timedelta(seconds=booting_for),
        ),
        Instance(
            id=f"i-{n}-s",
            account_id=f"a{n}",
            tenant_id="t",
            role="standby",
            provider="vultr",
            region="eu-vultr-fra",
            tier="standard",
            state=standby_state,
            updated_at=now,
        ),
    ]


def test_before_anything_moves_the_eta_is_both_boots_one_after_the_other() -> None:
    rows = [i for n in range(10) for i in _pair(n)]
    pairs = [(f"i-{n}-p", f"i-{n}-s") for n in range(10)]
    now = utcnow()
    eta = estimate_provisioning(rows, pairs, 0, now, 1.0, parallel=False, concurrency=1000, fastest=None, started=now)
    expected = seen_ready(30.0)[0] + seen_ready(60.0)[0]
    assert eta is not None and expected <= eta < expected + 3.0  # + Vultr's 30/s limit on the polls
    side_by_side = estimate_provisioning(
        rows, pairs, 0, now, 1.0, parallel=True, concurrency=1000, fastest=None, started=now
    )
    assert side_by_side is not None and side_by_side < eta  # real nodes: both halves boot at once
    waves = estimate_provisioning(rows, pairs, 0, now, 1.0, parallel=False, concurrency=5, fastest=None, started=now)
    assert waves is not None and 2 * expected <= waves < 2 * expected + 3.0  # ten pairs, five at a time


def test_the_eta_shrinks_as_the_primaries_boot() -> None:
    now = utcnow()
    fresh = estimate_provisioning(
        _pair(0), [("i-0-p", "i-0-s")], 0, now, 1.0, parallel=False, concurrency=10, fastest=None, started=now
    )
    booting = estimate_provisioning(
        _pair(0, "BOOTSTRAPPING", booting_for=20.0),
        [("i-0-p", "i-0-s")],
        0,
        now,
        1.0,
        parallel=False,
        concurrency=10,
        fastest=None,
        started=now - timedelta(seconds=25),
    )
    up = estimate_provisioning(
        _pair(0, "ACTIVE", "BOOTSTRAPPING", booting_for=0.0),
        [("i-0-p", "i-0-s")],
        0,
        now,
        1.0,
        parallel=False,
        concurrency=10,
        fastest=None,
        started=now - timedelta(seconds=45),
    )
    assert fresh is not None and booting is not None and up is not None
    assert fresh > booting > up > 0


def test_the_first_progress_report_of_a_demo_provisioning_carries_an_eta(clawops_home: Path) -> None:
    async def scenario() -> list[JobProgress]:
        engine = Engine.open(demo_pairs=20, demo_time_scale=120.0)
        engine.ops.background_jobs = True
        seen: list[JobProgress] = []
        engine.ops.add_progress_listener(seen.append)
        try:
            planned = await engine.ask(
                "provision 12 standard pairs in the eu, hetzner primary, vultr standby", session="eta"
            )
            assert planned.plan is not None
            await engine.ask("go", session="eta")
            await engine.ops.wait_for_jobs()
        finally:
            engine.close()
        return seen

    seen = asyncio.run(scenario())
    first, last = seen[0], seen[-1]
    assert first.job.done == 0 and first.job.eta_seconds is not None and "ETA" in first.line
    assert last.job.status == "succeeded" and last.job.eta_seconds is None
