"""What the operation layer needs from the layers above it is injected by the runtime (issue #19), and without it
the layer fails closed: an agent's allowance that cannot be checked refuses the agent."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.operations import Operations
from engine.runtime import Engine


@pytest.fixture
def engine(clawops_home: Path) -> Iterator[Engine]:
    eng = Engine.open(demo_pairs=10, demo_providers="sim")
    yield eng
    eng.close()


def test_an_operation_layer_without_the_agents_allowances_refuses_every_agent(engine: Engine) -> None:
    bare = Operations(engine.store, engine.settings, engine.drivers, engine.nodes)
    ledger = dataclasses.replace(engine.caller(), agent="ledger")
    outcome = asyncio.run(bare.call(ledger, "fleet_status", {}))
    assert (outcome.status, outcome.rule) == ("refused", "agent_allowance")
    # The operator's own call needs no allowance.
    assert asyncio.run(bare.call(engine.caller(), "fleet_status", {})).status == "done"


def test_the_runtime_injects_the_agents_allowances(engine: Engine) -> None:
    ledger = dataclasses.replace(engine.caller(), agent="ledger")
    assert asyncio.run(engine.ops.call(ledger, "fleet_status", {})).status == "done"
    outside = asyncio.run(
        engine.ops.call(ledger, "restart", {"selector": {"state": "DEGRADED"}, "component": "gateway"})
    )
    assert (outside.status, outside.rule) == ("refused", "agent_allowance")
    nobody = dataclasses.replace(engine.caller(), agent="nobody")
    unknown = asyncio.run(engine.ops.call(nobody, "fleet_status", {}))
    assert unknown.status == "refused" and "no agent called nobody" in unknown.message


def test_briefing_tools_come_from_the_runtime(engine: Engine) -> None:
    bare = Operations(engine.store, engine.settings, engine.drivers, engine.nodes)
    assert asyncio.run(bare.call(engine.caller(), "briefing_schedule", {})).status == "error"
    injected = asyncio.run(engine.ops.call(engine.caller(), "briefing_schedule", {}))
    assert injected.status == "done" and injected.result["changed"] is False
