"""Delivery: the voice note, its text and the HTML report, sent through the channel clients.

A sender is bound to one recipient on one channel (``telegram_sender(client, chat_id)``), so
``deliver`` does not care which app it talks to.  When a channel's ``Outbox`` is passed, every part
goes through it: a Telegram outage then delays the briefing (all parts, in order, once each) instead
of losing it.  One channel failing never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from engine.errors import ClawOpsError

if TYPE_CHECKING:
    from engine.briefer._produce import Briefing
    from engine.channels import Outbox, TelegramClient, WhatsAppClient

__all__ = ["BriefingSender", "deliver", "telegram_sender", "whatsapp_sender"]

log = logging.getLogger("clawops.briefer")

BriefingSender = Callable[["Briefing"], Awaitable[None]]
"""Sends one briefing to one recipient; raises ``ClawOpsError`` (e.g. ``ChannelError``) on failure."""

Send = Callable[[], Awaitable[object]]


def _message(briefing: Briefing) -> str:
    return f"[Briefer] {briefing.title}\n\n{briefing.text}"


async def _submit(outbox: Outbox | None, key: str, label: str, send: Send) -> None:
    if outbox is None:
        await send()
    else:
        await outbox.submit(key, label, send)


def telegram_sender(client: TelegramClient, chat_id: int | str, *, outbox: Outbox | None = None) -> BriefingSender:
    """Voice note (sendVoice), then the text, then the HTML report (sendDocument) to one Telegram chat."""

    async def send(briefing: Briefing) -> None:
        key = str(chat_id)
        voice_path, duration = briefing.voice_path, briefing.duration_s
        if voice_path is not None:
            ogg = voice_path.read_bytes()
            await _submit(
                outbox,
                key,
                "briefing voice",
                lambda: client.send_voice(chat_id, ogg, duration_s=duration, caption=briefing.title),
            )
        text = _message(briefing)
        await _submit(outbox, key, "briefing text", lambda: client.send_message(chat_id, text))
        report = briefing.html_path.read_bytes()
        await _submit(
            outbox,
            key,
            "briefing report",
            lambda: client.send_document(chat_id, report, briefing.html_path.name, caption=briefing.title),
        )

    return send


def whatsapp_sender(client: WhatsAppClient, to: str, *, outbox: Outbox | None = None) -> BriefingSender:
    """The same three parts to one WhatsApp number (voice note as audio, report as a document)."""

    async def send(briefing: Briefing) -> None:
        voice_path = briefing.voice_path
        if voice_path is not None:
            ogg = voice_path.read_bytes()
            await _submit(outbox, to, "briefing voice", lambda: client.send_voice(to, ogg))
        text = _message(briefing)
        await _submit(outbox, to, "briefing text", lambda: client.send_text(to, text))
        report = briefing.html_path.read_bytes()
        await _submit(
            outbox,
            to,
            "briefing report",
            lambda: client.send_document(to, report, briefing.html_path.name, caption=briefing.title),
        )

    return send


async def deliver(briefing: Briefing, channel_senders: Mapping[str, BriefingSender]) -> dict[str, str | None]:
    """Send ``briefing`` through every sender; return name → None (sent or queued) or the error sentence."""
    results: dict[str, str | None] = {}
    for name, send in channel_senders.items():
        try:
            await send(briefing)
            results[name] = None
        except ClawOpsError as exc:
            log.warning("briefing delivery via %s failed: %s", name, exc)
            results[name] = str(exc)
        except OSError as exc:  # the report or voice file vanished between production and delivery
            log.warning("briefing delivery via %s failed: %s", name, exc)
            results[name] = f"The briefing files could not be read ({exc.strerror or exc}); produce it again."
    return results
