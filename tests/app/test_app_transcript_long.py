"""A long session: 1,000 messages stay followable, scrolling up lets go, pruned history stays reachable.

Behaviour only: 1,000 messages is a dozen times the transcript's high-water mark, so pruning and
archiving cycle many times; the 5,000-message scale and its speed live in bench/bench_chat.py (this
machine is shared, so no timing is asserted here).
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

from textual.widget import Widget

from app.chat import AgentMessage, ChatApp, ErrorNote, PlanCard, SystemNote, UserMessage
from app.widgets import TrimNote
from app.widgets.transcript import Archived, Transcript, archive

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from tests.app.conftest import ScriptedClient

LONG = 1000


def _message(n: int) -> Widget:
    if n % 2 == 0:
        return UserMessage(f"question {n}")
    return AgentMessage(f"[Forge] answer {n}: **{n % 17}** ACTIVE.\n- one\n- two")


def _text(widget: Widget) -> str:
    return archive(widget).text


def _on_screen(transcript: Transcript, widget: Widget) -> bool:
    return widget.is_mounted and widget.region.overlaps(transcript.region)


async def _fill(pilot: Pilot[None], transcript: Transcript, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        await transcript.post(_message(n))
        if n % 200 == 0:
            await pilot.pause()
    await pilot.pause()


async def test_after_a_thousand_messages_the_newest_is_on_screen_and_followed(scripted: type[ScriptedClient]) -> None:
    app = ChatApp(scripted())  # the chat's own pruning marks
    async with app.run_test(size=(100, 30)) as pilot:
        transcript = app.transcript
        assert LONG > 10 * transcript.high_water
        await _fill(pilot, transcript, LONG)
        newest = transcript.messages[-1]
        assert _text(newest).startswith(f"[Forge] answer {LONG - 1}:")
        assert _on_screen(transcript, newest)
        assert transcript.following
        assert transcript.scroll_y == transcript.max_scroll_y
        assert len(transcript.messages) <= transcript.high_water
        # Nothing is lost: the welcome note plus every message, hidden or shown, in order.
        history = transcript.history
        assert len(history) == LONG + 1
        assert history[1] == "question 0" and history[-1].startswith(f"[Forge] answer {LONG - 1}:")
        await transcript.post(UserMessage("one more"))
        await pilot.pause()
        assert _on_screen(transcript, transcript.messages[-1])
        assert transcript.scroll_y == transcript.max_scroll_y


async def test_scrolling_up_stops_following_and_pruning_waits_for_the_reader(scripted: type[ScriptedClient]) -> None:
    app = ChatApp(scripted(), high_water=40, low_water=30)
    async with app.run_test(size=(80, 24)) as pilot:
        transcript = app.transcript
        await _fill(pilot, transcript, 200)
        assert transcript.following
        await pilot.press("shift+pageup", "shift+pageup")
        await pilot.pause()
        assert not transcript.following
        reading = transcript.scroll_y
        first_shown = transcript.messages[0]
        await _fill(pilot, transcript, 30, start=200)
        assert transcript.scroll_y == reading  # new output does not yank the reader down...
        assert transcript.messages[0] is first_shown  # ...nor prune what is above them
        assert len(transcript.messages) > transcript.high_water
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert transcript.following
        assert len(transcript.messages) == transcript.low_water  # caught up once following again
        await transcript.post(UserMessage("back at the end"))
        await pilot.pause()
        assert transcript.scroll_y == transcript.max_scroll_y
        assert _on_screen(transcript, transcript.messages[-1])


async def test_pruned_messages_are_archived_in_order_and_a_click_brings_them_back(
    scripted: type[ScriptedClient],
) -> None:
    app = ChatApp(scripted(), high_water=40, low_water=30)
    async with app.run_test(size=(80, 24)) as pilot:
        transcript = app.transcript
        await _fill(pilot, transcript, 120)
        hidden = len(transcript.archived)
        assert hidden > 0 and all(isinstance(entry, Archived) for entry in transcript.archived)
        assert [entry.text for entry in transcript.archived][1:4] == ["question 0", _text(_message(1)), "question 2"]
        (trim,) = transcript.query(TrimNote)
        assert transcript.children[0] is trim
        assert trim.count == hidden
        assert f"{hidden:,} earlier messages are hidden" in str(trim.render())

        transcript.scroll_home(animate=False, immediate=True)
        await pilot.pause()
        first_before = transcript.messages[0]
        newest_hidden = transcript.archived[-1].text
        await pilot.click(TrimNote)
        await app.workers.wait_for_complete()
        await pilot.pause()
        back = transcript.messages[: transcript.restore_batch]
        assert _text(back[-1]) == newest_hidden
        assert transcript.messages[transcript.restore_batch] is first_before
        assert len(transcript.archived) == hidden - transcript.restore_batch
        assert trim.count == len(transcript.archived)
        revived_reply = next(w for w in back if isinstance(w, AgentMessage))
        assert revived_reply.has_class("-forge")
        assert "ACTIVE" in str(revived_reply.render())

        while transcript.archived:  # every message ever posted can be brought back
            await transcript.show_earlier()
        await pilot.pause()
        assert not transcript.query(TrimNote)
        assert isinstance(transcript.messages[0], SystemNote)  # the welcome note, first as ever
        assert _text(transcript.messages[1]) == "question 0"
        assert len(transcript.messages) == 121


async def test_archived_messages_come_back_as_they_were(scripted: type[ScriptedClient]) -> None:
    app = ChatApp(scripted(), high_water=6, low_water=3)
    async with app.run_test(size=(80, 24)) as pilot:
        transcript = app.transcript
        refused = AgentMessage("[CMD] Refused: acct-042 belongs to another tenant.", classes="-refused")
        error = ErrorNote("The fleet store is not reachable.", "Try again.")
        big = UserMessage("x" * 10_000)
        await transcript.post(refused, error, big)
        await _fill(pilot, transcript, 8)
        assert len(transcript.archived) >= 4
        assert refused not in transcript.messages and big not in transcript.messages
        await transcript.show_earlier(len(transcript.archived))
        await pilot.pause()
        revived = {type(w): w for w in transcript.messages[1:4]}
        assert set(revived) == {AgentMessage, ErrorNote, UserMessage}
        again = revived[AgentMessage]
        assert isinstance(again, AgentMessage)
        assert again.has_class("-refused") and again.has_class("-commander")
        assert again.reply == refused.reply
        note = revived[ErrorNote]
        assert isinstance(note, ErrorNote) and note.problem == error.problem and "Try again." in str(note.render())
        user = revived[UserMessage]
        assert isinstance(user, UserMessage) and user.text == big.text  # the whole text, shown clipped as before


async def test_a_pending_plan_is_never_pruned_and_a_decided_one_comes_back_decided(demo: ScriptedClient) -> None:
    app = ChatApp(demo, high_water=8, low_water=4)
    async with app.run_test(size=(100, 30)) as pilot:
        transcript = app.transcript
        for text in ("restart everything on hetzner", "go", "restart everything on hetzner"):
            app.prompt.text = text
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
        await _fill(pilot, transcript, 20)
        pending = [card for card in app.query(PlanCard) if card.is_pending]
        assert len(pending) == 1  # still mounted, with its buttons, however long the session got
        decided = [entry for entry in transcript.archived if entry.text.startswith("Plan pl-0000a001")]
        assert len(decided) == 1 and "confirmed" in decided[0].text
        while transcript.archived:
            await transcript.show_earlier()
        await pilot.pause()
        cards = list(app.query(PlanCard))
        assert [card.is_pending for card in cards] == [False, True]
        assert cards[0].outcome is not None and "confirmed" in cards[0].outcome
        assert cards[0].has_class("-resolved")


async def test_a_reply_is_parsed_once_and_renders_the_same_each_time(scripted: type[ScriptedClient]) -> None:
    app = ChatApp(scripted(reply="[Forge] Provisioning **4/20** ACTIVE.\n\n- 11 BOOTSTRAPPING\n- 5 CREATING"))
    async with app.run_test(size=(80, 24)) as pilot:
        app.prompt.text = "provision"
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        (reply,) = app.query(AgentMessage)
        first = reply.render()
        assert reply.render() is first  # the Markdown is not parsed again per render
        lines = [strip.text for strip in reply.render_lines(reply.region.reset_offset)]
        assert any("4/20" in line for line in lines) and any("BOOTSTRAPPING" in line for line in lines)
        assert not any("**" in line for line in lines)  # rendered as Markdown, not shown raw
        await pilot.resize_terminal(50, 24)
        await pilot.pause()
        assert any("CREATING" in strip.text for strip in reply.render_lines(reply.region.reset_offset))


async def test_the_startup_heap_is_frozen_while_the_chat_runs_and_released_after(
    scripted: type[ScriptedClient],
) -> None:
    """The chat hides its long-lived startup objects from the cyclic GC (see transcript._freeze_startup_heap)."""
    before = gc.get_freeze_count()
    app = ChatApp(scripted())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert gc.get_freeze_count() > before
    assert gc.get_freeze_count() == before
