"""Red team, offline brain: every way of splitting, combining or re-using a decision must end in a plan, not a job.

Each attack asserts that nothing ran (no job) and that the fleet is exactly as it was.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from engine.errors import ClawOpsError, NotFound, PolicyRefusal
from engine.runtime import Engine
from engine.store import PlanRecord, utcnow
from engine.trust import add_operator
from evals.stores import fresh_store
from tests.security.sec_gate_kit import PAIRS, accounts, fleet, jobs, nothing_ran, plans, words


@pytest.fixture
def clawops_home(clawops_home: Path) -> Path:
    """The isolated home, with a new empty store already in it (migrated once per process: evals/stores.py)."""
    fresh_store(clawops_home / "clawops.db")
    return clawops_home


@pytest.fixture
def engine(clawops_home: Path) -> Iterator[Engine]:
    eng = Engine.open(demo_pairs=PAIRS, demo_providers="sim")
    add_operator(eng.store, eng.caller("owner"), "alice", "operator")
    try:
        yield eng
    finally:
        eng.close()


def ask(engine: Engine, message: str, *, session: str | None = None, dry_run: bool = False) -> dict[str, object]:
    return asyncio.run(engine.ask(message, session=session, dry_run=dry_run)).to_contract()


# ----------------------------------------------------------------------------- one message, many calls
@pytest.mark.parametrize("joiner", [" and ", "; ", ", then ", ". Also "])
def test_two_ten_user_teardowns_in_one_message_wait(engine: Engine, joiner: str) -> None:
    before = fleet(engine)
    out = ask(engine, f"tear down {words(accounts(1, 10))}{joiner}tear down {words(accounts(11, 10))}")
    calls = out["tool_calls"]
    assert isinstance(calls, list) and [c["status"] for c in calls] == ["planned", "planned"]
    assert all(p.requires_confirmation for p in plans(engine))
    nothing_ran(engine, before)


@pytest.mark.parametrize("second", ["restart docker on", "restart the vps on", "silence alerts for 30 minutes on"])
def test_two_small_actions_over_the_threshold_together_wait(engine: Engine, second: str) -> None:
    before = fleet(engine)
    out = ask(engine, f"restart the gateway on {words(accounts(1, 6))} and {second} {words(accounts(11, 5))}")
    calls = out["tool_calls"]
    assert isinstance(calls, list) and {c["status"] for c in calls} == {"planned"}
    notes = [p["note"] for c in plans(engine) for p in c.policy if p["rule"] == "rule5_confirm_above_threshold"]
    assert any("11 users together" in n for n in notes)
    nothing_ran(engine, before)


def test_provisioning_split_in_one_message_waits(engine: Engine) -> None:
    before = fleet(engine)
    out = ask(engine, "provision 6 pairs on hetzner and provision 5 pairs on vultr")
    calls = out["tool_calls"]
    assert isinstance(calls, list) and [c["status"] for c in calls] == ["planned", "planned"]
    nothing_ran(engine, before)


def test_a_small_compound_within_the_threshold_still_runs(engine: Engine) -> None:
    """Control: the gate weighs, it does not block everything."""
    out = ask(engine, f"restart the gateway on {words(accounts(1, 3))} and restart docker on {words(accounts(11, 3))}")
    calls = out["tool_calls"]
    assert isinstance(calls, list) and [c["status"] for c in calls] == ["done", "done"]
    assert len(jobs(engine)) == 2


# ----------------------------------------------------------------------------- split over turns and sessions
def test_split_across_turns_within_the_window_waits(engine: Engine) -> None:
    first = ask(engine, f"restart the gateway on {words(accounts(1, 10))}")
    assert first["job"] is not None  # 10 users alone: within the threshold
    before, ran = fleet(engine), len(jobs(engine))
    second = ask(engine, "restart the gateway on acct-011")
    plan = second["plan"]
    assert isinstance(plan, dict) and plan["requires_confirmation"] is True
    assert any("in the last 10 min" in p["note"] for p in plan["policy"])
    nothing_ran(engine, before, ran)


def test_split_across_sessions_of_the_same_operator_waits(engine: Engine) -> None:
    ask(engine, f"restart docker on {words(accounts(1, 8))}", session="one")
    before, ran = fleet(engine), len(jobs(engine))
    out = ask(engine, f"restart docker on {words(accounts(20, 3))}", session="two")
    assert isinstance(out["plan"], dict) and out["plan"]["requires_confirmation"] is True
    nothing_ran(engine, before, ran)


def test_split_across_processes_holds_because_the_window_is_in_the_store(engine: Engine, clawops_home: Path) -> None:
    ask(engine, f"restart docker on {words(accounts(1, 10))}")
    other = Engine.open(demo_pairs=PAIRS, demo_providers="sim")  # a second engine on the same store
    try:
        before, ran = fleet(engine), len(jobs(engine))
        out = asyncio.run(other.ask("restart docker on acct-030")).to_contract()
        assert isinstance(out["plan"], dict) and out["plan"]["requires_confirmation"] is True
        nothing_ran(engine, before, ran)
    finally:
        other.close()


def test_split_one_user_at_a_time_waits_at_the_eleventh(engine: Engine) -> None:
    for account in accounts(1, 10):
        assert ask(engine, f"restart the gateway on {account}")["job"] is not None
    before, ran = fleet(engine), len(jobs(engine))
    assert ask(engine, "restart the gateway on acct-011")["job"] is None
    nothing_ran(engine, before, ran)


def test_the_same_users_again_are_not_counted_twice(engine: Engine) -> None:
    """Control: the window counts distinct users, so repeating a small fix does not nag."""
    for _ in range(3):
        assert ask(engine, f"restart the gateway on {words(accounts(1, 5))}")["job"] is not None


def test_the_window_ends(engine: Engine) -> None:
    ask(engine, f"restart docker on {words(accounts(1, 10))}")
    with engine.store.session() as s:  # ten minutes and a bit later
        for rec in s.exec(select(PlanRecord).where(col(PlanRecord.status) == "confirmed")).all():
            rec.decided_at = utcnow() - timedelta(minutes=11)
            s.add(rec)
    assert ask(engine, "restart docker on acct-011")["job"] is not None


def test_an_operator_confirmation_resets_nothing_but_counts_nothing(engine: Engine) -> None:
    """What the operator confirmed is theirs; what ran unconfirmed still counts."""
    ask(engine, f"restart docker on {words(accounts(1, 10))}", session="s")
    out = ask(engine, "restart docker on acct-011", session="s")
    assert out["job"] is None
    assert ask(engine, "go", session="s")["job"] is not None
    before, ran = fleet(engine), len(jobs(engine))
    assert ask(engine, "restart docker on acct-012", session="s")["job"] is None
    nothing_ran(engine, before, ran)


# ----------------------------------------------------------------------------- destructive, whatever the size
@pytest.mark.parametrize(
    "message",
    [
        "tear down acct-021",
        "tear down acct-021 without archive",
        "delete acct-021, no archive",
        "tear down i-acct-021-s",
    ],
)
def test_destructive_one_user_changes_wait(engine: Engine, message: str) -> None:
    before = fleet(engine)
    out = ask(engine, message)
    plan = out["plan"]
    assert isinstance(plan, dict) and plan["requires_confirmation"] is True
    assert any(p["rule"] == "gate_destructive" and p["needs_human"] for p in plan["policy"])
    nothing_ran(engine, before)


def test_a_direct_tool_call_with_archive_off_waits(engine: Engine) -> None:
    before = fleet(engine)
    out = asyncio.run(engine.ask_tool("teardown", {"selector": {"accounts": ["acct-022"]}, "archive": False}))
    assert out.status == "planned" and out.plan is not None and out.plan.requires_confirmation
    nothing_ran(engine, before)


def test_encoded_teardown_still_waits(engine: Engine) -> None:
    """Fullwidth letters and zero-width spaces: whatever the parser makes of it, nothing is deleted unasked."""
    before = fleet(engine)
    asyncio.run(engine.ask("ｔｅａｒ\u200b ｄｏｗｎ acct-023 and tear\u200d down acct-024"))
    nothing_ran(engine, before)


# ----------------------------------------------------------------------------- who confirms what
def _pending(engine: Engine, message: str, session: str, operator: str | None = None) -> str:
    out = asyncio.run(engine.ask(message, session=session, operator=operator)).to_contract()
    plan = out["plan"]
    assert isinstance(plan, dict) and plan["status"] == "pending"
    return str(plan["id"])


def test_go_in_another_session_confirms_nothing(engine: Engine) -> None:
    _pending(engine, "tear down acct-025", "a")
    before = fleet(engine)
    out = ask(engine, "go", session="b")
    assert "nothing waiting" in str(out["reply"])
    nothing_ran(engine, before)


def test_confirm_with_another_sessions_plan_id_is_refused(engine: Engine) -> None:
    plan_id = _pending(engine, "tear down acct-025", "a")
    before = fleet(engine)
    with pytest.raises(PolicyRefusal, match="another conversation"):
        asyncio.run(engine.ops.confirm(engine.caller(), plan_id, session_key=f"{engine.caller().operator_id}:b"))
    nothing_ran(engine, before)


def test_confirm_from_another_operator_is_refused(engine: Engine) -> None:
    plan_id = _pending(engine, "tear down acct-026", "a")
    before = fleet(engine)
    alice = engine.caller("alice")
    with pytest.raises(NotFound):
        asyncio.run(engine.ops.confirm(alice, plan_id))
    out = asyncio.run(engine.ask("go", session="a", operator="alice")).to_contract()
    assert "nothing waiting" in str(out["reply"])
    nothing_ran(engine, before)


def test_confirm_of_a_scope_not_shown_is_refused(engine: Engine) -> None:
    plan_id = _pending(engine, "tear down acct-027", "a")
    other = _pending(engine, "tear down acct-028", "z")
    before = fleet(engine)
    wrong = engine.ops.pending_plan(engine.caller(), other).scope
    with pytest.raises(PolicyRefusal, match="not the plan you were shown"):
        asyncio.run(engine.ops.confirm(engine.caller(), plan_id, shown_scope=wrong))
    nothing_ran(engine, before)


def test_a_plan_whose_targets_were_changed_after_it_was_shown_is_refused(engine: Engine) -> None:
    plan_id = _pending(engine, "tear down acct-029", "a")
    with engine.store.session() as s:  # someone with store access widens the plan behind the operator's back
        rec = s.get(PlanRecord, plan_id)
        assert rec is not None
        rec.targets = [*rec.targets, "i-acct-030-p", "i-acct-030-s"]
        s.add(rec)
    before = fleet(engine)
    out = ask(engine, "go", session="a")
    assert "not the plan you were shown" in str(out["reply"])
    nothing_ran(engine, before)


def test_a_model_can_neither_confirm_nor_pass_confirmed(engine: Engine) -> None:
    plan_id = _pending(engine, "tear down acct-031", "a")
    model = dataclasses.replace(engine.caller(), agent="commander")
    before = fleet(engine)
    with pytest.raises(PolicyRefusal, match="only the operator"):
        asyncio.run(engine.ops.confirm(model, plan_id))
    out = asyncio.run(
        engine.ops.call(
            model, "restart", {"selector": {"accounts": ["acct-032"]}, "component": "gateway"}, confirmed=True
        )
    )
    assert out.status == "planned" and out.plan is not None and out.plan.requires_confirmation
    nothing_ran(engine, before)


def test_go_after_cancel_and_a_second_go_run_nothing(engine: Engine) -> None:
    _pending(engine, "tear down acct-033", "a")
    ask(engine, "cancel", session="a")
    before = fleet(engine)
    assert ask(engine, "go", session="a")["job"] is None
    _pending(engine, "tear down acct-034", "a")
    ask(engine, "go", session="a")
    before, ran = fleet(engine), len(jobs(engine))
    assert ask(engine, "go", session="a")["job"] is None
    nothing_ran(engine, before, ran)


def test_a_confirmed_plan_cannot_be_replayed(engine: Engine) -> None:
    plan_id = _pending(engine, "tear down acct-035", "a")
    ask(engine, "go", session="a")
    before, ran = fleet(engine), len(jobs(engine))
    with pytest.raises(ClawOpsError, match="confirmed"):
        asyncio.run(engine.ops.confirm(engine.caller(), plan_id))
    nothing_ran(engine, before, ran)


def test_dry_run_plans_are_never_confirmable(engine: Engine) -> None:
    before = fleet(engine)
    ask(engine, f"tear down {words(accounts(1, 12))}", session="a", dry_run=True)
    assert ask(engine, "go", session="a")["job"] is None
    nothing_ran(engine, before)
