"""WhatsApp channel against the loopback Cloud API emulator: signatures, allow-list, media, rate limits."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from engine.channels import (
    TURN_CRASHED,
    ChannelError,
    Inbound,
    Refusal,
    Reply,
    RetryPolicy,
    WhatsAppChannel,
    WhatsAppClient,
    WhatsAppEmulator,
    serve_app,
    sign_payload,
    verify_signature,
)

OPERATOR = "491701234567"
STRANGER = "15550009999"


@dataclass
class Rig:
    emu: WhatsAppEmulator
    channel: WhatsAppChannel
    seen: list[Inbound]
    refusals: list[Refusal]
    waits: list[float]
    replies: dict[str, Reply]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    seen: list[Inbound] = []
    refusals: list[Refusal] = []
    waits: list[float] = []
    replies: dict[str, Reply] = {}

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    async def handler(msg: Inbound) -> Reply:
        seen.append(msg)
        if msg.audio_path is not None:
            assert msg.audio_path.is_file()
            return replies.get("audio", Reply(text=f"got {msg.audio_path.stat().st_size} bytes"))
        if msg.text == "boom":
            raise RuntimeError("bug")
        return replies.get(msg.text or "", Reply(text=f"[CMD] {msg.text}"))

    async with WhatsAppEmulator() as emu, httpx.AsyncClient() as http:
        client = WhatsAppClient(
            http,
            emu.access_token,
            emu.phone_number_id,
            base_url=emu.base_url,
            retry=RetryPolicy(attempts=4, sleep=fake_sleep),
        )
        channel = WhatsAppChannel(
            client,
            handler,
            {"+49 170 1234567": "op-bob"},
            app_secret=emu.app_secret,
            verify_token="verify-me",
            audit=refusals.append,
            workdir=tmp_path / "inbox",
        )
        runner, port = await serve_app(channel.webhook_app())
        emu.webhook_url = f"http://127.0.0.1:{port}/webhook/whatsapp"
        try:
            yield Rig(emu, channel, seen, refusals, waits, replies)
        finally:
            await channel.drain()
            await runner.cleanup()


async def test_text_from_operator_gets_reply(rig: Rig) -> None:
    assert await rig.emu.deliver_text(OPERATOR, "fleet status") == 200
    await rig.channel.drain()
    assert [(m.channel, m.sender_id, m.operator_id, m.text) for m in rig.seen] == [
        ("whatsapp", OPERATOR, "op-bob", "fleet status")
    ]
    assert [(s.to, s.kind, s.text) for s in rig.emu.sent] == [(OPERATOR, "text", "[CMD] fleet status")]


async def test_forged_or_missing_signature_is_rejected(rig: Rig) -> None:
    assert await rig.emu.deliver_text(OPERATOR, "teardown everything", secret="guessed-secret") == 401
    assert await rig.emu.deliver_text(OPERATOR, "teardown everything", signature="") == 401
    assert await rig.emu.deliver_text(OPERATOR, "teardown everything", signature="sha256=00") == 401
    await rig.channel.drain()
    assert rig.seen == [] and rig.emu.sent == []
    assert [(r.reason, r.detail) for r in rig.refusals] == [
        ("bad_signature", "signature mismatch"),
        ("bad_signature", "missing signature"),
        ("bad_signature", "signature mismatch"),
    ]


async def test_body_tampered_after_signing_is_rejected(rig: Rig) -> None:
    body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    signature = sign_payload(body, rig.emu.app_secret)
    assert verify_signature(body, signature, rig.emu.app_secret)
    assert not verify_signature(body + b" ", signature, rig.emu.app_secret)
    assert await rig.emu.post_webhook(body + b" ", signature=signature) == 401
    assert await rig.emu.post_webhook(b"not json", secret=rig.emu.app_secret) == 400


async def test_unknown_sender_gets_one_short_refusal_and_an_audit_entry(rig: Rig) -> None:
    assert await rig.emu.deliver_text(STRANGER, "what's degraded?") == 200
    assert await rig.emu.deliver_audio(STRANGER, b"OggS...") == 200
    await rig.channel.drain()
    assert rig.seen == [] and [(s.to, s.kind) for s in rig.emu.sent] == [(STRANGER, "text")]
    assert rig.emu.sent[0].text is not None and "operator link" in rig.emu.sent[0].text
    assert [(r.sender_id, r.reason, r.detail) for r in rig.refusals] == [
        (STRANGER, "unknown_sender", "text message"),
        (STRANGER, "unknown_sender", "audio message"),
    ]


async def test_redelivered_webhook_is_handled_once(rig: Rig) -> None:
    payload = rig.emu._envelope(OPERATOR, {"type": "text", "text": {"body": "restart"}})
    assert await rig.emu.post_webhook(payload) == 200
    assert await rig.emu.post_webhook(payload) == 200
    await rig.channel.drain()
    assert len(rig.seen) == 1 and len(rig.emu.sent) == 1


async def test_subscription_handshake(rig: Rig) -> None:
    assert rig.emu.webhook_url is not None
    async with httpx.AsyncClient() as http:
        ok = await http.get(
            rig.emu.webhook_url,
            params={"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"},
        )
        bad = await http.get(
            rig.emu.webhook_url,
            params={"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1158201444"},
        )
    assert (ok.status_code, ok.text) == (200, "1158201444")
    assert bad.status_code == 403 and "1158201444" not in bad.text


async def test_voice_note_in_and_voice_note_out(rig: Rig, tmp_path: Path) -> None:
    report = tmp_path / "brief.html"
    report.write_text("<h1>Daily</h1>")
    rig.replies["audio"] = Reply(
        text="Two pairs are degraded.",
        transcript="what's degraded?",
        voice_ogg=b"OggS-spoken-answer",
        document=report,
        document_caption="Daily report",
    )
    assert await rig.emu.deliver_audio(OPERATOR, b"OggS-question" * 10) == 200
    await rig.channel.drain()
    assert len(rig.seen) == 1 and rig.seen[0].audio_path is not None
    assert rig.seen[0].audio_path.suffix == ".ogg" and not rig.seen[0].audio_path.exists()
    assert [(s.kind, s.text) for s in rig.emu.sent] == [
        ("text", "Heard: “what's degraded?”"),
        ("text", "Two pairs are degraded."),
        ("audio", None),
        ("document", "Daily report"),
    ]
    assert rig.emu.sent[2].content == b"OggS-spoken-answer" and rig.emu.sent[2].mime_type == "audio/ogg"
    assert (rig.emu.sent[3].filename, rig.emu.sent[3].content) == ("brief.html", b"<h1>Daily</h1>")


async def test_rate_limit_is_retried_not_lost(rig: Rig) -> None:
    rig.emu.rate_limit(times=2)
    assert await rig.emu.deliver_text(OPERATOR, "status") == 200
    await rig.channel.drain()
    assert len(rig.waits) == 2
    assert [s.text for s in rig.emu.sent] == ["[CMD] status"]


async def test_handler_crash_gets_an_apology(rig: Rig) -> None:
    await rig.emu.deliver_text(OPERATOR, "boom")
    await rig.channel.drain()
    assert [s.text for s in rig.emu.sent] == [TURN_CRASHED]


async def test_bad_token_and_oversized_media(rig: Rig) -> None:
    async with httpx.AsyncClient() as http:
        bad = WhatsAppClient(http, "wrong", rig.emu.phone_number_id, base_url=rig.emu.base_url)
        with pytest.raises(ChannelError) as info:
            await bad.send_text(OPERATOR, "hi")
        assert info.value.status == 401 and "code 190" in str(info.value)
        good = WhatsAppClient(http, rig.emu.access_token, rig.emu.phone_number_id, base_url=rig.emu.base_url)
        media_id = rig.emu.add_media(b"x" * 5000)
        with pytest.raises(ChannelError, match="limit"):
            await good.download_media(media_id, max_bytes=1000)
        assert await good.download_media(media_id) == (b"x" * 5000, "audio/ogg; codecs=opus")
