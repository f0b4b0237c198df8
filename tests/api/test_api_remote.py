"""RemoteClient against a live daemon: the same interface as the embedded client, and the chat on top of it."""

from __future__ import annotations

import asyncio

import pytest

from engine.api import ConnectionLost, ConnectionRestored, RemoteClient, Unauthorized
from engine.client import EmbeddedClient
from engine.errors import ClawOpsError
from engine.events import TurnFailed, TurnFinished, TurnStarted
from tests.api.api_testkit import Daemon, Keys


async def test_ask_stream_audit_match_the_embedded_client(daemon: Daemon, keys: Keys) -> None:
    client = await asyncio.to_thread(RemoteClient, daemon.url, keys.alice, channel="tui")
    assert client.operator == "alice" and client.is_demo
    result = await client.ask("restart everything degraded on vultr", session="ops")
    embedded = EmbeddedClient(daemon.engine, operator="alice", channel="tui")
    local = await embedded.ask("restart everything degraded on vultr", session="ops-local")
    assert result.to_contract()["tool_calls"][0]["tool"] == local.to_contract()["tool_calls"][0]["tool"]
    assert (result.plan is None) == (local.plan is None)
    events = [e async for e in client.stream("fleet status", session="ops")]
    assert isinstance(events[0], TurnStarted) and isinstance(events[-1], TurnFinished)
    assert events[-1].result.reply.startswith("[CMD]")
    report = await asyncio.to_thread(client.audit_verify)
    assert report.ok and report.entries > 0


async def test_a_plan_arrives_with_its_full_view_for_the_plan_card(daemon: Daemon, keys: Keys) -> None:
    client = await asyncio.to_thread(RemoteClient, daemon.url, keys.alice)
    result = await client.ask("provision 20 standard pairs in eu", session="forge")
    plan = result.tool_calls[0].plan
    assert plan is not None and plan.status == "pending" and plan.requires_confirmation
    assert plan.affected_users == 20 and plan.steps  # the card shows the steps, as it does embedded


async def test_wrong_key_and_unreachable_engine_are_one_clear_error(daemon: Daemon, keys: Keys) -> None:
    with pytest.raises(Unauthorized) as bad:
        await asyncio.to_thread(RemoteClient, daemon.url, "claw_wrong_" + "z" * 30)
    assert "\n" not in str(bad.value) and "claw_wrong" not in str(bad.value)
    with pytest.raises(ClawOpsError, match="not reachable") as down:
        await asyncio.to_thread(RemoteClient, "http://127.0.0.1:9", keys.alice)
    assert down.value.exit_code == 69


async def test_history_resumes_after_a_restart_and_search_finds_it(daemon: Daemon, keys: Keys) -> None:
    client = await asyncio.to_thread(RemoteClient, daemon.url, keys.bob)
    await client.ask("fleet status", session="chat")
    await client.ask("what's degraded on hetzner?", session="chat")
    await daemon.stop()
    await daemon.start()  # same store, a new daemon: the conversation is still there
    client = await asyncio.to_thread(RemoteClient, daemon.url, keys.bob)
    messages = await client.history("chat")
    assert [m.role for m in messages] == ["operator", "agent", "operator", "agent"]
    assert messages[2].text == "what's degraded on hetzner?" and messages[3].text.startswith("[CMD]")
    found = await client.search("HETZNER")
    assert [m.text for m in found if m.role == "operator"] == ["what's degraded on hetzner?"]
    alice = await asyncio.to_thread(RemoteClient, daemon.url, keys.alice)
    assert await alice.history("chat") == []  # history is per operator
    assert await alice.search("hetzner") == []


async def test_engine_down_then_back_the_message_is_kept_and_sent_once(daemon: Daemon, keys: Keys) -> None:
    client = await asyncio.to_thread(RemoteClient, daemon.url, keys.alice, retry_for=120)
    await daemon.stop()
    events: list[object] = []

    async def talk() -> None:
        async for event in client.stream("fleet status", session="restart"):
            events.append(event)

    task = asyncio.create_task(talk())
    while not events:  # the chat is told at once that the engine is gone
        await asyncio.sleep(0.05)
    assert isinstance(events[0], ConnectionLost) and "kept" in events[0].message
    await daemon.start()
    await asyncio.wait_for(task, 120)
    kinds = [type(e) for e in events]
    assert ConnectionRestored in kinds and kinds[-1] is TurnFinished
    assert TurnFailed not in kinds
    messages = await client.history("restart")
    assert [m.text for m in messages if m.role == "operator"] == ["fleet status"]  # sent exactly once


async def test_engine_never_back_gives_up_with_the_message_not_sent(keys: Keys, api_engine: object) -> None:
    client = RemoteClient("http://127.0.0.1:9", keys.alice, retry_for=0.5, check=False)
    events = [e async for e in client.stream("fleet status")]
    assert isinstance(events[0], ConnectionLost)
    assert isinstance(events[-1], TurnFailed) and "not sent" in events[-1].message
