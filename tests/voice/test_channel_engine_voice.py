"""Done-when (issue 9): a spoken "what's degraded?" through the Telegram and WhatsApp emulators reaches the
real engine (offline brain, demo fleet) and comes back as a correct spoken answer plus its text; an unknown
sender is refused and audited."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, func, select

import voice
from engine.api import run_turn
from engine.channels import (
    Refusal,
    TelegramChannel,
    TelegramClient,
    TelegramEmulator,
    WhatsAppChannel,
    WhatsAppClient,
    WhatsAppEmulator,
    channel_turn,
    make_voice_handler,
    serve_app,
)
from engine.runtime import Engine
from engine.store import Instance
from engine.trust import link_identity

pytestmark = pytest.mark.voice


@pytest.fixture
def engine(clawops_home: Path) -> Any:
    eng = Engine.open(demo_pairs=80, demo_providers="sim")
    owner = eng.caller()
    link_identity(eng.store, owner, "owner", "telegram", "4242")
    link_identity(eng.store, owner, "owner", "whatsapp", "491701234567")
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def question(vcfg: Any) -> bytes:
    """The spoken question, synthesised once for the module (the config is deterministic: the same bytes each time)."""
    return voice.synthesize("What's degraded?", vcfg)


def degraded_count(engine: Engine) -> int:
    with engine.store.session() as s:
        return int(s.exec(select(func.count()).select_from(Instance).where(col(Instance.state) == "DEGRADED")).one())


def check(reply_text: str, spoken: bytes, engine: Engine, vcfg: Any) -> None:
    count = degraded_count(engine)
    assert f"DEGRADED instances (DEMO fleet): {count}" in reply_text
    heard = voice.transcribe(spoken, vcfg).text.lower()
    assert "degraded" in heard and str(count) in re.sub(r"[^0-9 ]", " ", heard).split(), heard


async def test_telegram_voice_note_reaches_the_engine(
    engine: Engine, vcfg: Any, question: bytes, tmp_path: Path
) -> None:
    refusals: list[Refusal] = []
    async with TelegramEmulator() as emu, httpx.AsyncClient() as http:
        channel = TelegramChannel(
            TelegramClient(http, emu.token, base_url=emu.base_url),
            make_voice_handler(channel_turn(engine, run_turn), config=vcfg),
            {"4242": "op-owner"},
            audit=refusals.append,
            workdir=tmp_path,
            poll_timeout=0,
        )
        emu.send_voice(4242, question, duration=1)
        emu.send_voice(999, question, duration=1)  # a stranger
        assert await channel.poll_once() == 2
    assert [s.kind for s in emu.sent if s.chat_id == "999"] == ["text"]  # the stranger's one refusal
    mine = [s for s in emu.sent if s.chat_id == "4242"]
    assert [s.kind for s in mine] == ["text", "text", "voice"]
    transcript, text, spoken = mine
    assert transcript.text is not None and "degraded" in transcript.text.lower()
    assert text.text is not None and spoken.content is not None
    check(text.text, spoken.content, engine, vcfg)
    assert [(r.sender_id, r.reason) for r in refusals] == [("999", "unknown_sender")]


async def test_whatsapp_voice_note_reaches_the_engine(
    engine: Engine, vcfg: Any, question: bytes, tmp_path: Path
) -> None:
    refusals: list[Refusal] = []
    async with WhatsAppEmulator() as emu, httpx.AsyncClient() as http:
        channel = WhatsAppChannel(
            WhatsAppClient(http, emu.access_token, emu.phone_number_id, base_url=emu.base_url),
            make_voice_handler(channel_turn(engine, run_turn), config=vcfg),
            {"491701234567": "op-owner"},
            app_secret=emu.app_secret,
            verify_token="v",
            audit=refusals.append,
            workdir=tmp_path,
        )
        runner, port = await serve_app(channel.webhook_app())
        emu.webhook_url = f"http://127.0.0.1:{port}/webhook/whatsapp"
        try:
            assert await emu.deliver_audio("491701234567", question) == 200
            assert await emu.deliver_audio("15550001111", question) == 200
            await channel.drain()
        finally:
            await runner.cleanup()
    assert [s.kind for s in emu.sent if s.to == "15550001111"] == ["text"]  # the stranger's one refusal
    mine = [s for s in emu.sent if s.to == "491701234567"]
    assert [s.kind for s in mine] == ["text", "text", "audio"]
    text, audio = mine[1].text, mine[2].content
    assert text is not None and audio is not None
    check(text, audio, engine, vcfg)
    assert [(r.sender_id, r.reason) for r in refusals] == [("15550001111", "unknown_sender")]
