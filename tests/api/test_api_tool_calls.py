"""Structured tool calls over the daemon (slash commands): the operation layer gets the tool and arguments sent,
with no brain reading the typed text, through the same gate, plans and "go" as words."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from engine.api import RemoteClient
from engine.client import ToolCall
from engine.events import TurnFinished
from tests.api.api_testkit import Daemon, Keys


@pytest.fixture
def reached(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every (tool, arguments) that reaches the daemon engine's operation layer; the brain must read nothing
    unless a test says words."""
    calls: list[tuple[str, dict[str, Any]]] = []
    ops = daemon.engine.ops
    real = ops.call

    async def call(caller: Any, tool: str, args: dict[str, Any], **kw: Any) -> Any:
        calls.append((tool, dict(args)))
        return await real(caller, tool, args, **kw)

    monkeypatch.setattr(ops, "call", call)
    return calls


async def test_remote_ask_and_stream_send_the_call_itself(
    daemon: Daemon, keys: Keys, reached: list[tuple[str, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    brain = daemon.engine.conversation.brain

    def unread(message: str, context: Any = None) -> Any:
        raise AssertionError(f"a structured call was read as words: {message!r}")

    monkeypatch.setattr(brain, "understand", unread)
    client = await asyncio.to_thread(RemoteClient, daemon.url, keys.alice, channel="tui")
    asked = await client.ask("/status vultr", session="slash", call=ToolCall("fleet_status", {"provider": "vultr"}))
    assert [c.tool for c in asked.tool_calls] == ["fleet_status"] and asked.reply.startswith("[CMD]")
    events = [
        e
        async for e in client.stream(
            "/silence hetzner 30",
            session="slash",
            call=ToolCall("silence_alerts", {"selector": {"provider": "hetzner"}, "minutes": 30}),
        )
    ]
    assert reached == [
        ("fleet_status", {"provider": "vultr"}),
        ("silence_alerts", {"selector": {"provider": "hetzner"}, "minutes": 30}),
    ]
    finished = events[-1]
    assert isinstance(finished, TurnFinished)
    plan = finished.result.tool_calls[0].plan
    assert plan is not None and plan.status == "pending" and plan.requires_confirmation  # the usual gate
    history = await client.history("slash")
    assert [m.text for m in history if m.role == "operator"] == ["/status vultr", "/silence hetzner 30"]
    monkeypatch.undo()  # "go" is the operator's words
    confirmed = await client.ask("go", session="slash")
    assert confirmed.job is not None


async def test_a_malformed_call_is_a_400_sentence_and_a_bad_argument_the_tools_own_error(
    daemon: Daemon, keys: Keys, reached: list[tuple[str, dict[str, Any]]]
) -> None:
    auth = {"Authorization": f"Bearer {keys.alice}"}
    async with httpx.AsyncClient(base_url=daemon.url, timeout=60) as http:
        shapeless = await http.post("/v1/turns", headers=auth, json={"message": "/x", "call": {"args": {}}})
        wrong = await http.post(
            "/v1/turns",
            headers=auth,
            json={"message": "/brief monthly", "call": {"tool": "briefing", "args": {"kind": "monthly"}}},
        )
    assert shapeless.status_code == 400 and "'call' must be an object" in shapeless.json()["error"]
    assert wrong.status_code == 200
    (call,) = wrong.json()["tool_calls"]
    assert call["status"] == "error" and "kind 'monthly' is not known" in wrong.json()["reply"]
    assert reached == [("briefing", {"kind": "monthly"})]
