"""The hash chain carries every kind of decision: logins, plans, confirmations, agent decisions, steps, refusals.

One realistic session (the LLM brain on the Messages API emulator) and then the chain is read back: each
entry names who acted, through which channel, and what it cost where a model was involved.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine import audit
from engine.brain.emulator import AnthropicEmulator, say, use_tools
from engine.runtime import Engine
from engine.trust import AuthenticationError, add_operator, query


@pytest.fixture
async def emu() -> AsyncIterator[AnthropicEmulator]:
    async with AnthropicEmulator() as server:
        yield server


@pytest.fixture
async def engine(clawops_home: Path, emu: AnthropicEmulator) -> AsyncIterator[Engine]:
    eng = Engine.open(
        demo_pairs=20, demo_providers="sim", anthropic_api_key="sk-test-coverage", anthropic_base_url=emu.base_url
    )
    assert eng.conversation.llm is not None
    eng.conversation.llm.backoff = 0.001
    yield eng
    await eng.conversation.llm.aclose()
    eng.close()


async def test_every_kind_of_decision_is_in_the_chain(engine: Engine, emu: AnthropicEmulator) -> None:
    owner = engine.caller("owner")
    add_operator(engine.store, owner, "vera", "viewer")
    key = engine.trust.issue_key(owner, "owner").key
    viewer_key = engine.trust.issue_key(owner, "vera").key
    assert engine.trust.authenticate(key, channel="api", source="127.0.0.1").name == "owner"
    with pytest.raises(AuthenticationError):
        engine.trust.authenticate(key[:-2] + "zz", channel="api", source="127.0.0.1")
    emu.add(
        use_tools(("restart", {"selector": {"provider": "hetzner"}, "component": "gateway"})),
        say("[CMD] Plan ready: restart the gateways on Hetzner. Say go."),
    )
    planned = await engine.ask("restart everything on hetzner", session="s", channel="tui")
    assert planned.plan is not None
    done = await engine.ask("go", session="s", channel="tui")
    assert done.job is not None and done.job["status"] == "succeeded"
    viewer = engine.trust.authenticate(viewer_key, channel="api", source="127.0.0.1")
    refused = await engine.ops.call(viewer, "restart", {"selector": {"provider": "vultr"}, "component": "gateway"})
    assert refused.status == "refused"

    assert audit.verify(engine.store).ok
    logins = [e for e in query(engine.store, action="login", limit=100) if e.action == "login"]
    assert {(e.actor, e.channel, e.detail["source"]) for e in logins} == {
        ("owner", "api", "127.0.0.1"),
        ("vera", "api", "127.0.0.1"),
    }
    (failed,) = query(engine.store, action="login.failed")
    assert failed.channel == "api" and failed.detail["reason"] == "wrong secret"
    (plan,) = query(engine.store, action="plan.restart")
    assert plan.actor == "commander@owner" and plan.channel == "tui"
    (confirm,) = query(engine.store, action="confirm.restart")
    assert (confirm.actor, confirm.channel, confirm.outcome) == ("owner", "tui", "confirmed")
    assert confirm.target == planned.plan["id"]
    (decision,) = query(engine.store, action="brain.turn")
    assert decision.actor == "commander@owner" and decision.detail["models"] == ["claude-opus-4-6"]
    assert decision.detail["tokens"]["input"] > 0 and decision.detail["cost_usd"] > 0
    steps = query(engine.store, action="restart_gateway", limit=1000)
    assert len(steps) == done.job["done"] > 0  # every step the job ran
    assert {s.outcome for s in steps} == {"ok"}
    (refusal,) = query(engine.store, action="refused.restart")
    assert refusal.actor == "vera" and refusal.outcome == "refused" and refusal.channel == "api"
