"""Streamed replies over the daemon: the model's text reaches a remote chat as ordered TokenDelta events before
the finished turn, redacted like everything else."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.api import RemoteClient
from engine.brain.emulator import AnthropicEmulator, say
from engine.events import TokenDelta, TurnFinished
from engine.runtime import Engine
from tests.api.api_testkit import Daemon

SECRET = "vultr-tok-9c1e55aa0b7d4f21"


async def test_a_remote_chat_receives_the_reply_as_it_streams(clawops_home: Path) -> None:
    async with AnthropicEmulator() as emu:
        engine = Engine.open(
            demo_pairs=30, demo_providers="sim", anthropic_api_key="sk-test-emulator", anthropic_base_url=emu.base_url
        )
        assert engine.conversation.llm is not None
        engine.trust.prime_redactor(SECRET)
        owner = engine.caller("owner", "cli")
        key = engine.trust.issue_key(owner, "owner").key
        text = f"Vultr leaked {SECRET} in an error. " + "Everything else is calm across the fleet. " * 12
        emu.add(say(text))
        daemon = Daemon(engine)
        await daemon.start()
        client = await asyncio.to_thread(RemoteClient, daemon.url, key)
        try:
            events = [e async for e in client.stream("how is vultr?", session="s")]
        finally:
            client.close()
            await daemon.stop()
            await engine.conversation.llm.aclose()
            engine.close()
    deltas = [e for e in events if isinstance(e, TokenDelta)]
    assert len(deltas) > 1 and {d.agent for d in deltas} == {"commander"}
    streamed = "".join(d.text for d in deltas)
    assert SECRET not in streamed and "[REDACTED]" in streamed
    finished = events[-1]
    assert isinstance(finished, TurnFinished)
    assert events.index(deltas[-1]) < len(events) - 1  # every delta before the finished turn
    assert streamed.strip() == finished.result.reply.removeprefix("[CMD] ").strip()
