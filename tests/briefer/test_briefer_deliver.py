"""Delivery hook: the voice note, the text and the HTML report go out through the real channel clients
(pointed at the Telegram and WhatsApp emulators); one channel failing does not stop the others, and
through an Outbox a Telegram outage delays the briefing instead of losing it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import httpx

from engine.briefer import Briefing, deliver, produce_briefing, telegram_sender, whatsapp_sender
from engine.channels import Outbox, RetryPolicy, TelegramClient, TelegramEmulator, WhatsAppClient, WhatsAppEmulator
from engine.runtime import Engine

FAST = RetryPolicy(attempts=2, base_delay_s=0)


def briefing(home: Path) -> Briefing:
    engine = Engine.open(demo_pairs=6)
    try:
        b = produce_briefing(engine, engine.settings, "daily", home / "out", datetime.now(UTC), speak=False)
    finally:
        engine.close()
    note = home / "out" / "note.ogg"
    note.write_bytes(b"OggS" + b"\x00" * 64)  # the emulators store bytes; the codec is tested elsewhere
    return dataclasses.replace(b, voice_path=note, duration_s=72.0)


async def test_telegram_and_whatsapp_get_voice_text_and_report(clawops_home: Path) -> None:
    b = briefing(clawops_home)
    async with TelegramEmulator() as tg, WhatsAppEmulator() as wa, httpx.AsyncClient() as http:
        senders = {
            "telegram": telegram_sender(TelegramClient(http, tg.token, base_url=tg.base_url, retry=FAST), 4242),
            "whatsapp": whatsapp_sender(
                WhatsAppClient(http, wa.access_token, wa.phone_number_id, base_url=wa.base_url, retry=FAST),
                "+491701234567",
            ),
        }
        assert await deliver(b, senders) == {"telegram": None, "whatsapp": None}
    assert [m.kind for m in tg.sent] == ["voice", "text", "document"]
    voice_msg, text_msg, doc = tg.sent
    assert b.voice_path is not None and voice_msg.content == b.voice_path.read_bytes() and voice_msg.duration == 72
    assert text_msg.text is not None and text_msg.text.startswith("[Briefer] Daily briefing")
    assert doc.filename == b.html_path.name and doc.content == b.html_path.read_bytes()
    assert [m.kind for m in wa.sent] == ["audio", "text", "document"]
    assert wa.sent[2].filename == b.html_path.name


async def test_a_failing_channel_is_reported_and_the_other_still_gets_it(clawops_home: Path) -> None:
    b = briefing(clawops_home)
    async with TelegramEmulator() as tg, httpx.AsyncClient() as http:
        good = TelegramClient(http, tg.token, base_url=tg.base_url, retry=FAST)
        bad = TelegramClient(http, "999:WRONG", base_url=tg.base_url, retry=FAST)
        result = await deliver(b, {"broken": telegram_sender(bad, 1), "ok": telegram_sender(good, 2)})
    assert result["ok"] is None
    assert result["broken"] is not None and result["broken"].startswith("Telegram refused")
    assert [(m.chat_id, m.kind) for m in tg.sent] == [("2", "voice"), ("2", "text"), ("2", "document")]


async def test_through_an_outbox_an_outage_delays_but_never_loses_the_briefing(clawops_home: Path) -> None:
    b = briefing(clawops_home)
    async with TelegramEmulator() as tg, httpx.AsyncClient() as http:
        client = TelegramClient(http, tg.token, base_url=tg.base_url, retry=FAST)
        outbox = Outbox()
        tg.fail(times=4, status=503)  # Telegram is down for a moment
        assert await deliver(b, {"telegram": telegram_sender(client, 7, outbox=outbox)}) == {"telegram": None}
        assert outbox.pending("7") > 0 and [m.kind for m in tg.sent] != ["voice", "text", "document"]
        tg.clear_faults()
        await outbox.flush()
    assert [m.kind for m in tg.sent] == ["voice", "text", "document"]
