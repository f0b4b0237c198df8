"""Slash commands: the registry, the completion overlay, and what each command does."""

from __future__ import annotations

from app import slash
from app.chat import AgentMessage, ChatApp, ErrorNote, SystemNote, UserMessage
from app.widgets import SlashComplete


async def _settle(pilot, app: ChatApp) -> None:
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


async def test_slash_opens_the_completer_without_moving_the_transcript(scripted) -> None:
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


async def test_tab_and_arrows_pick_a_command(scripted) -> None:
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


async def test_enter_on_a_partial_command_completes_then_runs(scripted) -> None:
    app = ChatApp(scripted())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("slash", "h", "e", "enter")
        await _settle(pilot, app)
        (note,) = _notes(app)
        assert "Commands:" in note and "/status" in note and "ctrl+j" in note
        assert not app.query(UserMessage)


async def test_commands_that_take_an_argument_wait_for_it(scripted) -> None:
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


async def test_brief_and_silence_become_requests_to_the_team(scripted) -> None:
    client = scripted()
    app = ChatApp(client)
    async with app.run_test(size=(80, 24)) as pilot:
        for text in ("/brief", "/brief weekly", "/silence eu-hetzner-nbg1 60", "/silence"):
            app.prompt.text = text
            await pilot.press("escape", "enter")
            await _settle(pilot, app)
        assert client.asked == ["brief me", "weekly briefing", "silence alerts on eu-hetzner-nbg1 for 60 minutes"]
        (error,) = app.query(ErrorNote)
        assert "Say what to silence" in str(error.render())


def test_silence_words() -> None:
    assert slash.silence_request("vultr for 2 hours") == "silence alerts vultr for 2 hours"
    assert slash.silence_request("  ") is None


async def test_unknown_command_is_a_note_not_a_request(scripted) -> None:
    client = scripted()
    app = ChatApp(client)
    async with app.run_test(size=(80, 24)) as pilot:
        app.prompt.text = "/restart-all"
        await pilot.press("enter")
        await _settle(pilot, app)
        (note,) = app.query(ErrorNote)
        assert "no /restart-all command" in str(note.render())
        assert client.asked == []


async def test_status_asks_for_fleet_status(client) -> None:
    app = ChatApp(client)
    async with app.run_test(size=(100, 30)) as pilot:
        app.prompt.text = "/status"
        await pilot.press("enter")
        await _settle(pilot, app)
        assert [str(w.render()) for w in app.query(UserMessage)] == ["/status"]
        (reply,) = app.query(AgentMessage)
        assert str(reply.render()).startswith("[CMD] DEMO fleet: 120 instances")


async def test_jobs_lists_the_fleets_jobs(client) -> None:
    app = ChatApp(client)
    async with app.run_test(size=(100, 30)) as pilot:
        for text in ("/jobs", "restart everything on hetzner", "go", "/jobs"):
            app.prompt.text = text
            await pilot.press("escape", "enter")
            await _settle(pilot, app)
        replies = [m.reply for m in app.query(AgentMessage)]
        assert replies[0].startswith("[CMD] No jobs yet")
        assert "No job is running now." in replies[-1] and "restart succeeded: 37/37 done" in replies[-1]


async def test_copy_and_quit(scripted) -> None:
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


async def test_tab_right_behind_the_typing_completes(scripted) -> None:
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
