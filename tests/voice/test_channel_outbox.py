"""Outbound messages survive an API outage: queued, retried in order per recipient, delivered once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from engine.channels import (
    ChannelError,
    Inbound,
    Outbox,
    Reply,
    RetryPolicy,
    TelegramChannel,
    TelegramClient,
    TelegramEmulator,
)


async def no_sleep(seconds: float) -> None:
    return None


async def test_reply_during_outage_is_delivered_later_in_order(tmp_path: Path) -> None:
    async def handler(msg: Inbound) -> Reply:
        return Reply(text=f"answer to {msg.text}", transcript="heard", voice_ogg=b"OggS")

    async with TelegramEmulator() as emu, httpx.AsyncClient() as http:
        client = TelegramClient(http, emu.token, base_url=emu.base_url, retry=RetryPolicy(attempts=2, sleep=no_sleep))
        channel = TelegramChannel(client, handler, {"5": "op"}, workdir=tmp_path, poll_timeout=0)
        emu.fail(times=100, status=502, method="sendVoice")
        emu.send_text(5, "first")
        await channel.poll_once()
        # The transcript and the text went out; the voice note failed, so it waits.
        assert [s.text for s in emu.sent] == ["Heard: “heard”", "answer to first"]
        assert channel.outbox.pending("5") == 1
        emu.clear_faults()
        emu.send_text(5, "second")
        await channel.poll_once()  # queued behind the undelivered parts, never sent ahead of them
        assert channel.outbox.pending("5") == 4
        assert await channel.outbox.flush() == 4
        assert channel.outbox.pending() == 0
        assert await channel.outbox.flush() == 0
    assert [(s.kind, s.text) for s in emu.sent] == [
        ("text", "Heard: “heard”"),
        ("text", "answer to first"),
        ("voice", None),
        ("text", "Heard: “heard”"),
        ("text", "answer to second"),
        ("voice", None),
    ]


async def test_refused_sends_are_dropped_and_old_ones_expire() -> None:
    now = [0.0]
    outbox = Outbox(max_age_s=60, clock=lambda: now[0])
    delivered: list[str] = []

    async def refused() -> None:
        raise ChannelError("Telegram refused sendMessage: Bad Request: chat not found.", status=400)

    async def down() -> None:
        raise ChannelError("Telegram is unreachable.", retryable=True)

    def ok(label: str) -> Callable[[], Awaitable[None]]:
        async def send() -> None:
            delivered.append(label)

        return send

    await outbox.submit("a", "bad", refused)
    assert outbox.pending("a") == 0  # a refusal cannot succeed later: dropped (and logged)
    assert await outbox.submit("a", "one", ok("one"))
    assert not await outbox.submit("b", "stuck", down)
    assert not await outbox.submit("b", "after", ok("after"))
    assert outbox.pending() == 2
    now[0] = 61.0  # both have waited past max_age: dropped, not sent a day late
    assert await outbox.flush() == 2
    assert delivered == ["one"] and outbox.pending() == 0
