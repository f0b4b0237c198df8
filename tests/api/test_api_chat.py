"""The chat, unchanged, on the daemon client: a turn and a plan card with Go, exactly as embedded."""

from __future__ import annotations

import asyncio
from typing import Any

from app.chat import AgentMessage, ChatApp, PlanCard
from engine.api import RemoteClient
from tests.api.api_testkit import Daemon, Keys


async def _say(pilot: Any, app: ChatApp, text: str) -> None:
    app.prompt.text = text
    await pilot.press("enter")
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_the_chat_runs_on_the_remote_client_plan_card_and_go(daemon: Daemon, keys: Keys) -> None:
    client = await asyncio.to_thread(RemoteClient, daemon.url, keys.alice, channel="tui")
    app = ChatApp(client, session="remote")
    async with app.run_test(size=(110, 36)) as pilot:
        await _say(pilot, app, "fleet status")
        (reply,) = app.query(AgentMessage)
        assert str(reply.render()).startswith("[CMD] DEMO fleet: 60 instances")
        await _say(pilot, app, "restart everything degraded on vultr")
        (card,) = app.query(PlanCard)
        assert card.is_pending
        await _say(pilot, app, "go")
        assert not card.is_pending
    history = await client.history("remote")
    assert [m.text for m in history if m.role == "operator"] == [
        "fleet status",
        "restart everything degraded on vultr",
        "go",
    ]
