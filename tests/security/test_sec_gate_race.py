"""Splitting over concurrent turns never avoids confirmation: the window is read again when a plan would run.

Two turns of one operator, each planned while the other had not run yet (two clients at once, or two engine
processes on one store), each within the threshold alone: the first runs, the second is held for the go —
the gate's last look (``DecisionGate.hold_if_over``) reads the window as it is at that moment.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.runtime import Engine
from tests.security.sec_gate_kit import PAIRS, accounts, jobs


@pytest.fixture
def engine(clawops_home: Path) -> Iterator[Engine]:
    eng = Engine.open(demo_pairs=PAIRS, demo_providers="sim")
    try:
        yield eng
    finally:
        eng.close()


async def test_two_interleaved_turns_cannot_add_up_past_the_threshold(engine: Engine) -> None:
    ops, owner = engine.ops, engine.caller("owner")
    restart = {"component": "docker"}
    with ops.gate.turn(owner) as first:
        planned = await ops.call(owner, "restart", {**restart, "selector": {"accounts": accounts(1, 6)}})
    with ops.gate.turn(owner) as second:  # planned before the first ran: its window was empty too
        await ops.call(owner, "restart", {**restart, "selector": {"accounts": accounts(11, 6)}})
    assert planned.status == "planned" and planned.plan is not None and not planned.plan.requires_confirmation
    ran = await ops.settle(first)
    held = await ops.settle(second)
    assert [o.status for o in ran.values()] == ["done"]
    [outcome] = held.values()
    assert outcome.status == "planned" and outcome.plan is not None and outcome.plan.requires_confirmation
    assert any("needs your confirmation" in p.get("note", "") for p in outcome.plan.policy)
    assert len(jobs(engine)) == 1  # only the first ran; the second waits for the operator's go
    done = await ops.confirm(owner, outcome.plan.id, session_key=None)  # the operator's own go still works
    assert done.status == "done"
