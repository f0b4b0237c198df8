"""Telegram channel against the loopback Bot API emulator: text, voice notes, allow-list, flood limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.channels import (
    TURN_CRASHED,
    ChannelError,
    Inbound,
    Refusal,
    Reply,
    RetryPolicy,
    TelegramChannel,
    TelegramClient,
    TelegramEmulator,
    check_webhook_secret,
)

OPERATOR_ID = 4242
STRANGER_ID = 666


class Recorder:
    """Fake sleep that records the waits instead of sleeping (no test depends on wall time)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator(token="42:SECRET") as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def sleeps() -> Recorder:
    return Recorder()


@pytest.fixture
def client(emu: TelegramEmulator, http: httpx.AsyncClient, sleeps: Recorder) -> TelegramClient:
    return TelegramClient(http, emu.token, base_url=emu.base_url, retry=RetryPolicy(attempts=4, sleep=sleeps))


def make_channel(
    client: TelegramClient, handler: Any, tmp_path: Path, refusals: list[Refusal] | None = None
) -> TelegramChannel:
    return TelegramChannel(
        client,
        handler,
        {str(OPERATOR_ID): "op-alice"},
        audit=(refusals.append if refusals is not None else None),
        workdir=tmp_path / "inbox",
        poll_timeout=0,
    )


async def test_text_from_operator_gets_reply(client: TelegramClient, emu: TelegramEmulator, tmp_path: Path) -> None:
    seen: list[Inbound] = []

    async def handler(msg: Inbound) -> Reply:
        seen.append(msg)
        return Reply(text=f"[CMD] You said: {msg.text}")

    channel = make_channel(client, handler, tmp_path)
    emu.send_text(OPERATOR_ID, "fleet status")
    assert await channel.poll_once() == 1
    assert [(m.channel, m.sender_id, m.operator_id, m.text, m.is_voice) for m in seen] == [
        ("telegram", str(OPERATOR_ID), "op-alice", "fleet status", False)
    ]
    assert [(s.chat_id, s.kind, s.text) for s in emu.sent] == [("4242", "text", "[CMD] You said: fleet status")]
    # The offset advanced: the same update is not handled twice.
    assert await channel.poll_once() == 0
    assert len(seen) == 1


async def test_unknown_sender_gets_one_short_refusal_and_is_audited(
    client: TelegramClient, emu: TelegramEmulator, tmp_path: Path
) -> None:
    refusals: list[Refusal] = []
    called: list[Inbound] = []

    async def handler(msg: Inbound) -> Reply:
        called.append(msg)
        return Reply(text="should never be sent")

    channel = make_channel(client, handler, tmp_path, refusals)
    emu.send_text(STRANGER_ID, "teardown everything")
    emu.send_voice(STRANGER_ID, b"OggS fake")
    await channel.poll_once()
    # One refusal (saying how to get linked, with no fleet data), not one per message.
    assert called == [] and [(s.chat_id, s.kind) for s in emu.sent] == [(str(STRANGER_ID), "text")]
    assert emu.sent[0].text is not None and "operator link" in emu.sent[0].text
    assert [(r.channel, r.sender_id, r.reason, r.detail) for r in refusals] == [
        ("telegram", str(STRANGER_ID), "unknown_sender", "text message"),
        ("telegram", str(STRANGER_ID), "unknown_sender", "voice message"),
    ]
    assert "getFile" not in emu.calls  # the stranger's audio is never even downloaded


async def test_flood_limit_waits_retry_after_and_delivers_once(
    client: TelegramClient, emu: TelegramEmulator, sleeps: Recorder
) -> None:
    emu.flood(times=2, retry_after=7, method="sendMessage")
    await client.send_message(OPERATOR_ID, "after the flood")
    assert sleeps.waits == [7, 7]
    assert [s.text for s in emu.sent] == ["after the flood"]


async def test_server_errors_back_off_then_give_up(
    client: TelegramClient, emu: TelegramEmulator, sleeps: Recorder
) -> None:
    emu.fail(times=2, status=502, method="sendMessage")
    await client.send_message(OPERATOR_ID, "eventually")
    assert len(sleeps.waits) == 2 and all(w > 0 for w in sleeps.waits)
    assert [s.text for s in emu.sent] == ["eventually"]

    emu.fail(times=10, status=503)
    with pytest.raises(ChannelError) as info:
        await client.send_message(OPERATOR_ID, "never")
    assert info.value.retryable and "gave up after 4 attempts" in str(info.value)


async def test_bad_token_fails_at_once(emu: TelegramEmulator, http: httpx.AsyncClient, sleeps: Recorder) -> None:
    bad = TelegramClient(http, "nope", base_url=emu.base_url, retry=RetryPolicy(sleep=sleeps))
    with pytest.raises(ChannelError) as info:
        await bad.get_me()
    assert info.value.status == 401 and "Unauthorized" in str(info.value)
    assert sleeps.waits == []


async def test_long_text_is_split_and_documents_are_sent(
    client: TelegramClient, emu: TelegramEmulator, tmp_path: Path
) -> None:
    report = tmp_path / "weekly.md"
    report.write_text("# Weekly report\n")
    long_text = "\n".join(f"line {i}: " + "x" * 90 for i in range(100))

    async def handler(msg: Inbound) -> Reply:
        return Reply(text=long_text, document=report, document_caption="Weekly report")

    channel = make_channel(client, handler, tmp_path)
    emu.send_text(OPERATOR_ID, "weekly report")
    await channel.poll_once()
    texts = [s.text or "" for s in emu.sent if s.kind == "text"]
    assert len(texts) == 3 and all(len(t) <= 4096 for t in texts)
    assert "\n".join(texts) == long_text
    docs = [s for s in emu.sent if s.kind == "document"]
    assert [(d.filename, d.content, d.text) for d in docs] == [("weekly.md", b"# Weekly report\n", "Weekly report")]


