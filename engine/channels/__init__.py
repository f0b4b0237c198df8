"""Messaging channels (Telegram, WhatsApp): one interface, allow-listed senders, loopback emulators.

The engine wires a channel with a ``Handler`` (``async (Inbound) -> Reply | None``), an allow-list
mapping sender ids to operator ids, and an audit hook for refused senders. See ``_base`` for the
shared types.
"""

from __future__ import annotations

from engine.channels._base import (
    AuditHook,
    ChannelError,
    Handler,
    Inbound,
    Refusal,
    Reply,
    RetryPolicy,
    SeenIds,
    lookup_operator,
)
from engine.channels.telegram import TELEGRAM_API, TelegramChannel, TelegramClient, check_webhook_secret
from engine.channels.telegram_emulator import SentMessage, TelegramEmulator

__all__ = [
    "TELEGRAM_API",
    "AuditHook",
    "ChannelError",
    "Handler",
    "Inbound",
    "Refusal",
    "Reply",
    "RetryPolicy",
    "SeenIds",
    "SentMessage",
    "TelegramChannel",
    "TelegramClient",
    "TelegramEmulator",
    "check_webhook_secret",
    "lookup_operator",
]
