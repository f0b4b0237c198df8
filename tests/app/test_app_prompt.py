"""The prompt: Enter sends, ctrl+j / shift+enter add a line, Up/Down walk history, stray keys find the prompt."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.chat import ChatApp, UserMessage
from app.widgets import Throbber

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from engine.client import EmbeddedClient
    from tests.app.conftest import ScriptedClient


async def _settle(pilot: Pilot[None], app: ChatApp) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def _users(app: ChatApp) -> list[str]:
    return [str(w.render()) for w in app.query(UserMessage)]


async def test_enter_sends_and_clears(scripted: type[ScriptedClient]) -> None:
    client = scripted()
    app = ChatApp(client)
    async with app.run_test(size=(80, 20)) as pilot:
        await pilot.press(*"hello", "enter")
        await _settle(pilot, app)
        assert client.asked == ["hello"]
        assert app.prompt.text == ""
        assert app.focused is app.prompt


async def test_blank_enter_sends_nothing(scripted: type[ScriptedClient]) -> None:
    client = scripted()
    app = ChatApp(client)
    async with app.run_test(size=(80, 20)) as pilot:
        await pilot.press("space", "enter", "enter")
        await _settle(pilot, app)
        assert client.asked == []
        assert not app.query(UserMessage)


async def test_ctrl_j_and_shift_enter_insert_newlines(scripted: type[ScriptedClient]) -> None:
    client = scripted()
    app = ChatApp(client)
    async with app.run_test(size=(80, 20)) as pilot:
        await pilot.press("a", "ctrl+j", "b", "shift+enter", "c")
        assert app.prompt.text == "a\nb\nc"
        assert client.asked == []
        await pilot.press("enter")
        await _settle(pilot, app)
        assert client.asked == ["a\nb\nc"]
        assert _users(app) == ["a\nb\nc"]


async def test_up_and_down_walk_the_history(scripted: type[ScriptedClient]) -> None:
    app = ChatApp(scripted())
    async with app.run_test(size=(80, 20)) as pilot:
        for text in ("first", "second"):
            await pilot.press(*text, "enter")
            await _settle(pilot, app)
        await pilot.press(*"draft")
        await pilot.press("up")
        assert app.prompt.text == "second"
        await pilot.press("up")
        assert app.prompt.text == "first"
        await pilot.press("up")
        assert app.prompt.text == "first"  # oldest stays
        await pilot.press("down")
        assert app.prompt.text == "second"
        await pilot.press("down")
        assert app.prompt.text == "draft"  # back to what was being typed
        await pilot.press("enter")
        await _settle(pilot, app)
        assert _users(app) == ["first", "second", "draft"]


async def test_up_inside_a_multiline_draft_moves_the_cursor(scripted: type[ScriptedClient]) -> None:
    app = ChatApp(scripted())
    async with app.run_test(size=(80, 20)) as pilot:
        await pilot.press(*"old", "enter")
        await _settle(pilot, app)
        await pilot.press("a", "ctrl+j", "b", "up")
        assert app.prompt.text == "a\nb"
        assert app.prompt.cursor_location[0] == 0


async def test_typing_elsewhere_goes_to_the_prompt(client: EmbeddedClient) -> None:
    app = ChatApp(client)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press(*"restart everything on hetzner", "enter")
        await _settle(pilot, app)
        app.query_one("#plan-cancel").focus()
        await pilot.pause()
        await pilot.press(*"fleet")
        assert app.focused is app.prompt
        assert app.prompt.text == "fleet"


async def test_messages_sent_while_busy_queue_in_order(scripted: type[ScriptedClient]) -> None:
    client = scripted()
    release = client.hold()
    app = ChatApp(client)
    async with app.run_test(size=(80, 20)) as pilot:
        await pilot.press(*"one", "enter")
        await pilot.press(*"two", "enter")
        await pilot.pause()
        throbber = app.query_one("#throbber", Throbber)
        assert throbber.display
        assert throbber.busy == 2
        assert "1 more queued" in str(throbber.render())
        release.set()
        await _settle(pilot, app)
        assert client.asked == ["one", "two"]
        assert not throbber.display
        assert _users(app) == ["one", "two"]


async def test_keys_arriving_in_one_burst_keep_their_order(scripted: type[ScriptedClient]) -> None:
    """A terminal delivers "fleet status\\r" (or a pasted line) in one read: Enter must not overtake the text."""
    from textual import events

    client = scripted()
    app = ChatApp(client)
    async with app.run_test(size=(80, 20)) as pilot:
        burst = [*"a", "ctrl+j", *"b", "shift+enter", *"c", "enter", *"second", "enter"]
        for key in burst:
            character = key if len(key) == 1 else ("\r" if key == "enter" else None)
            app.post_message(events.Key(key, character))
        await _settle(pilot, app)
        assert client.asked == ["a\nb\nc", "second"]
        assert app.prompt.text == ""
