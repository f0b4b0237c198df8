"""Done-when: the daily briefing job produces the voice note and the report at the scheduled time
(controlled clock), delivers them through Telegram (sendVoice + sendDocument arrive at the emulator),
is not repeated after a restart, and a run missed while the engine was down is caught up once."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

import voice
from engine.briefer import run_due_briefings, set_schedule, telegram_sender
from engine.channels import RetryPolicy, TelegramClient, TelegramEmulator
from engine.runtime import Engine
from engine.store import AuditEntry, ChannelIdentity
from tests.speech_kit import STEADY_VOICE

pytestmark = pytest.mark.voice


def _runs(engine: Engine) -> list[dict[str, Any]]:
    with engine.store.session() as s:
        rows = s.exec(
            select(AuditEntry.detail).where(col(AuditEntry.action) == "briefing.daily").order_by(col(AuditEntry.seq))
        ).all()
    return [json.loads(r) for r in rows]


async def test_daily_job_at_0700_speaks_reports_delivers_and_catches_up_once(clawops_home: Path) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    slot = tomorrow.replace(hour=7)
    engine = Engine.open(demo_pairs=40)
    set_schedule(
        engine.store,
        "op-owner",
        at="07:00",
        channel="telegram",
        kinds=("daily",),
        now=datetime.now(UTC) - timedelta(days=1),
    )
    with engine.store.session() as s:
        s.add(ChannelIdentity(channel="telegram", external_id="4242", operator_id="op-owner"))

    async with TelegramEmulator() as emu, httpx.AsyncClient() as http:
        client = TelegramClient(http, emu.token, base_url=emu.base_url, retry=RetryPolicy(attempts=2, base_delay_s=0))
        senders = {"telegram": lambda chat_id: telegram_sender(client, chat_id)}

        assert (
            await run_due_briefings(engine, slot - timedelta(minutes=1), senders=senders, voice_config=STEADY_VOICE)
            == []
        )
        (run,) = await run_due_briefings(engine, slot, senders=senders, voice_config=STEADY_VOICE)
        b = run.briefing
        assert b is not None and run.error is None and run.delivered == {"telegram": None}
        assert run.due.slot == slot and not run.due.catch_up
        assert b.voice_path is not None and b.voice_path.read_bytes()[:4] == b"OggS"
        assert b.duration_s is not None and 10 <= b.duration_s <= 45  # the spoken part stays under 45 s
        assert b.html_path.parent == clawops_home / "reports" and b.markdown_path.exists()
        assert [(m.chat_id, m.kind) for m in emu.sent] == [("4242", "voice"), ("4242", "text"), ("4242", "document")]
        assert emu.sent[0].content == b.voice_path.read_bytes()
        assert emu.sent[2].filename == b.html_path.name and emu.sent[2].content is not None
        assert b"<svg" in emu.sent[2].content
        assert (emu.sent[1].text or "").startswith("[Briefer]")

        # the scheduler keeps ticking: the slot is done
        assert await run_due_briefings(engine, slot + timedelta(minutes=1), senders=senders) == []
        engine.close()
        engine = Engine.open(demo_pairs=40)  # a restart does not repeat it either
        assert await run_due_briefings(engine, slot + timedelta(minutes=5), senders=senders) == []

        # next day the engine is down at 07:00 and comes back at 09:30: one catch-up, then nothing
        back = slot + timedelta(days=1, hours=2, minutes=30)
        (late,) = await run_due_briefings(engine, back, senders=senders, speak=False)
        assert late.due.catch_up and late.due.slot == slot + timedelta(days=1) and late.briefing is not None
        assert await run_due_briefings(engine, back + timedelta(minutes=1), senders=senders) == []
        engine.close()

    slots = [r["slot"] for r in _runs(Engine.open(demo_pairs=40))]
    assert slots == [slot.isoformat(), (slot + timedelta(days=1)).isoformat()]
    # the spoken note carries the facts (real faster-whisper on the real OGG)
    heard = voice.transcribe(b.voice_path, STEADY_VOICE).text.lower()
    said = set(re.findall(r"[a-z]{5,}", b.text.lower()))
    assert len(said & set(re.findall(r"[a-z]{5,}", heard))) >= 0.7 * len(said), heard  # meaning, not exact words
