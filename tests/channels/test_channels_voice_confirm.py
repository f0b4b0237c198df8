"""A plan made from a voice note runs only when the reply repeats its scope ("go 13", "confirm 13 restarts"):
a bare "go" gets the scope read back, a wrong number runs nothing (issue 16, "voice that can be trusted")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.conversation import scoped_confirmation
from engine.runtime import Engine


@pytest.fixture
def engine(clawops_home: Path) -> Iterator[Engine]:
    eng = Engine.open(demo_pairs=40, demo_providers="sim")
    yield eng
    eng.close()


def test_scoped_confirmation_reads_digits_and_words() -> None:
    assert scoped_confirmation("go") == []
    assert scoped_confirmation("Go 13.") == [13]
    assert scoped_confirmation("confirm 13 restarts") == [13]
    assert scoped_confirmation("yes, go thirteen") == [13]
    assert scoped_confirmation("go ahead twenty one") == [21]
    assert scoped_confirmation("what's degraded on vultr?") is None
    assert scoped_confirmation("yes and also show me the costs for last month") is None


async def test_voice_plan_needs_its_scope_repeated(engine: Engine) -> None:
    caller = engine.caller(channel="telegram")
    asked = await engine.conversation.turn(caller, "restart everything degraded", session="tg")
    plan = asked.plan
    assert plan is not None and plan["status"] == "pending"
    scope = plan["affected_users"]
    engine.conversation.mark_spoken(caller, "tg", [plan["id"]])

    bare = await engine.conversation.turn(caller, "go", session="tg")
    assert f"go {scope}" in bare.reply and bare.tool_calls == []
    wrong = await engine.conversation.turn(caller, f"go {scope + 1}", session="tg")
    assert "not the plan's scope" in wrong.reply and wrong.tool_calls == []
    assert engine.ops.pending_plan(caller, plan["id"]).status == "pending"  # nothing ran

    said = await engine.conversation.turn(caller, f"confirm {scope} restarts", session="tg")
    assert said.job is not None and engine.ops.pending_plan(caller, plan["id"]).status != "pending"


async def test_typed_plan_still_runs_on_a_bare_go(engine: Engine) -> None:
    caller = engine.caller(channel="telegram")
    asked = await engine.conversation.turn(caller, "restart everything degraded", session="typed")
    assert asked.plan is not None and asked.plan["status"] == "pending"
    done = await engine.conversation.turn(caller, "go", session="typed")
    assert done.job is not None
