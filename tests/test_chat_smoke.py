"""The Textual chat, driven by Pilot: type a question, see Commander's reply."""

from __future__ import annotations

from pathlib import Path

from app.chat import AgentMessage, ChatApp, UserMessage
from engine.client import EmbeddedClient


async def test_typing_a_question_shows_the_reply(clawops_home: Path) -> None:
    client = EmbeddedClient.open(demo_pairs=120, channel="tui")
    app = ChatApp(client)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.click("#prompt")
            await pilot.press(*"fleet status")
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            users = [str(w.render()) for w in app.query(UserMessage)]
            replies = [str(w.render()) for w in app.query(AgentMessage)]
            assert users == ["fleet status"]
            assert len(replies) == 1
            assert replies[0].startswith("[CMD] DEMO fleet: 240 instances")
    finally:
        client.close()


async def test_go_in_the_chat_confirms_the_pending_plan(clawops_home: Path) -> None:
    client = EmbeddedClient.open(demo_pairs=120, channel="tui")
    app = ChatApp(client, session="pilot")
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            for text in ("restart everything on hetzner", "go"):
                await pilot.press(*text)
                await pilot.press("enter")
                await app.workers.wait_for_complete()
                await pilot.pause()
            replies = [str(w.render()) for w in app.query(AgentMessage)]
            assert "Confirm? (go / cancel)" in replies[0]
            assert replies[1].startswith("[CMD] Done: job job-")
    finally:
        client.close()
