"""Done-when: through the Telegram and WhatsApp emulators, a spoken "what's degraded?" gets a correct
spoken answer plus its text, and an unknown sender is refused. Real Piper and faster-whisper throughout;
the conversation itself is a stand-in that answers from a fixed fleet (the engine wires the real one)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import voice
from engine.channels import (
    Inbound,
    Refusal,
    RetryPolicy,
    TelegramChannel,
    TelegramClient,
    TelegramEmulator,
    WhatsAppChannel,
    WhatsAppClient,
    WhatsAppEmulator,
    make_voice_handler,
    serve_app,
    speakable,
)

pytestmark = pytest.mark.voice

ANSWER = "[Guardian] Two pairs are degraded: one on Hetzner and one on Vultr."


async def fleet_turn(msg: Inbound, text: str) -> str:
    """Stand-in for the conversation: knows one question, like the offline brain would."""
    if "degraded" in text.lower():
        return ANSWER
    return f"[CMD] I heard: {text}"


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower().replace("two", "2").replace("one", "1")))


@pytest.fixture(scope="module")
def question_ogg(vcfg: Any) -> bytes:
    return voice.synthesize("What's degraded?", vcfg)


def check_spoken_answer(ogg: bytes, vcfg: Any) -> None:
    heard = voice.transcribe(ogg, vcfg)
    assert {"2", "pairs", "degraded", "hetzner", "vultr"} <= words(heard.text), heard.text
    assert "guardian" not in heard.text.lower()  # the agent tag is shown, not spoken


def test_speakable_drops_tags_and_markup() -> None:
    spoken = speakable("[CMD] **3** pairs\n[Ledger] save `$40`")
    assert "3 pairs" in spoken and "40 dollars" in spoken and not set("[]*`$") & set(spoken)


async def test_telegram_voice_question_gets_spoken_answer(vcfg: Any, question_ogg: bytes, tmp_path: Path) -> None:
    refusals: list[Refusal] = []
    async with TelegramEmulator() as emu, httpx.AsyncClient() as http:
        client = TelegramClient(http, emu.token, base_url=emu.base_url)
        handler = make_voice_handler(fleet_turn, config=vcfg)
        channel = TelegramChannel(
            client, handler, {"4242": "op-alice"}, audit=refusals.append, workdir=tmp_path, poll_timeout=0
        )
        emu.send_voice(4242, question_ogg, duration=1)
        emu.send_voice(999, question_ogg, duration=1)  # a stranger
        emu.send_text(4242, "what's degraded?")  # typed: text answer only (after_voice mode)
        assert await channel.poll_once() == 3

    # Chats are handled side by side: the stranger's one refusal may come at any point, the operator's
    # messages come in order ("Heard", the text at once, then the voice note; then the typed answer).
    assert [s.kind for s in emu.sent if s.chat_id == "999"] == ["text"]
    mine = [s for s in emu.sent if s.chat_id == "4242"]
    assert [s.kind for s in mine] == ["text", "text", "voice", "text"]
    transcript, text, spoken, typed = mine
    assert transcript.text is not None and "degraded" in transcript.text.lower()
    assert text.text == ANSWER and typed.text == ANSWER
    assert spoken.content is not None and spoken.content[:4] == b"OggS"
    assert spoken.duration is not None and spoken.duration >= 2
    check_spoken_answer(spoken.content, vcfg)
    assert [(r.sender_id, r.reason) for r in refusals] == [("999", "unknown_sender")]


async def test_whatsapp_voice_question_gets_spoken_answer(vcfg: Any, question_ogg: bytes, tmp_path: Path) -> None:
    refusals: list[Refusal] = []
    async with WhatsAppEmulator() as emu, httpx.AsyncClient() as http:
        client = WhatsAppClient(http, emu.access_token, emu.phone_number_id, base_url=emu.base_url)
        channel = WhatsAppChannel(
            client,
            make_voice_handler(fleet_turn, config=vcfg),
            {"491701234567": "op-bob"},
            app_secret=emu.app_secret,
            verify_token="v",
            audit=refusals.append,
            workdir=tmp_path,
        )
        runner, port = await serve_app(channel.webhook_app())
        emu.webhook_url = f"http://127.0.0.1:{port}/webhook/whatsapp"
        try:
            assert await emu.deliver_audio("491701234567", question_ogg) == 200
            assert await emu.deliver_audio("15550001111", question_ogg) == 200
            await channel.drain()
        finally:
            await runner.cleanup()

    assert [s.kind for s in emu.sent if s.to == "15550001111"] == ["text"]  # the stranger's one refusal
    mine = [s for s in emu.sent if s.to == "491701234567"]
    assert [s.kind for s in mine] == ["text", "text", "audio"]
    assert mine[1].text == ANSWER
    audio = mine[2].content
    assert audio is not None and mine[2].mime_type == "audio/ogg"
    check_spoken_answer(audio, vcfg)
    assert [(r.sender_id, r.reason) for r in refusals] == [("15550001111", "unknown_sender")]


@pytest.fixture
async def tg() -> AsyncIterator[tuple[TelegramEmulator, TelegramClient]]:
    async with TelegramEmulator() as emu, httpx.AsyncClient() as http:
        yield emu, TelegramClient(http, emu.token, base_url=emu.base_url, retry=RetryPolicy(attempts=2))


async def test_bad_recording_gets_a_polite_text_reply(
    vcfg: Any, tg: tuple[TelegramEmulator, TelegramClient], tmp_path: Path
) -> None:
    emu, client = tg
    turns: list[str] = []

    async def turn(msg: Inbound, text: str) -> str:
        turns.append(text)
        return "never"

    channel = TelegramChannel(
        client, make_voice_handler(turn, config=vcfg), {"7": "op"}, workdir=tmp_path, poll_timeout=0
    )
    emu.send_voice(7, b"definitely not audio")
    await channel.poll_once()
    assert turns == []
    assert [(s.kind, s.text) for s in emu.sent] == [
        ("text", "Could not read the recording: it is damaged or not an audio file.")
    ]


async def test_voice_not_installed_falls_back_to_text(
    tg: tuple[TelegramEmulator, TelegramClient], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu, client = tg
    monkeypatch.setattr(voice, "available", lambda config=None: False)
    monkeypatch.setattr(voice, "unavailable_reason", lambda config=None: "Voice is not installed.")
    channel = TelegramChannel(
        client, make_voice_handler(fleet_turn, reply_voice="always"), {"7": "op"}, workdir=tmp_path, poll_timeout=0
    )
    emu.send_voice(7, b"OggS")
    emu.send_text(7, "what's degraded?")
    await channel.poll_once()
    assert [(s.kind, s.text) for s in emu.sent] == [
        ("text", "Voice is not installed. Please send your request as text."),
        ("text", ANSWER),
    ]
