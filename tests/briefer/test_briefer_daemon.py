"""The real daemon process (``clawops engine``) and the Telegram Bot API emulator, as an operator meets them:
a briefing missed while the daemon was down (40 minutes ago) arrives at start-up with a note saying it is
late — voice note, text and the HTML report — and "brief me now" in the chat brings them again at once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.briefer import set_prefs
from engine.channels import SentMessage, TelegramEmulator
from engine.runtime import Engine
from engine.store import ChannelIdentity

pytestmark = pytest.mark.voice
ROOT = Path(__file__).resolve().parents[2]
CHAT = 4242


async def _until(emu: TelegramEmulator, kinds: set[str], after: int, limit: float = 180.0) -> list[SentMessage]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        mine = [m for m in emu.sent[after:] if m.chat_id == str(CHAT)]
        if kinds <= {m.kind for m in mine}:
            return mine
        await asyncio.sleep(0.25)
    raise AssertionError(f"wanted {kinds}, the bot sent {[(m.chat_id, m.kind, m.text) for m in emu.sent[after:]]}")


def _failed_deliveries(home: Path) -> list[str]:
    return [line for line in (home / "daemon.log").read_text().splitlines() if "delivery FAILED" in line]


async def test_daemon_catches_up_a_missed_briefing_and_briefs_on_request(clawops_home: Path) -> None:
    due = datetime.now(UTC) - timedelta(minutes=40)
    engine = Engine.open(demo_pairs=20, demo_providers="sim")
    try:
        set_prefs(
            engine.store,
            "op-owner",
            at=f"{due:%H:%M}",
            channels="telegram",
            no_weekly=True,
            now=due - timedelta(days=1),
        )
        with engine.store.session() as s:
            s.add(ChannelIdentity(channel="telegram", external_id=str(CHAT), operator_id="op-owner"))
    finally:
        engine.close()

    async with TelegramEmulator() as emu:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLAWOPS_")} | {
            "CLAWOPS_HOME": str(clawops_home),
            "CLAWOPS_DEMO_PAIRS": "20",
            "CLAWOPS_DEMO_PROVIDERS": "sim",
            "CLAWOPS_TELEGRAM_BOT_TOKEN": emu.token,
            "CLAWOPS_TELEGRAM_API_BASE": emu.base_url,
            "CLAWOPS_GATEWAY_PORT": "0",
        }
        log = (clawops_home / "daemon.log").open("w")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli",
            "engine",
            "--port",
            "0",
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            late = await _until(emu, {"voice", "text", "document"}, 0)
            text = next(m.text or "" for m in late if m.kind == "text")
            assert "was due at" in text and "late" in text, text  # said once, in the caught-up briefing
            doc = next(m for m in late if m.kind == "document")
            assert doc.filename and doc.filename.endswith(".html") and doc.content and b"<svg" in doc.content

            before = len(emu.sent)
            emu.send_text(CHAT, "brief me now")
            now = await _until(emu, {"voice", "document"}, before)
            assert not any("was due at" in (m.text or "") for m in now)  # only the caught-up one said so
            assert _failed_deliveries(clawops_home) == []
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 60)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            log.close()
