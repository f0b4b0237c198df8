"""Bad input on the messaging channels (issue 16): a silent note runs nothing, a non-audio file is refused, a
refused send is audited as failed (never as delivered), and Telegram's webhook mode on the API port checks its
secret token before anything runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlmodel import col, select

import voice
from engine.api import run_turn
from engine.api._server import create_app
from engine.channels import (
    NOTHING_HEARD,
    Inbound,
    LiveChannels,
    TelegramEmulator,
    make_voice_handler,
    serve_app,
    start_channels,
)
from engine.runtime import Engine
from engine.store import AuditEntry
from engine.trust import link_identity
from voice._codec import encode_ogg_opus

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


@pytest.mark.voice
async def test_a_silent_note_runs_nothing(tmp_path: Path) -> None:
    turns: list[str] = []

    async def turn(msg: Inbound, text: str) -> str:
        turns.append(text)
        return "ran"

    silent = tmp_path / "silence.ogg"
    silent.write_bytes(encode_ogg_opus(np.zeros(48_000 * 2, dtype=np.float32), 48_000))
    noise = tmp_path / "noise.ogg"
    noise.write_bytes(b"this is not audio at all" * 100)
    handler = make_voice_handler(turn)
    quiet = await handler(Inbound("telegram", "1", "op", "m1", audio_path=silent))
    junk = await handler(Inbound("telegram", "1", "op", "m2", audio_path=noise))
    assert quiet is not None and quiet.text == NOTHING_HEARD and quiet.speak is None
    assert junk is not None and junk.text and junk.speak is None and "ran" not in junk.text
    assert turns == [] and voice.available()


@pytest.fixture
async def webhook_rig(clawops_home: Path) -> AsyncIterator[tuple[Engine, TelegramEmulator, LiveChannels, str]]:
    async with TelegramEmulator() as emu:
        engine = Engine.open(
            demo_pairs=20,
            demo_providers="sim",
            telegram_bot_token=emu.token,
            telegram_api_base=emu.base_url,
            telegram_webhook_secret="s3cret-token",
            telegram_webhook_url="http://127.0.0.1:1/placeholder",
        )
        link_identity(engine.store, engine.caller(), "owner", "telegram", str(OWNER))
        runner, port = await serve_app(create_app(engine))
        url = f"http://127.0.0.1:{port}/webhook/telegram"
        engine.settings.telegram_webhook_url = url  # where Telegram (the emulator) is told to POST
        live = await start_channels(engine, run_turn, warm_voice=False)
        try:
            await until("setWebhook", lambda: emu.webhook is not None)
            yield engine, emu, live, url
        finally:
            await live.stop()
            await runner.cleanup()
            engine.close()


async def test_telegram_webhook_mode_on_the_api_port(webhook_rig: Any) -> None:
    engine, emu, _, url = webhook_rig
    assert emu.webhook == (url, "s3cret-token")
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "from": {"id": OWNER, "is_bot": False},
            "chat": {"id": OWNER, "type": "private"},
            "text": "fleet status",
        },
    }
    async with httpx.AsyncClient() as http:
        forged = await http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"})
        bare = await http.post(url, json=update)
        junk = await http.post(url, content=b"[1, 2", headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"})
    assert (forged.status_code, bare.status_code, junk.status_code) == (401, 401, 400)
    assert emu.sent == []  # nothing ran
    emu.send_text(OWNER, "fleet status")
    assert await emu.push_webhook() == 200
    reply = await until("the answer", lambda: [s for s in emu.sent if s.chat_id == str(OWNER)])
    assert "DEMO" in (reply[0].text or "")


async def test_a_refused_send_is_audited_as_failed(webhook_rig: Any) -> None:
    engine, emu, _, _ = webhook_rig
    emu.fail(times=1, status=403, method="sendMessage")  # the owner blocked the bot
    result = await engine.channel_hub.send_to_operator("owner", "this one is refused")
    assert result.statuses == {"telegram": "failed"} and not result.delivered
    assert "bot was blocked by the user" in result.errors["telegram"]  # the API's reason, for the log and the chat
    with engine.store.session() as s:
        rows = s.exec(select(AuditEntry).where(col(AuditEntry.action) == "channel.delivery")).all()
    assert [(r.outcome, r.channel) for r in rows] == [("failed", "telegram")]


async def test_a_group_chat_gets_no_fleet_data(tmp_path: Path) -> None:
    from engine.channels import Refusal, Reply, TelegramChannel, TelegramClient

    handled: list[Inbound] = []
    refusals: list[Refusal] = []

    async def handler(msg: Inbound) -> Reply:
        handled.append(msg)
        return Reply(text="fleet data")

    async with TelegramEmulator() as emu, httpx.AsyncClient() as http:
        channel = TelegramChannel(
            TelegramClient(http, emu.token, base_url=emu.base_url),
            handler,
            {str(OWNER): "op"},
            audit=refusals.append,
            workdir=tmp_path,
        )
        await channel.handle_update(
            {
                "update_id": 1,
                "message": {
                    "message_id": 1,
                    "from": {"id": OWNER, "is_bot": False},
                    "chat": {"id": -100, "type": "group"},
                    "text": "fleet status",
                },
            }
        )
        await channel.handle_update({"update_id": 2, "message": {"message_id": 2, "from": "junk", "text": "x"}})
    assert handled == [] and emu.sent == []
    assert [(r.reason, r.detail) for r in refusals] == [("unsupported_message", "group chat")]
