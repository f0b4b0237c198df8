"""Slash commands: the registry, the completion overlay, and what each command does."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from app import slash
from app.chat import AgentMessage, ChatApp, ErrorNote, SystemNote, UserMessage
from app.widgets import SlashComplete
from engine.client import ToolCall
from evals.stores import fresh_store

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from textual.pilot import Pilot

    from engine.brain import BrainContext, Intent
    from engine.client import EmbeddedClient
    from engine.operations import ToolOutcome
    from engine.policy import Caller
    from tests.app.conftest import ScriptedClient


@pytest.fixture
def clawops_home(clawops_home: Path) -> Path:
    """The isolated home, with a new empty store already in it (migrated once per process: evals/stores.py)."""
    fresh_store(clawops_home / "clawops.db")
    return clawops_home


async def _settle(pilot: Pilot[None], app: ChatApp) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def _notes(app: ChatApp) -> list[str]:
    return [str(w.render()) for w in app.query(SystemNote)][1:]  # skip the welcome note


def test_registry_parse_complete_lookup() -> None:
    assert slash.parse("/voice  note.ogg ") == ("voice", "note.ogg")
    assert slash.parse("/STATUS") == ("status", "")
    assert slash.parse("fleet status") is None
    assert slash.parse("/a\nb") is None
    assert [c.name for c in slash.complete("/")] == [c.name for c in slash.COMMANDS]
    assert [c.name for c in slash.complete("/s")] == ["status", "silence"]
    assert slash.complete("/status now") == []
    assert slash.complete("status") == []
    assert slash.lookup("exit") is slash.lookup("quit")
    assert slash.lookup("nope") is None
    names = [c.name for c in slash.COMMANDS]
    assert len(names) == len(set(names))
    assert {"status", "jobs", "voice", "silence", "brief", "help", "quit", "find"} <= set(names)


async def test_slash_opens_the_completer_without_moving_the_transcript(scripted: type[ScriptedClient]) -> None:
    app = ChatApp(scripted())
    async with app.run_test(size=(80, 24)) as pilot:
        transcript = app.transcript
        before = transcript.region
        completer = app.query_one(SlashComplete)
        assert not completer.display
        await pilot.press("slash")
        await pilot.pause()
        assert completer.display
        assert len(completer.commands) == len(slash.COMMANDS)
        assert transcript.region == before
        assert completer.region.bottom <= app.prompt.region.y  # floats above the prompt
        await pilot.press("s", "t")
        await pilot.pause()
        assert [c.name for c in completer.commands] == ["status"]
        await pilot.press("escape")
        await pilot.pause()
        assert not completer.display
        assert app.prompt.text == "/st"


async def test_tab_and_arrows_pick_a_command(scripted: type[ScriptedClient]) -> None:
    app = ChatApp(scripted())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("slash", "down")
        await pilot.pause()
        completer = app.query_one(SlashComplete)
        assert completer.selected is not None and completer.selected.name == "jobs"
        await pilot.press("tab")
        await pilot.pause()
        assert app.prompt.text == "/jobs"
        assert not completer.display


async def test_enter_on_a_partial_command_completes_then_runs(scripted: type[ScriptedClient]) -> None:
    app = ChatApp(scripted())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("slash", "h", "e", "enter")
        await _settle(pilot, app)
        (note,) = _notes(app)
        assert "Commands:" in note and "/status" in note and "ctrl+j" in note
        assert not app.query(UserMessage)


async def test_commands_that_take_an_argument_wait_for_it(scripted: type[ScriptedClient]) -> None:
    client = scripted()
    app = ChatApp(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("slash", "v", "o", "enter")
        await pilot.pause()
        assert app.prompt.text == "/voice "
        await pilot.press(*"note.ogg", "enter")
        await _settle(pilot, app)
        (error,) = app.query(ErrorNote)
        assert "There is no audio file at note.ogg" in str(error.render())
        assert client.asked == []


async def test_brief_silence_status_and_jobs_are_sent_as_tool_calls(scripted: type[ScriptedClient]) -> None:
    """The client gets the tool and its arguments, never English to be read back; the typed text rides along
    only as what the operator said (history, the transcript)."""
    client = scripted()
    app = ChatApp(client)
    typed = (
        "/brief",
        "/brief weekly",
        "/silence eu-hetzner-nbg1 60",
        "/silence vultr DEGRADED 2h",
        "/status vultr",
        "/jobs",
    )
    async with app.run_test(size=(80, 24)) as pilot:
        for text in typed:
            app.prompt.text = text
            await pilot.press("escape", "enter")
            await _settle(pilot, app)
        assert client.asked == list(typed)
        assert client.called == [
            ToolCall("briefing", {"kind": "daily"}),
            ToolCall("briefing", {"kind": "weekly"}),
            ToolCall("silence_alerts", {"selector": {"region": "eu-hetzner-nbg1"}, "minutes": 60}),
            ToolCall("silence_alerts", {"selector": {"provider": "vultr", "state": "DEGRADED"}, "minutes": 120}),
            ToolCall("fleet_status", {"provider": "vultr"}),
            ToolCall("job_status", {}),
        ]
        assert [str(w.render()) for w in app.query(UserMessage)] == list(typed)  # one widget per message
        assert not app.query(ErrorNote)


async def test_a_command_typed_wrong_is_a_note_and_sends_nothing(scripted: type[ScriptedClient]) -> None:
    client = scripted()
    app = ChatApp(client)
    async with app.run_test(size=(80, 24)) as pilot:
        for text in ("/silence", "/silence vultr for ages", "/silence hetznr 60", "/status acct-042"):
            app.prompt.text = text
            await pilot.press("escape", "enter")
            await _settle(pilot, app)
        assert client.asked == []
        notes = [str(w.render()) for w in app.query(ErrorNote)]
        assert len(notes) == 4
        assert "Say what to silence" in notes[0]
        assert "for how many minutes" in notes[1]
        assert "'hetznr' is not a provider, region" in notes[2]  # a typo is never a wider match
        assert "not by accounts" in notes[3]
        assert not app.query(UserMessage)


def test_tool_calls_of_the_registry() -> None:
    assert slash.tool_call("copy", "") is None  # the chat's own commands call no tool
    assert slash.tool_call("jobs", "job-1") == ToolCall("job_status", {"job_id": "job-1"})
    assert slash.tool_call("silence", "acct-042 i-acct-043-p 15m") == ToolCall(
        "silence_alerts", {"selector": {"accounts": ["acct-042"], "instances": ["i-acct-043-p"]}, "minutes": 15}
    )
    assert set(slash.CALLS) <= {c.name for c in slash.COMMANDS}


class _Recorder:
    """What reaches the operation layer: every ``Operations.call`` of the engine (tool, arguments)."""

    def __init__(self, client: EmbeddedClient) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        ops = client.engine.ops
        real = ops.call

        async def call(caller: Caller, tool: str, args: Mapping[str, Any], **kw: Any) -> ToolOutcome:
            self.calls.append((tool, dict(args)))
            return await real(caller, tool, args, **kw)

        ops.call = call  # type: ignore[method-assign]  # a recorder wraps the engine's own call
        brain = client.engine.conversation.brain

        def understand(message: str, context: BrainContext | None = None) -> list[Intent]:
            raise AssertionError(f"a slash command was read as words: {message!r}")

        self.restore: Callable[[], None] = lambda: setattr(brain, "understand", type(brain).understand.__get__(brain))
        brain.understand = understand  # type: ignore[method-assign]  # no brain may read a slash command


async def test_slash_calls_reach_the_operation_layer_as_sent(client: EmbeddedClient) -> None:
    """Through the real embedded engine: the operation layer gets exactly the tool and arguments; no brain reads
    the command; the answers are the team's usual ones."""
    seen = _Recorder(client)
    app = ChatApp(client)
    async with app.run_test(size=(100, 30)) as pilot:
        for text in ("/status DEGRADED", "/silence eu-hetzner-nbg1 45", "/brief weekly"):
            app.prompt.text = text
            await pilot.press("escape", "enter")
            await _settle(pilot, app)
        assert seen.calls == [
            ("fleet_status", {"state": "DEGRADED"}),
            ("silence_alerts", {"selector": {"region": "eu-hetzner-nbg1"}, "minutes": 45}),
            ("briefing", {"kind": "weekly"}),
        ]
        replies = [m.reply for m in app.query(AgentMessage)]
        assert len(replies) == 3
        assert replies[0].startswith("[CMD]") and "DEGRADED" in replies[0]
        assert "[Guardian] Done: job job-" in replies[1]  # one instance: it ran, as the words would have
        assert "[Briefer]" in replies[2]


