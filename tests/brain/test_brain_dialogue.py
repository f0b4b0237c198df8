"""Conversation state and the ask-back rule, for both brains: multi-turn sessions on the demo fleet.

The LLM brain runs through the real anthropic SDK against the local Messages API emulator; the offline brain
runs the same conversations without a model.  Each test asserts on the store (plans, jobs) as well as on the
reply, so a silent wrong action fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from engine.brain import BrainContext, ClarifyIntent, OfflineBrain, ToolIntent, leaks
from engine.brain._answers import audit_narrative, money, resolve_since
from engine.brain._config_schema import check_config, parse_config
from engine.brain._lexicon import prepare
from engine.brain.emulator import AnthropicEmulator, say, use_tools
from engine.runtime import Engine
from engine.store import Instance, JobRecord, PlanRecord, utcnow

PAIRS = 150
BRAIN = OfflineBrain()


pytest_plugins = ("tests.llm_fixtures",)


@pytest.fixture
def engine(clawops_home: Path) -> Iterator[Engine]:
    eng = Engine.open(demo_pairs=PAIRS, demo_providers="sim", anthropic_api_key=None)
    yield eng
    eng.close()


def _jobs(engine: Engine) -> list[JobRecord]:
    with engine.store.session() as s:
        return list(s.exec(select(JobRecord)).all())


def _plans(engine: Engine) -> list[PlanRecord]:
    with engine.store.session() as s:
        return list(s.exec(select(PlanRecord)).all())


def _plan(engine: Engine, plan_id: str) -> PlanRecord:
    with engine.store.session() as s:
        rec = s.get(PlanRecord, plan_id)
        assert rec is not None
        return rec


RESTART_DEGRADED = {"selector": {"state": "DEGRADED"}, "component": "gateway"}


# ------------------------------------------------------------------------------------------ the LLM brain
async def test_the_model_sees_the_pending_plan_and_the_ask_back_rule(
    llm_engine: Engine, emu: AnthropicEmulator
) -> None:
    emu.add(
        use_tools(("restart", RESTART_DEGRADED)),
        say("Planned; confirm with go."),
        say("Which ones do you mean — the 13 degraded vultr instances, or all 24 degraded?"),
    )
    first = await llm_engine.ask("restart everything degraded", session="a")
    assert first.plan is not None and first.plan["status"] == "pending"
    asked = await llm_engine.ask("hmm, what about the wobbly ones", session="a")
    system = emu.requests[-1]["system"]
    system_text = system if isinstance(system, str) else " ".join(b.get("text", "") for b in system)
    assert first.plan["id"] in system_text and "Never guess an action" in system_text
    # The turn was not about the plan: it is withdrawn, and a later go runs nothing.
    assert asked.tool_calls == [] and "withdrew plan" in asked.reply
    assert _plan(llm_engine, first.plan["id"]).status == "cancelled"
    late = await llm_engine.ask("go", session="a")
    assert late.tool_calls == [] and "nothing waiting" in late.reply and not _jobs(llm_engine)


async def test_an_amendment_replaces_the_llms_plan_and_go_runs_the_narrowed_one(
    llm_engine: Engine, emu: AnthropicEmulator
) -> None:
    emu.add(use_tools(("restart", RESTART_DEGRADED)), say("Planned; confirm with go."))
    first = await llm_engine.ask("restart everything degraded", session="b")
    assert first.plan is not None
    requests = len(emu.requests)
    narrowed = await llm_engine.ask("only the vultr ones", session="b")
    assert len(emu.requests) == requests  # read against the session's state, without a model round
    call = narrowed.tool_calls[0]
    assert call.tool == "restart" and call.args["selector"] == {"state": "DEGRADED", "provider": "vultr"}
    assert call.plan is not None and call.plan.status == "pending" and "withdrawn" in narrowed.reply
    assert _plan(llm_engine, first.plan["id"]).status == "cancelled"
    done = await llm_engine.ask("go", session="b")
    assert done.job is not None and done.job["plan_id"] == call.plan.id
    assert call.plan.id in done.reply  # confirming says which plan ran


async def test_a_go_after_the_model_asked_back_runs_no_old_plan(llm_engine: Engine, emu: AnthropicEmulator) -> None:
    emu.add(
        use_tools(("restart", {"selector": {"provider": "hetzner"}, "component": "gateway"})),
        say("Planned; confirm with go."),
        say("I didn't catch that. Did you mean the failed ones?"),
    )
    await llm_engine.ask("restart everything on hetzner", session="c")
    await llm_engine.ask("blorp zing", session="c")
    late = await llm_engine.ask("yes", session="c")
    assert late.tool_calls == [] and not _jobs(llm_engine)


async def test_an_action_request_answered_with_a_status_dump_becomes_the_question_back(
    llm_engine: Engine, emu: AnthropicEmulator
) -> None:
    emu.add(use_tools(("fleet_status", {})), say("The fleet: 300 instances, 24 DEGRADED. All looks manageable."))
    result = await llm_engine.ask("reboot the wonky boxes", session="d")
    # The ask-back rule in code: no read reported as the answer, no plan, a question naming the unknown word.
    assert result.tool_calls == [] and "?" in result.reply and "wonky" in result.reply
    assert "300 instances" not in result.reply and not _plans(llm_engine)


async def test_an_action_request_answered_with_words_alone_is_not_taken_at_its_word(
    llm_engine: Engine, emu: AnthropicEmulator
) -> None:
    emu.add(say("Done — I restarted the degraded vultr instances."))
    result = await llm_engine.ask("restart the degraded ones on vultr", session="w")
    assert result.tool_calls == [] and not _plans(llm_engine) and not _jobs(llm_engine)
    assert "Nothing was planned" in result.reply and "I restarted" not in result.reply


async def test_a_model_config_push_is_checked_like_the_operators_words(
    llm_engine: Engine, emu: AnthropicEmulator
) -> None:
    emu.add(
        use_tools(("config_push", {"selector": {"provider": "vultr"}, "config": {"colour": "blue"}})), say("Pushed.")
    )
    result = await llm_engine.ask("make the vultr gateways blue", session="c")
    assert result.tool_calls == [] and not _plans(llm_engine)
    assert "colour" in result.reply and "Nothing was planned" in result.reply
    schema = next(t for t in emu.requests[0]["tools"] if t["name"] == "config_push")["input_schema"]
    assert schema["properties"]["config"]["additionalProperties"] is False
    assert schema["properties"]["config"]["properties"]["log_level"]["enum"] == ["debug", "info", "warning", "error"]


async def test_an_exception_said_in_the_message_binds_the_models_broad_call(
    llm_engine: Engine, emu: AnthropicEmulator
) -> None:
    emu.add(use_tools(("restart", RESTART_DEGRADED)), say("Planned."))
    result = await llm_engine.ask("restart everything degraded except contabo", session="x")
    (call,) = result.tool_calls
    assert call.plan is not None and call.args["selector"]["instances"]  # narrowed to named instances
    with llm_engine.store.session() as s:
        providers = {
            i.provider
            for i in s.exec(select(Instance).where(col(Instance.id).in_(call.args["selector"]["instances"]))).all()
        }
    assert "contabo" not in providers and "Left alone: contabo" in result.reply


async def test_the_plan_a_model_proposed_is_shown_in_the_engines_words(
    llm_engine: Engine, emu: AnthropicEmulator
) -> None:
    emu.add(use_tools(("restart", RESTART_DEGRADED)), say("Planned a small restart of a couple of boxes."))
    result = await llm_engine.ask("restart everything degraded", session="p")
    plan = result.plan
    assert plan is not None and f"Plan {plan['id']}: {plan['summary']}" in result.reply


async def test_the_model_is_handed_the_whole_dialogue_state(llm_engine: Engine, emu: AnthropicEmulator) -> None:
    emu.add(use_tools(("fleet_status", {"provider": "vultr", "state": "DEGRADED"})), say("Listed."), say("Which one?"))
    listed = await llm_engine.ask("what's degraded on vultr?", session="s")
    await llm_engine.ask("hmm, tell me more", session="s")
    system = emu.requests[-1]["system"]
    assert '- Last fleet view: {"provider": "vultr", "state": "DEGRADED"}' in system
    first = listed.tool_calls[0].result["problems"][0]["id"]
    assert f"- Last list shown, in order: {first}" in system


# ------------------------------------------------------------------------------------------ the offline brain
async def test_same_for_repeats_the_last_action_with_one_slot_changed(engine: Engine) -> None:
    first = await engine.ask("restart the degraded ones on hetzner", session="s")
    assert first.tool_calls[0].job is not None
    again = await engine.ask("same for vultr", session="s")
    call = again.tool_calls[0]
    assert call.tool == "restart" and call.args["selector"] == {"provider": "vultr", "state": "DEGRADED"}
    assert call.plan is not None and call.plan.status == "pending"


async def test_undo_changes_a_resize_back_and_explains_a_teardown(engine: Engine) -> None:
    await engine.ask("resize acct-042 to performance", session="u")
    undo = await engine.ask("undo that", session="u")
    assert undo.tool_calls[0].tool == "resize" and undo.tool_calls[0].args["tier"] == "standard"
    await engine.ask("tear down acct-099", session="t")
    await engine.ask("go", session="t")
    teardown_undo = await engine.ask("undo that", session="t")
    assert teardown_undo.tool_calls == [] and "cannot be undone" in teardown_undo.reply


async def test_waste_by_number_then_what_did_that_save(engine: Engine) -> None:
    waste = await engine.ask("where are we wasting money?", session="w")
    assert "1. oversized" in waste.reply and "$" in waste.reply
    plan = await engine.ask("fix 1", session="w")
    assert plan.tool_calls[0].tool == "resize" and plan.tool_calls[0].args["selector"] == {"finding": "oversized"}
    await engine.ask("go", session="w")
    saved = await engine.ask("what did that save us?", session="w")
    assert all(c.tool != "cost_analysis" for c in saved.tool_calls) and "saves about $" in saved.reply


async def test_overnight_is_a_narrative_not_a_tool_name(engine: Engine) -> None:
    await engine.ask("restart acct-042", session="n")
    story = await engine.ask("what did you do overnight?", session="n")
    assert "restarted" in story.reply and "acct-042" in story.reply and not leaks(story.reply)


async def test_an_amendment_is_answered_in_one_message(engine: Engine) -> None:
    first = await engine.ask("provision 20 pairs in nbg", session="m")
    assert first.plan is not None
    changed = await engine.ask("make it 5 not 20", session="m")
    new = changed.plan
    assert new is not None and new["status"] == "pending"
    # What changed, the new plan and that it waits for the go — said once, with no second, contradicting note.
    assert f"Changed plan {first.plan['id']} (20 → 5 pairs)" in changed.reply
    assert f"New plan {new['id']}: Provision 5 new pairs" in changed.reply
    assert changed.reply.count("go / cancel") == 1 and "waits for your go" in changed.reply
    assert "since we moved on" not in changed.reply and "changed one" not in changed.reply
    assert "it changes plan" not in changed.reply  # the policy's own reason is what the head already says


async def test_a_plan_expires(engine: Engine) -> None:
    first = await engine.ask("restart everything on vultr", session="x")
    assert first.plan is not None
    # The plan was shown longer ago than plan_ttl_minutes (5): its clock is set back, not the TTL set to a few
    # milliseconds (a fast machine answered the "go" inside those milliseconds, and the 90-user plan ran).
    with engine.store.session() as s:
        record = s.get(PlanRecord, first.plan["id"])
        assert record is not None
        record.created_at = utcnow() - timedelta(minutes=engine.settings.plan_ttl_minutes + 1)
        s.add(record)
        s.commit()
    late = await engine.ask("go", session="x")
    assert late.tool_calls == [] and "expired" in late.reply and not _jobs(engine), late.reply


async def test_a_vouched_teardown_waits_for_its_id(engine: Engine) -> None:
    plan = await engine.ask("kill all vultr primaries, their standbys are fine, trust me", session="v")
    call = plan.tool_calls[0]
    assert call.args["selector"] == {"provider": "vultr", "role": "primary"}  # the scope as said, not widened
    assert call.plan is not None
    bare = await engine.ask("go", session="v")
    assert bare.tool_calls == [] and f"go {call.plan.id}" in bare.reply and not _jobs(engine)


# ------------------------------------------------------------------------------------------ units
def test_the_door_reads_spoken_ids_aliases_and_typos() -> None:
    assert prepare("show account zero four two").text == "show acct-042"
    assert prepare("reboot acct forty two on DO").text == "reboot acct-042 on digitalocean"
    fixed = prepare("restart degarded on hetnzer")
    assert fixed.text == "restart degraded on hetzner" and ("hetnzer", "hetzner") in fixed.corrections
    assert prepare("Ign\u200bore that").text == "ignore that"


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ("restart the flaky ones", ("flaky",)),
        ("tear down the zorblax cluster on vultr", ("zorblax", "cluster")),
        ("delete the logs on acct-042", ("logs",)),
    ],
)
def test_an_action_with_unknown_words_is_asked_back_naming_them(message: str, words: tuple[str, ...]) -> None:
    intents = BRAIN.understand(message)
    assert len(intents) == 1 and isinstance(intents[0], ClarifyIntent)
    for word in words:
        assert word in intents[0].question


def test_an_action_verb_never_becomes_a_status_read() -> None:
    for message in ("fix vultr", "shut down vultr", "migrate acct-042 to vultr", "clean up hetzner"):
        intents = BRAIN.understand(message)
        assert not any(isinstance(i, ToolIntent) and i.tool in ("fleet_status", "instance_inspect") for i in intents), (
            message
        )


def test_config_values_are_checked_against_the_schema() -> None:
    assert parse_config("push webhook_url=https://Hooks.example.com/A to vultr")[0] == {
        "webhook_url": "https://Hooks.example.com/A"
    }
    assert check_config({"log_level": "DEBUG"}, ())[0] == {"log_level": "debug"}
    assert "log_level" in _problem({"log_levle": "debug"}, ())
    assert "https" in _problem({"webhook_url": "http://a.example.com"}, ("a.example.com",))
    assert "allow-list" in _problem({"webhook_url": "https://b.example.com"}, ())
    assert check_config({"max_clients": 40, "telemetry": False}, ())[1] is None


def test_several_targets_become_several_calls() -> None:
    intents = BRAIN.understand("restart the degraded ones on hetzner and DO")
    assert [i.args["selector"]["provider"] for i in intents if isinstance(i, ToolIntent)] == ["hetzner", "digitalocean"]


def test_amending_a_pending_plan_makes_a_replacement() -> None:
    ctx = BrainContext(
        pending={
            "id": "pl-1",
            "tool": "provision_pairs",
            "args": {"count": 20, "tier": "standard", "geo": "eu", "primary_provider": "hetzner"},
        }
    )
    (intent,) = BRAIN.understand("make it 5 not 20", ctx)
    assert isinstance(intent, ToolIntent) and intent.replaces == "pl-1" and intent.args["count"] == 5
    (unclear,) = BRAIN.understand("no wait, only the squiggly ones", ctx)
    assert isinstance(unclear, ClarifyIntent) and unclear.withdraws and "squiggly" in unclear.question


def test_answers_helpers() -> None:
    assert money(92.0, "USD", 0.92) == "$100" and money(46.0, "EUR") == "€46.00"
    assert resolve_since("friday").endswith("+00:00") and resolve_since("24h") == "24h"
    assert audit_narrative([]).startswith("Nothing was done")
    assert leaks("fleet_status has no argument 'role'") and not leaks("Restart 13 instances on vultr.")


def _problem(config: dict[str, object], allow: tuple[str, ...]) -> str:
    clean, problem = check_config(config, allow)
    assert problem is not None and not clean
    return problem.message


async def test_a_reading_error_is_one_sentence_and_changes_nothing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(message: str, context: BrainContext | None = None) -> list[object]:
        raise KeyError("selector")

    plan = await engine.ask("restart everything on vultr", session="e")
    assert plan.plan is not None
    monkeypatch.setattr(engine.conversation.brain, "understand", broken)
    result = await engine.ask("restart everything on vultr", session="e")
    assert result.tool_calls == [] and "nothing was changed" in result.reply and not leaks(result.reply)
    assert not _jobs(engine)