async def test_handler_crash_is_answered_and_polling_goes_on(
    client: TelegramClient, emu: TelegramEmulator, tmp_path: Path
) -> None:
    async def handler(msg: Inbound) -> Reply:
        if msg.text == "boom":
            raise RuntimeError("bug")
        return Reply(text="fine")

    channel = make_channel(client, handler, tmp_path)
    emu.send_text(OPERATOR_ID, "boom")
    emu.send_text(OPERATOR_ID, "hello")
    await channel.poll_once()
    assert [s.text for s in emu.sent] == [TURN_CRASHED, "fine"]


async def test_run_loop_long_polls_until_stopped(client: TelegramClient, emu: TelegramEmulator, tmp_path: Path) -> None:
    got = asyncio.Event()

    async def handler(msg: Inbound) -> Reply:
        got.set()
        await asyncio.sleep(0.05)  # stop arrives while this update is being handled
        return Reply(text="pong")

    channel = TelegramChannel(client, handler, {str(OPERATOR_ID): "op-alice"}, workdir=tmp_path, poll_timeout=5)
    stop = asyncio.Event()
    task = asyncio.create_task(channel.run(stop))
    await asyncio.sleep(0.05)  # the loop is now parked in a long poll
    emu.send_text(OPERATOR_ID, "ping")
    await asyncio.wait_for(got.wait(), timeout=10)
    stop.set()
    await asyncio.wait_for(task, timeout=10)  # stops without waiting out the next long poll
    assert [s.text for s in emu.sent] == ["pong"]  # ...but the update in hand was answered


async def test_voice_note_is_downloaded_handed_over_and_cleaned_up(
    client: TelegramClient, emu: TelegramEmulator, tmp_path: Path
) -> None:
    paths: list[Path] = []

    async def handler(msg: Inbound) -> Reply:
        assert msg.audio_path is not None and msg.text is None
        paths.append(msg.audio_path)
        assert msg.audio_path.read_bytes() == b"OggS-pretend-voice"
        return Reply(text="heard you", transcript="what's degraded?", voice_ogg=b"OggS-answer", voice_duration_s=2.4)

    channel = make_channel(client, handler, tmp_path)
    emu.send_voice(OPERATOR_ID, b"OggS-pretend-voice", duration=2)
    await channel.poll_once()
    assert len(paths) == 1 and not paths[0].exists()
    assert [(s.kind, s.text) for s in emu.sent] == [
        ("text", "Heard: “what's degraded?”"),
        ("text", "heard you"),
        ("voice", None),
    ]
    assert emu.sent[2].content == b"OggS-answer" and emu.sent[2].duration == 2


def test_webhook_secret_check() -> None:
    assert check_webhook_secret({"X-Telegram-Bot-Api-Secret-Token": "s3cret"}, "s3cret")
    assert not check_webhook_secret({"X-Telegram-Bot-Api-Secret-Token": "guess"}, "s3cret")
    assert not check_webhook_secret({}, "s3cret")
    assert not check_webhook_secret({"X-Telegram-Bot-Api-Secret-Token": ""}, "")


async def test_webhook_mode(client: TelegramClient, emu: TelegramEmulator, tmp_path: Path) -> None:
    from engine.channels import serve_app

    refusals: list[Refusal] = []

    async def handler(msg: Inbound) -> Reply:
        return Reply(text=f"hooked: {msg.text}")

    channel = make_channel(client, handler, tmp_path, refusals)
    runner, port = await serve_app(channel.webhook_app(secret="hook-secret"))
    try:
        url = f"http://127.0.0.1:{port}/webhook/telegram"
        assert await client.set_webhook(url, "hook-secret")
        with pytest.raises(ChannelError) as info:  # Telegram: no polling while a webhook is set
            await client.get_updates(timeout=0)
        assert info.value.status == 409
        update_id = emu.send_text(OPERATOR_ID, "status")
        assert await emu.push_webhook() == 200
        await channel.drain()
        assert [s.text for s in emu.sent] == ["hooked: status"]

        # A forged call (wrong secret) is refused and audited; a redelivered update is handled once.
        async with httpx.AsyncClient() as http:
            forged = await http.post(url, json={"update_id": 1}, headers={"X-Telegram-Bot-Api-Secret-Token": "x"})
            assert forged.status_code == 401
            again = {
                "update_id": update_id,
                "message": {
                    "message_id": 1,
                    "from": {"id": OPERATOR_ID},
                    "chat": {"id": OPERATOR_ID},
                    "text": "status",
                },
            }
            ok = await http.post(url, json=again, headers={"X-Telegram-Bot-Api-Secret-Token": "hook-secret"})
            assert ok.status_code == 200
        await channel.drain()
        assert len(emu.sent) == 1
        assert [r.reason for r in refusals] == ["bad_signature"]
        assert await client.delete_webhook()
        assert await client.get_updates(timeout=0) == []
    finally:
        await runner.cleanup()