async def test_a_slash_call_plans_and_waits_for_go_like_words(client: EmbeddedClient) -> None:
    """Policy, plans and confirmation are the operation layer's: a /silence over the threshold waits for "go",
    and "go" (the operator's own words) runs it."""
    seen = _Recorder(client)
    app = ChatApp(client)
    async with app.run_test(size=(100, 30)) as pilot:
        app.prompt.text = "/silence hetzner 30"
        await pilot.press("escape", "enter")
        await _settle(pilot, app)
        assert seen.calls == [("silence_alerts", {"selector": {"provider": "hetzner"}, "minutes": 30})]
        card = app.pending_card
        assert card is not None  # 37 instances > 10 users: the plan waits
        seen.restore()  # "go" is words: the brain reads it
        app.prompt.text = "go"
        await pilot.press("escape", "enter")
        await _settle(pilot, app)
        assert not card.is_pending
        assert app.pending_card is None


async def test_unknown_command_is_a_note_not_a_request(scripted: type[ScriptedClient]) -> None:
    client = scripted()
    app = ChatApp(client)
    async with app.run_test(size=(80, 24)) as pilot:
        app.prompt.text = "/restart-all"
        await pilot.press("enter")
        await _settle(pilot, app)
        (note,) = app.query(ErrorNote)
        assert "no /restart-all command" in str(note.render())
        assert client.asked == []


