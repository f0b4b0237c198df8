"""Keys: every binding has an id (remappable) and a tooltip; F1 help; F2 copies over OSC 52."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from textual.binding import Binding
from textual.dom import DOMNode

from app.chat import ChatApp
from app.widgets import Flash, PlanCard, Prompt

if TYPE_CHECKING:
    from pathlib import Path

    from tests.app.conftest import ScriptedClient


@pytest.mark.parametrize("owner", [ChatApp, Prompt, PlanCard])
def test_every_binding_has_an_id_and_a_tooltip(owner: type[DOMNode]) -> None:
    bindings = [b for b in owner.BINDINGS if isinstance(b, Binding)]
    assert len(bindings) == len(owner.BINDINGS)
    for binding in bindings:
        assert binding.id, f"{owner.__name__} {binding.key} has no id"
        assert binding.tooltip, f"{owner.__name__} {binding.key} has no tooltip"


def test_binding_ids_are_unique() -> None:
    ids = [b.id for owner in (ChatApp, Prompt, PlanCard) for b in owner.BINDINGS if isinstance(b, Binding)]
    assert len(ids) == len(set(ids))


async def test_f1_toggles_the_help_panel(scripted: type[ScriptedClient]) -> None:
    app = ChatApp(scripted())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        (panel,) = app.screen.query("HelpPanel")
        assert "ctrl+j" in Prompt.HELP
        await pilot.press("f1")
        await pilot.pause()
        assert not app.screen.query("HelpPanel")
        assert app.focused is app.prompt


async def test_keys_can_be_remapped_by_id(scripted: type[ScriptedClient]) -> None:
    app = ChatApp(scripted())
    async with app.run_test(size=(100, 30)) as pilot:
        app.set_keymap({"app.help": "f12"})
        await pilot.press("f1")
        await pilot.pause()
        assert not app.screen.query("HelpPanel")
        await pilot.press("f12")
        await pilot.pause()
        assert app.screen.query("HelpPanel")


async def test_f2_copies_the_last_reply(scripted: type[ScriptedClient]) -> None:
    app = ChatApp(scripted(reply="[CMD] The answer."))
    async with app.run_test(size=(80, 20)) as pilot:
        flash = app.query_one(Flash)
        await pilot.press("f2")
        await pilot.pause()
        assert "Nothing to copy" in str(flash.render())
        await pilot.press(*"q", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("f2")
        await pilot.pause()
        assert app.clipboard == "[CMD] The answer."
        assert flash.display and "Copied the last reply" in str(flash.render())


async def test_double_click_copies_a_message(scripted: type[ScriptedClient]) -> None:
    from app.chat import AgentMessage, UserMessage

    app = ChatApp(scripted(reply="[CMD] Two words."))
    async with app.run_test(size=(80, 20)) as pilot:
        await pilot.press(*"question", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.double_click(AgentMessage)
        await pilot.pause()
        assert app.clipboard == "[CMD] Two words."
        await pilot.double_click(UserMessage)
        await pilot.pause()
        assert app.clipboard == "question"


async def test_keymap_from_settings_is_applied(scripted: type[ScriptedClient]) -> None:
    app = ChatApp(scripted(), keymap={"app.help": "f12"})
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f12")
        await pilot.pause()
        assert app.screen.query("HelpPanel")


async def test_unexpected_errors_go_to_the_log_file(scripted: type[ScriptedClient], tmp_path: Path) -> None:
    from app.chat import ErrorNote

    log_path = tmp_path / "chat.log"
    app = ChatApp(scripted(crash=RuntimeError("socket closed")), log_path=log_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*"hi", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        (note,) = app.query(ErrorNote)
        assert str(log_path) in str(note.render())
    assert "RuntimeError: socket closed" in log_path.read_text()
