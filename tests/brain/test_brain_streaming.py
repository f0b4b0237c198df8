"""The chat's streamed reply: the model's text arrives as deltas through the embedded client, redacted even
when a secret is split across two deltas (the emulator streams 12 characters at a time)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.api import DeltaScrubber
from engine.brain.emulator import AnthropicEmulator, say
from engine.client import EmbeddedClient, TokenDelta, TurnFinished
from engine.runtime import Engine

SECRET = "hz-tok-5f1c0a9e77d24b3c8e6a1f2d"


@pytest.fixture
async def emu() -> AsyncIterator[AnthropicEmulator]:
    async with AnthropicEmulator() as server:
        yield server


async def test_streamed_deltas_never_carry_a_secret(clawops_home: Path, emu: AnthropicEmulator) -> None:
    engine = Engine.open(
        demo_pairs=30, demo_providers="sim", anthropic_api_key="sk-test-emulator", anthropic_base_url=emu.base_url
    )
    assert engine.conversation.llm is not None
    client = EmbeddedClient(engine, channel="tui")
    engine.trust.prime_redactor(SECRET)
    text = f"Hetzner answered with token {SECRET} in its error; " + "the fleet is otherwise fine. " * 20
    emu.add(say(text))
    try:
        events = [e async for e in client.stream("how is hetzner?", session="s")]
    finally:
        await engine.conversation.llm.aclose()
        client.close()
    deltas = [e for e in events if isinstance(e, TokenDelta)]
    streamed = "".join(d.text for d in deltas)
    assert len(deltas) > 1
    assert all(SECRET not in d.text for d in deltas) and SECRET not in streamed
    assert SECRET[:12] not in streamed  # not even the first piece of it
    finished = events[-1]
    assert isinstance(finished, TurnFinished)
    assert streamed.strip() == finished.result.reply.removeprefix("[CMD] ").strip()  # same words, same masks
    assert "[REDACTED]" in streamed


def test_the_scrubber_releases_only_what_can_no_longer_change() -> None:
    out: list[str] = []
    scrubber = DeltaScrubber(lambda t: t.replace("SECRET", "******"), lambda agent, text: out.append(text))
    scrubber.HOLD_BACK = 10
    for piece in ("aaaaaaaaaaSEC", "RETbbbbbbbbbbbbbb"):
        scrubber("commander", piece)
    scrubber.flush()
    assert "".join(out) == "aaaaaaaaaa******bbbbbbbbbbbbbb"
    assert all("SEC" not in piece for piece in out)


async def test_a_pasted_token_is_masked_in_the_brains_audit_entry(clawops_home: Path, emu: AnthropicEmulator) -> None:
    from sqlmodel import col, select

    from engine.store import AuditEntry

    engine = Engine.open(
        demo_pairs=30, demo_providers="sim", anthropic_api_key="sk-test-emulator", anthropic_base_url=emu.base_url
    )
    assert engine.conversation.llm is not None
    engine.trust.prime_redactor(SECRET)
    emu.add(say("Noted; never paste tokens into the chat."))
    try:
        await engine.ask(f"is {SECRET} still the hetzner token?", session="s")
    finally:
        await engine.conversation.llm.aclose()
        with engine.store.session() as s:
            entries = s.exec(select(AuditEntry).where(col(AuditEntry.action).startswith("brain"))).all()
        engine.close()
    assert entries and all(SECRET not in e.detail for e in entries)
    assert any("[REDACTED]" in e.detail for e in entries)