async def test_status_asks_for_fleet_status(client: EmbeddedClient) -> None:
    app = ChatApp(client)
    async with app.run_test(size=(100, 30)) as pilot:
        app.prompt.text = "/status"
        await pilot.press("enter")
        await _settle(pilot, app)
        assert [str(w.render()) for w in app.query(UserMessage)] == ["/status"]
        (reply,) = app.query(AgentMessage)
        assert str(reply.render()).startswith("[CMD] DEMO fleet: 120 instances")


async def test_jobs_lists_the_fleets_jobs(client: EmbeddedClient) -> None:
    app = ChatApp(client)
    async with app.run_test(size=(100, 30)) as pilot:
        for text in ("/jobs", "restart everything on hetzner", "go", "/jobs"):
            app.prompt.text = text
            await pilot.press("escape", "enter")
            await _settle(pilot, app)
        replies = [m.reply for m in app.query(AgentMessage)]
        assert replies[0].startswith("[CMD] No jobs yet")
        assert "No job is running now." in replies[-1] and "restart succeeded: 37/37 done" in replies[-1]


async def test_copy_and_quit(scripted: type[ScriptedClient]) -> None:
    app = ChatApp(scripted(reply="[CMD] Copy me."))
    async with app.run_test(size=(80, 24)) as pilot:
        app.prompt.text = "ask"
        await pilot.press("enter")
        await _settle(pilot, app)
        app.prompt.text = "/copy"
        await pilot.press("enter")
        await _settle(pilot, app)
        assert app.clipboard == "[CMD] Copy me."
        app.prompt.text = "/quit"
        await pilot.press("enter")
        await pilot.pause()
    assert app.return_code == 0


async def test_tab_right_behind_the_typing_completes(scripted: type[ScriptedClient]) -> None:
    """In one burst ("/st" then Tab), the list is already there when Tab arrives."""
    from textual import events

    app = ChatApp(scripted())
    async with app.run_test(size=(80, 24)) as pilot:
        for key in ("slash", "s", "t", "tab"):
            app.post_message(events.Key(key, "/" if key == "slash" else (key if len(key) == 1 else None)))
        await pilot.pause()
        await pilot.pause()
        assert app.prompt.text == "/status"
        assert app.focused is app.prompt


def test_silence_reads_the_durations_and_location_codes_people_type() -> None:
    """``/silence hetzner nbg for 2 hours`` is what a tired operator types; it means one region for 120 minutes."""
    cases = {
        "eu-hetzner-nbg1 60": ({"region": "eu-hetzner-nbg1"}, 60),
        "hetzner nbg for 2 hours": ({"provider": "hetzner", "region": "eu-hetzner-nbg1"}, 120),
        "vultr fra 90 minutes": ({"provider": "vultr", "region": "eu-vultr-fra"}, 90),
        "digitalocean fra1 2h": ({"provider": "digitalocean", "region": "eu-digitalocean-fra1"}, 120),
        "nbg 30m": ({"region": "eu-hetzner-nbg1"}, 30),
    }
    for arg, (selector, minutes) in cases.items():
        assert slash.CALLS["silence"](arg) == ToolCall("silence_alerts", {"selector": selector, "minutes": minutes})


def test_silence_names_the_candidates_of_an_ambiguous_location_and_wants_a_duration() -> None:
    for arg, said in (
        ("fra 20", "eu-digitalocean-fra1 or eu-vultr-fra"),
        ("vultr", "how many minutes"),
        ("60", "how many minutes"),
        ("vultr frankfrut 20", "'frankfrut' is not"),
    ):
        try:
            slash.CALLS["silence"](arg)
        except slash.SlashUsage as usage:
            assert said in str(usage), (arg, str(usage))
        else:
            raise AssertionError(f"/silence {arg} was accepted")
