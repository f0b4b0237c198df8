"""Live progress in the chat: one message per job, updated in place; the shared feed; connection state;
history on restart; /find."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from app.chat import ChatApp, ErrorNote, SystemNote, UserMessage
from app.widgets import AgentMessage, JobProgressMessage, PlanCard
from engine.client import (
    ConnectionLost,
    ConnectionRestored,
    EmbeddedClient,
    FeedItem,
    HistoryMessage,
    JobProgress,
)
from engine.operations import JobView
from tests.app.conftest import DEMO_PAIRS, ScriptedClient

if TYPE_CHECKING:
    from collections.abc import Callable

    from textual.pilot import Pilot


async def _settle(pilot: Pilot[None], app: ChatApp) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def _until(pilot: Pilot[None], condition: Callable[[], object], what: str, attempts: int = 400) -> None:
    """Let the app run until ``condition()`` holds (bounded by attempts, not by a clock)."""
    for _ in range(attempts):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never happened: {what}")


def _progress(
    job_id: str, status: str, done: int, total: int = 20, operator: str = "owner", states: dict[str, int] | None = None
) -> JobProgress:
    view = JobView(
        job_id,
        "pl-1",
        "provision_pairs",
        status,
        total,
        done,
        0,
        states or {"ACTIVE": done * 2, "CREATING": (total - done) * 2},
        None,
        10.0 + done,
        None if status != "running" or not done else 30.0,
        5.0 if done else None,
    )
    return JobProgress(view, operator)


class FeedClient(ScriptedClient):
    """A scripted client with a feed the test pushes into, a history and a search."""

    def __init__(self, *, me: str = "owner", history: list[HistoryMessage] | None = None) -> None:
        super().__init__()
        self.whoami = me
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.rows = list(history or [])
        self.searched: list[str] = []

    async def feed(self) -> AsyncIterator[object]:
        while True:
            yield await self.queue.get()

    async def history(self, session: str | None, limit: int = 200) -> list[HistoryMessage]:
        return [r for r in self.rows if r.session == session][-limit:]

    async def search(self, text: str, limit: int = 50) -> list[HistoryMessage]:
        self.searched.append(text)
        return [r for r in reversed(self.rows) if text.lower() in r.text.lower()][:limit]


def _row(n: int, role: str, text: str, session: str = "chat", agent: str | None = None) -> HistoryMessage:
    return HistoryMessage(n, session, role, agent, "tui", text, datetime(2026, 11, 24, 9, n, tzinfo=UTC))


async def test_progress_reports_update_one_message_in_place() -> None:
    client = FeedClient()
    app = ChatApp(client)
    async with app.run_test(size=(100, 30)) as pilot:
        for done in (0, 4, 11):
            client.queue.put_nowait(_progress("job-a", "running", done))
        await _until(
            pilot,
            lambda: app.query(JobProgressMessage) and app.query_one(JobProgressMessage).report.job.done == 11,
            "third report shown",
        )
        (widget,) = app.query(JobProgressMessage)
        assert "11/20 steps done" in widget.text and "ETA" in widget.text
        client.queue.put_nowait(_progress("job-a", "succeeded", 20, states={"ACTIVE": 40}))
        client.queue.put_nowait(_progress("job-a", "running", 19))  # late, out of order: must not win
        await _until(pilot, lambda: client.queue.empty() and widget.finished, "final report shown")
        await pilot.pause()
        assert len(app.query(JobProgressMessage)) == 1  # never a flood of messages
        assert widget.finished and "Forge done" in widget.text and "40/40 ACTIVE" in widget.text
        assert widget.has_class("-succeeded")
        assert app.jobs["job-a"].status == "succeeded"  # /jobs knows it


async def test_two_jobs_get_two_messages_and_others_jobs_say_whose() -> None:
    client = FeedClient(me="alice")
    app = ChatApp(client)
    async with app.run_test(size=(100, 30)) as pilot:
        client.queue.put_nowait(_progress("job-a", "running", 1, operator="alice"))
        client.queue.put_nowait(_progress("job-b", "running", 2, operator="bob"))
        await _until(pilot, lambda: len(app.query(JobProgressMessage)) == 2, "two progress messages")
        mine, theirs = app.query(JobProgressMessage)
        assert mine.mine and not theirs.mine
        assert "bob's job" in str(theirs.render())


async def test_other_operators_turns_appear_and_our_own_do_not_repeat() -> None:
    client = FeedClient(me="alice")
    app = ChatApp(client)
    async with app.run_test(size=(100, 30)) as pilot:
        client.queue.put_nowait(FeedItem("alice", "tui", "chat", "fleet status", "[CMD] fine"))
        client.queue.put_nowait(
            FeedItem(
                "bob",
                "tui",
                "chat",
                "restart everything on vultr",
                "[CMD] plan",
                tool_calls=({"tool": "restart", "status": "planned"},),
            )
        )
        await _until(pilot, lambda: any("bob (tui)" in str(n.render()) for n in app.query(SystemNote)), "bob's turn")
        notes = [str(n.render()) for n in app.query(SystemNote)][1:]
        assert notes == ["bob (tui): restart planned — asked “restart everything on vultr”"]


async def test_connection_lost_and_restored_are_said_once_each() -> None:
    client = FeedClient()
    app = ChatApp(client)
    async with app.run_test(size=(100, 30)) as pilot:
        client.queue.put_nowait(ConnectionLost("Lost the engine; reconnecting."))
        client.queue.put_nowait(ConnectionLost("Lost the engine; reconnecting."))
        client.queue.put_nowait(ConnectionRestored("Reconnected to the engine."))
        await _until(
            pilot,
            lambda: app.connected and client.queue.empty() and len(app.query(SystemNote)) == 2,
            "reconnected note",
        )
        assert [e.problem for e in app.query(ErrorNote)] == ["Lost the engine; reconnecting."]
        assert "Reconnected to the engine." in str(app.query(SystemNote)[-1].render())


async def test_history_of_the_session_is_shown_on_start() -> None:
    rows = [
        _row(1, "operator", "fleet status"),
        _row(2, "agent", "[CMD] 120 instances", agent="commander"),
        _row(3, "operator", "elsewhere", session="other"),
    ]
    app = ChatApp(FeedClient(history=rows))
    async with app.run_test(size=(100, 30)) as pilot:
        await _settle(pilot, app)
        assert [str(m.render()) for m in app.query(UserMessage)] == ["fleet status"]
        assert [m.reply for m in app.query(AgentMessage)] == ["[CMD] 120 instances"]
        assert "Earlier in this session (2 messages)" in str(app.query(SystemNote)[1].render())


async def test_find_lists_matching_messages_newest_first() -> None:
    rows = [
        _row(1, "operator", "what about Nuremberg?"),
        _row(2, "agent", "[Guardian] nuremberg is fine"),
        _row(3, "operator", "fleet status"),
    ]
    client = FeedClient(history=[])
    client.rows = rows  # searchable, but not this session's history
    app = ChatApp(client)
    async with app.run_test(size=(100, 30)) as pilot:
        app.prompt.text = "/find nuremberg"
        await pilot.press("enter")
        await _settle(pilot, app)
        result = str(app.query(SystemNote)[-1].render())
        assert result.startswith("2 earlier messages mention “nuremberg”")
        assert result.index("nuremberg is fine") < result.index("what about Nuremberg?")
        assert client.searched == ["nuremberg"] and client.asked == []


async def test_go_returns_at_once_and_the_job_reports_in_place(clawops_home: Path) -> None:
    """The real embedded engine as the chat opens it: the plan card, Go, then progress until done."""
    client = EmbeddedClient.open(demo_pairs=DEMO_PAIRS, channel="tui", background_jobs=True)
    try:
        app = ChatApp(client)
        async with app.run_test(size=(110, 40)) as pilot:
            app.prompt.text = "restart everything degraded"
            await pilot.press("enter")
            await _settle(pilot, app)
            (card,) = app.query(PlanCard)
            await pilot.press("ctrl+g")
            await _settle(pilot, app)
            await _until(
                pilot,
                lambda: app.query(JobProgressMessage) and app.query_one(JobProgressMessage).finished,
                "job finished",
            )
            (widget,) = app.query(JobProgressMessage)
            assert widget.report.job.status == "succeeded"
            assert widget.report.job.done == widget.report.job.total > 0
            assert not card.is_pending
    finally:
        await client.engine.ops.wait_for_jobs()
        client.close()


async def test_a_pruned_progress_message_comes_back_as_it_last_stood() -> None:
    client = FeedClient()
    app = ChatApp(client, high_water=6, low_water=3)
    async with app.run_test(size=(100, 30)) as pilot:
        client.queue.put_nowait(_progress("job-a", "succeeded", 20, states={"ACTIVE": 40}))
        await _until(pilot, lambda: bool(app.query(JobProgressMessage)), "progress shown")
        for n in range(6):
            app.prompt.text = f"message {n}"
            await pilot.press("enter")
            await _settle(pilot, app)
        assert not app.query(JobProgressMessage)  # pruned out of view…
        app.action_show_earlier()
        await _settle(pilot, app)
        await _until(pilot, lambda: bool(app.query(JobProgressMessage)), "progress revived")
        (revived,) = app.query(JobProgressMessage)
        assert revived.finished and "40/40 ACTIVE" in revived.text  # …and back as it was
