"""In the daemon's channel wiring (``start_channels``): a confirmed job's progress is one Telegram message edited
in place (editMessageText) ending on the job's end, and the reply reports the end; WhatsApp status webhooks
and Telegram webhook calls without the secret run nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from engine.api import run_turn
from engine.channels import ChannelHub, LiveChannels, RetryPolicy, SentMessage, TelegramEmulator, start_channels
from engine.runtime import Engine
from engine.trust import link_identity

OWNER = 4242


async def until(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    async def poll() -> Any:
        while not (found := check()):
            await asyncio.sleep(0.05)
        return found

    try:
        return await asyncio.wait_for(poll(), timeout)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@pytest.fixture
async def rig(clawops_home: Path) -> AsyncIterator[tuple[Engine, TelegramEmulator, LiveChannels]]:
    async with TelegramEmulator() as emu:
        engine = Engine.open(
            demo_pairs=40,
            demo_providers="sim",
            telegram_bot_token=emu.token,
            telegram_api_base=emu.base_url,
            telegram_webhook_url=None,
        )
        link_identity(engine.store, engine.caller(), "owner", "telegram", str(OWNER))
        engine.ops.background_jobs = True  # as in the daemon
        live = await start_channels(engine, run_turn, warm_voice=False)
        try:
            yield engine, emu, live
        finally:
            await live.stop()
            engine.close()


def texts(emu: TelegramEmulator) -> list[SentMessage]:
    return [s for s in emu.sent if s.chat_id == str(OWNER) and s.kind == "text"]


async def test_job_progress_is_edited_in_place_and_the_end_is_reported(rig: Any) -> None:
    engine, emu, _ = rig
    emu.send_text(OWNER, "restart everything degraded")
    plan = await until("the plan card", lambda: texts(emu))
    assert "Confirm" in (plan[0].text or "") or "go" in (plan[0].text or "").lower()
    emu.send_text(OWNER, "go")
    await until("the job's end", lambda: len(texts(emu)) >= 3)
    progress, end = texts(emu)[1], texts(emu)[-1]
    assert progress.edits, "the progress line was edited in place, not sent again"
    assert "done" in (progress.text or "") and "job" in (end.text or "").lower()
    assert engine.channel_hub.live.keys() == {"telegram"}
    assert "not configured" in engine.channel_hub.down["whatsapp"]


async def test_send_to_operator_reports_per_channel_truthfully(rig: Any) -> None:
    engine, emu, _ = rig
    hub: ChannelHub = engine.channel_hub
    ok = await hub.send_to_operator("owner", "hello from the briefer")
    assert ok.ok and ok.statuses == {"telegram": "sent"}
    assert any(s.text == "hello from the briefer" for s in emu.sent)
    missing = await hub.send_to_operator("owner", "x", channels=["whatsapp"])
    assert not missing.delivered and "not running" in missing.errors["whatsapp"]
    hub.live["telegram"].client._retry = RetryPolicy(attempts=1)  # type: ignore[attr-defined]  # fail fast
    emu.fail(times=1000, status=502, method="sendMessage")
    down = await hub.send_to_operator("owner", "during the outage")
    assert down.statuses == {"telegram": "queued"} and not down.ok and down.delivered
    emu.clear_faults()
    assert await hub.live["telegram"].outbox.flush() == 1  # type: ignore[attr-defined]
    assert any(s.text == "during the outage" for s in emu.sent)
    refused = await hub.send_to_operator("nobody", "x")
    assert not refused.delivered and "no linked" in refused.errors["telegram"]


async def test_bad_webhooks_and_statuses_run_nothing(tmp_path: Path) -> None:
    import httpx

    from engine.channels import (
        Inbound,
        Reply,
        TelegramChannel,
        TelegramClient,
        WhatsAppChannel,
        WhatsAppClient,
        sign_payload,
    )

    handled: list[Inbound] = []

    async def handler(msg: Inbound) -> Reply:
        handled.append(msg)
        return Reply(text="ok")

    async with httpx.AsyncClient() as http, TelegramEmulator() as emu:
        tg = TelegramChannel(
            TelegramClient(http, emu.token, base_url=emu.base_url), handler, {str(OWNER): "op"}, workdir=tmp_path
        )
        update = {
            "update_id": 7,
            "message": {
                "message_id": 1,
                "from": {"id": OWNER, "is_bot": False},
                "chat": {"id": OWNER, "type": "private"},
                "text": "hi",
            },
        }
        body = json.dumps(update).encode()
        assert (await tg.receive(body, {"X-Telegram-Bot-Api-Secret-Token": "guess"}, "s3cret"))[0] == 401
        assert (await tg.receive(b"{not json", {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}, "s3cret"))[0] == 400
        assert (await tg.receive(b'{"message": {}}', {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}, "s3cret"))[0] == 400
        for _ in range(2):  # Telegram redelivers: handled once
            assert (await tg.receive(body, {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}, "s3cret"))[0] == 200
        await tg.drain()
        assert len(handled) == 1

        wa = WhatsAppChannel(
            WhatsAppClient(http, "t", "1"),
            handler,
            {"491701234567": "op"},
            app_secret="app",
            verify_token="v",
            workdir=tmp_path,
        )
        statuses = json.dumps(
            {
                "object": "whatsapp_business_account",
                "entry": [
                    {
                        "changes": [
                            {"field": "messages", "value": {"statuses": [{"id": "wamid.1", "status": "delivered"}]}}
                        ]
                    }
                ],
            }
        ).encode()
        assert await wa.receive(statuses, {"X-Hub-Signature-256": sign_payload(statuses, "app")}) == 200
        junk = b'{"entry": 5}'
        assert await wa.receive(junk, {"X-Hub-Signature-256": sign_payload(junk, "app")}) == 400
        await wa.drain()
        assert len(handled) == 1  # statuses and junk ran nothing
