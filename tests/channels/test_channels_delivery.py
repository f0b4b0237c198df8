"""Delivery on the messaging channels (issue 16): one chat's wait never holds up another's, replies held back by an
outage go out on their own once the API answers again (in order, once each), a flood of strangers is not answered
without limit, long replies are cut where the APIs count (UTF-16 code units, so an emoji counts two), and updates
handled as the engine stops are confirmed to Telegram, so the next start does not run them a second time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from engine.channels import (
    ChannelError,
    Inbound,
    Outbox,
    Reply,
    Strangers,
    TelegramChannel,
    TelegramClient,
    TelegramEmulator,
)
from engine.channels.telegram import split_text, units


async def test_one_recipients_wait_never_holds_up_another() -> None:
    outbox = Outbox()
    release = asyncio.Event()
    sent: list[str] = []

    async def slow() -> None:  # a chat in a long flood wait
        await release.wait()
        sent.append("a")

    async def fast() -> None:
        sent.append("b")

    waiting = asyncio.create_task(outbox.send("chat-a", "text", slow))
    await asyncio.sleep(0)
    assert await outbox.send("chat-b", "text", fast) == "sent"
    assert sent == ["b"] and not waiting.done()
    release.set()
    assert await waiting == "sent" and sent == ["b", "a"]


async def test_held_back_replies_go_out_by_themselves_in_order_once() -> None:
    down = [True]
    delivered: list[str] = []

    def part(name: str) -> Callable[[], Awaitable[None]]:
        async def send() -> None:
            if down[0]:
                raise ChannelError("the API is unreachable", retryable=True)
            delivered.append(name)

        return send

    late: list[str] = []
    outbox = Outbox(first_retry_s=0.01, on_late_send=lambda key, label, tries: late.append(label))
    stop = asyncio.Event()
    runner = asyncio.create_task(outbox.run(stop, interval_s=0.05))
    try:
        assert [await outbox.send("chat", label, part(label)) for label in ("heard", "text", "voice")] == [
            "queued",
            "queued",
            "queued",
        ]
        await asyncio.sleep(0.05)
        assert delivered == [] and outbox.pending("chat") == 3  # still down: nothing lost, nothing sent twice
        down[0] = False
        async with asyncio.timeout(30):
            while outbox.pending():
                await asyncio.sleep(0.01)
    finally:
        stop.set()
        await runner
    assert delivered == ["heard", "text", "voice"]
    assert late == ["heard", "text", "voice"]  # each "queued" is followed by its "sent" (log and audit)


async def test_a_refused_part_keeps_the_apis_reason() -> None:
    async def refused() -> None:
        raise ChannelError("Telegram refused sendDocument: Bad Request: file is too big.", status=400)

    failures: list[tuple[str, str, str]] = []
    outbox = Outbox(on_failure=lambda key, label, why: failures.append((key, label, why)))
    assert await outbox.send("42", "document", refused) == "failed"
    assert outbox.failure("42") == "Telegram refused sendDocument: Bad Request: file is too big."
    assert failures == [("42", "document", "Telegram refused sendDocument: Bad Request: file is too big.")]


def test_strangers_are_answered_once_each_and_not_without_limit() -> None:
    now = [0.0]
    strangers = Strangers(window_s=3600, per_minute=3, clock=lambda: now[0])
    assert [strangers.answer(s) for s in ("1", "1", "2", "3", "4")] == [True, False, True, True, False]
    now[0] = 61.0  # the flood is over: "4" was never answered, so it still gets its one refusal
    assert [strangers.answer(s) for s in ("4", "1")] == [True, False]


def test_long_replies_are_cut_where_the_apis_count() -> None:
    for text in ("a" * 5000, "🙂" * 3000, ("line of text " * 30 + "\n") * 60):
        pieces = split_text(text, 4096)
        assert len(pieces) > 1 and all(0 < units(p) <= 4096 for p in pieces)
        assert "".join(pieces).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")
    assert split_text("short", 4096) == ["short"]


async def test_updates_handled_as_polling_stops_are_confirmed_so_a_restart_does_not_run_them_again(
    tmp_path: Path,
) -> None:
    stop = asyncio.Event()
    handled: list[str | None] = []

    class StopsAfterThisBatch(TelegramClient):
        async def get_updates(self, offset: int | None = None, timeout: int = 25) -> list[dict[str, Any]]:
            updates = await super().get_updates(offset, timeout)
            if updates:
                stop.set()  # the engine is told to stop while this batch is on its way
            return updates

    async def handler(msg: Inbound) -> Reply:
        handled.append(msg.text)
        return Reply(text="done")

    async with TelegramEmulator() as emu, httpx.AsyncClient() as http:
        channel = TelegramChannel(
            StopsAfterThisBatch(http, emu.token, base_url=emu.base_url),
            handler,
            {"5": "op"},
            workdir=tmp_path,
            poll_timeout=1,
        )
        emu.send_text(5, "restart acct-001")
        await channel.run(stop)
        assert handled == ["restart acct-001"] and [s.text for s in emu.sent] == ["done"]
        assert emu.pending_updates() == 0  # Telegram holds nothing to hand the next start


async def test_a_chat_waits_for_its_earlier_message_unless_that_one_released_it(tmp_path: Path) -> None:
    job_ends = asyncio.Event()

    async def handler(msg: Inbound) -> Reply:
        if msg.text == "go":  # its turn now waits for the job it started...
            if msg.release is not None:
                msg.release()
            await job_ends.wait()
            return Reply(text="job done")
        if msg.text == "slow":
            await asyncio.sleep(0.05)  # ...while a turn that does not say so keeps its place in the chat
        return Reply(text=f"answer to {msg.text}")

    async with TelegramEmulator() as emu, httpx.AsyncClient() as http:
        channel = TelegramChannel(
            TelegramClient(http, emu.token, base_url=emu.base_url),
            handler,
            {"5": "op"},
            workdir=tmp_path,
            poll_timeout=1,
        )
        for text in ("slow", "quick", "go", "stop that"):
            emu.send_text(5, text)
        stop = asyncio.Event()
        polling = asyncio.create_task(channel.run(stop))
        async with asyncio.timeout(30):
            while len(emu.sent) < 3:
                await asyncio.sleep(0.01)
            job_ends.set()
            stop.set()
            await polling
    assert [s.text for s in emu.sent] == ["answer to slow", "answer to quick", "answer to stop that", "job done"]


async def test_a_turn_refused_by_the_engine_answers_with_its_own_sentence(clawops_home: Path) -> None:
    """A message the engine refuses (far too long here) gets the engine's one sentence on the phone, never a
    generic "something went wrong; please try again"."""
    from engine.api import run_turn
    from engine.channels import channel_turn
    from engine.runtime import Engine
    from engine.trust import link_identity

    engine = Engine.open(demo_pairs=4, demo_providers="sim")
    try:
        link_identity(engine.store, engine.caller("owner"), "owner", "telegram", "4242")
        turn = channel_turn(engine, run_turn)
        inbound = Inbound(channel="telegram", sender_id="4242", operator_id="owner", message_id="1", text="")
        reply = await turn(inbound, "fleet status " * 5_000)
        assert "characters long; send at most" in str(reply) and "try again" not in str(reply)
    finally:
        engine.close()
