"""The transcript: one widget per message, agent tags, Markdown, errors as notes, pruning, following."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.chat import AgentMessage, ChatApp, ErrorNote, SystemNote, UserMessage
from app.widgets import TrimNote
from app.widgets.transcript import USER_MESSAGE_LIMIT, hard_breaks, split_tag

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from engine.client import EmbeddedClient
    from tests.app.conftest import ScriptedClient


async def _say(pilot: Pilot[None], app: ChatApp, text: str) -> None:
    app.prompt.text = text
    await pilot.press("enter")
    await app.workers.wait_for_complete()
    await pilot.pause()


def test_split_tag_and_hard_breaks() -> None:
    assert split_tag("[CMD] Done.") == ("CMD", "Done.")
    assert split_tag("[Forge] a\nb") == ("Forge", "a\nb")
    assert split_tag("no tag") == ("", "no tag")
    assert hard_breaks("one\ntwo\n\nthree") == "one  \ntwo\n\nthree"
    assert hard_breaks("```\nx = 1\ny = 2\n```") == "```\nx = 1\ny = 2\n```"


async def test_reply_is_one_tagged_markdown_widget(client: EmbeddedClient) -> None:
    app = ChatApp(client)
    async with app.run_test(size=(100, 30)) as pilot:
        await _say(pilot, app, "fleet status")
        (reply,) = app.query(AgentMessage)
        assert str(reply.render()).startswith("[CMD] DEMO fleet: 120 instances")
        assert reply.has_class("-commander")
        assert reply.region.height > 3  # one fact per line survives the Markdown rendering
        assert app.last_reply == reply.reply


async def test_agent_tags_pick_the_colour_class(scripted: type[ScriptedClient]) -> None:
    app = ChatApp(scripted(reply="[Forge] Provisioning **4/20** ACTIVE."))
    async with app.run_test(size=(80, 20)) as pilot:
        await _say(pilot, app, "provision")
        (reply,) = app.query(AgentMessage)
        assert reply.has_class("-forge")


async def test_failed_turn_is_a_note_with_a_next_step(scripted: type[ScriptedClient]) -> None:
    app = ChatApp(scripted(fail="The fleet store is not reachable."))
    async with app.run_test(size=(80, 20)) as pilot:
        await _say(pilot, app, "fleet status")
        (note,) = app.query(ErrorNote)
        assert note.problem == "The fleet store is not reachable."
        assert "Try again" in str(note.render())
        assert not app.query(AgentMessage)


async def test_a_crashing_engine_does_not_take_the_chat_down(scripted: type[ScriptedClient]) -> None:
    client = scripted(crash=RuntimeError("connection reset"))
    app = ChatApp(client)
    async with app.run_test(size=(80, 20)) as pilot:
        await _say(pilot, app, "fleet status")
        (note,) = app.query(ErrorNote)
        assert "connection reset" in note.problem
        assert app.is_running
        client.crash = None
        await _say(pilot, app, "again")
        assert len(app.query(AgentMessage)) == 1


async def test_a_huge_paste_is_sent_whole_and_shown_clipped(scripted: type[ScriptedClient]) -> None:
    client = scripted()
    app = ChatApp(client)
    big = "x" * 1_000_000
    async with app.run_test(size=(80, 20)) as pilot:
        await _say(pilot, app, big)
        assert client.asked == [big]
        (shown,) = app.query(UserMessage)
        assert shown.text == big
        assert len(str(shown.render())) < USER_MESSAGE_LIMIT + 100


async def test_old_messages_are_pruned_past_the_high_water_mark(scripted: type[ScriptedClient]) -> None:
    app = ChatApp(scripted(), high_water=8, low_water=5)
    async with app.run_test(size=(80, 20)) as pilot:
        for n in range(5):
            await _say(pilot, app, f"message {n}")
        transcript = app.transcript
        assert len(transcript.messages) <= 8
        (trim,) = transcript.query(TrimNote)
        assert trim.count > 0
        assert transcript.children[0] is trim
        assert str(list(app.query(AgentMessage))[-1].render()) == "[CMD] Scripted reply."
        assert [str(m.render()) for m in app.query(UserMessage)][-1] == "message 4"


async def test_transcript_follows_and_lets_go_when_scrolled_up(scripted: type[ScriptedClient]) -> None:
    app = ChatApp(scripted(reply="[CMD] " + "\n".join(f"line {n}" for n in range(12))))
    async with app.run_test(size=(60, 16)) as pilot:
        transcript = app.transcript
        await _say(pilot, app, "one")
        await _say(pilot, app, "two")
        assert transcript.max_scroll_y > 0
        assert transcript.scroll_y == transcript.max_scroll_y
        transcript.scroll_home(animate=False, immediate=True)
        transcript.release_anchor()
        await pilot.pause()
        await _say(pilot, app, "three")
        assert transcript.scroll_y < transcript.max_scroll_y  # the operator is reading; don't yank them
        await pilot.press("ctrl+end")
        await pilot.pause()
        await _say(pilot, app, "four")
        assert transcript.scroll_y == transcript.max_scroll_y


async def test_welcome_note_says_demo(client: EmbeddedClient) -> None:
    app = ChatApp(client)
    async with app.run_test(size=(80, 20)):
        (note,) = app.query(SystemNote)
        assert "DEMO fleet" in str(note.render())


async def test_page_keys_scroll_the_transcript_from_the_prompt(scripted: type[ScriptedClient]) -> None:
    app = ChatApp(scripted(reply="[CMD] " + "\n".join(f"line {n}" for n in range(30))))
    async with app.run_test(size=(60, 16)) as pilot:
        await _say(pilot, app, "long")
        transcript = app.transcript
        assert transcript.scroll_y == transcript.max_scroll_y
        await pilot.press("shift+pageup")
        await pilot.pause()
        assert transcript.scroll_target_y < transcript.max_scroll_y
        assert app.focused is app.prompt
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert transcript.scroll_y == transcript.max_scroll_y
