"""The decision gate's judging, pure (engine.policy): blast radius, who proposed, what cannot be undone, --yes."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.operations import TOOLS
from engine.policy import (
    Caller,
    Proposal,
    Role,
    WindowUse,
    WordScope,
    blast_radius,
    grounded,
    is_destructive,
    judge,
    model_initiated,
    scope_of,
)
from engine.runtime import Engine
from tests.security.sec_gate_kit import PAIRS, accounts, jobs

OWNER = Caller("op-owner", "owner", Role.OWNER)
MODEL = dataclasses.replace(OWNER, agent="forge")
GUARDIAN = dataclasses.replace(OWNER, agent="guardian", autonomous=True, channel="guardian")


def _p(
    plan_id: str, n: int, *, first: int = 1, tool: str = "restart", destructive: bool = False, model: bool = False
) -> Proposal:
    return Proposal(plan_id, tool, frozenset(accounts(first, n)), n, destructive, model)


def test_blast_radius_counts_distinct_users_and_every_new_one() -> None:
    window = WindowUse(frozenset(accounts(1, 3)), new_users=2)
    assert blast_radius([_p("a", 5), _p("b", 5, first=4)], window) == 8 + 2
    assert blast_radius([Proposal("c", "provision_pairs", frozenset(), 4, False, False)], window) == 5 + 4


def test_a_turn_over_the_threshold_holds_every_call() -> None:
    verdicts = judge(OWNER, [_p("a", 6), _p("b", 5, first=11)], WindowUse(), 10)
    assert [v.needs_human for v in verdicts] == [True, True]
    assert judge(OWNER, [_p("a", 6), _p("b", 4, first=11)], WindowUse(), 10)[1].needs_human is False


def test_the_threshold_is_never_looser_than_ten() -> None:
    assert judge(OWNER, [_p("a", 11)], WindowUse(frozenset(accounts(50, 1))), 99)[0].needs_human


def test_a_model_or_a_destructive_call_always_waits_guardian_keeps_its_own_limits() -> None:
    assert judge(MODEL, [_p("a", 1, model=model_initiated(MODEL))], WindowUse(), 10)[0].needs_human
    assert judge(OWNER, [_p("a", 1, destructive=True)], WindowUse(), 10)[0].needs_human
    assert not judge(
        GUARDIAN, [_p("a", 1, model=model_initiated(GUARDIAN))], WindowUse(frozenset(accounts(1, 10))), 10
    )[0].needs_human
    assert is_destructive(TOOLS["teardown"].destructive, {}, True)
    assert is_destructive(TOOLS["resize"].destructive, {"archive": False}, True)
    assert is_destructive(TOOLS["failover"].destructive, {}, False)
    assert not is_destructive(TOOLS["restart"].destructive, {}, True)


def test_grounding_needs_the_same_tool_and_nothing_unnamed() -> None:
    words = [WordScope("restart", frozenset({"i-1", "i-2"})), WordScope("provision_pairs", count=5)]
    assert grounded("restart", ["i-1"], 1, words)
    assert not grounded("restart", ["i-1", "i-3"], 2, words)
    assert not grounded("teardown", ["i-1"], 1, words)
    assert grounded("provision_pairs", [], 5, words) and not grounded("provision_pairs", [], 6, words)


def test_the_scope_fingerprint_changes_with_any_target() -> None:
    assert scope_of("teardown", {"archive": True}, ["i-1", "i-2"]) == scope_of(
        "teardown", {"archive": True}, ["i-2", "i-1"]
    )
    assert scope_of("teardown", {"archive": True}, ["i-1"]) != scope_of("teardown", {"archive": True}, ["i-1", "i-2"])
    assert scope_of("teardown", {"archive": True}, ["i-1"]) != scope_of("teardown", {"archive": False}, ["i-1"])


@pytest.fixture
def engine(clawops_home: Path) -> Iterator[Engine]:
    eng = Engine.open(demo_pairs=PAIRS, demo_providers="sim")
    try:
        yield eng
    finally:
        eng.close()


def test_guardian_heals_run_under_the_standing_approval_and_leave_the_operators_window_alone(engine: Engine) -> None:
    guardian = dataclasses.replace(engine.caller(), agent="guardian", autonomous=True, channel="guardian")
    for account in accounts(1, 12):
        out = asyncio.run(
            engine.ops.call(guardian, "restart", {"selector": {"accounts": [account]}, "component": "gateway"})
        )
        assert out.status == "done", out.message
    ran = len(jobs(engine))
    turn = asyncio.run(engine.ask(f"restart docker on {' '.join(accounts(20, 10))}")).to_contract()
    assert turn["job"] is not None and len(jobs(engine)) == ran + 1
