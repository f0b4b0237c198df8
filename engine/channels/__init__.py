"""Messaging channels (Telegram, WhatsApp): one interface, allow-listed senders, loopback emulators.

The engine wires a channel with a ``Handler`` (``async (Inbound) -> Reply | None``), an allow-list
mapping sender ids to operator ids, and an audit hook for refused senders. See ``_base`` for the
shared types.
"""

from __future__ import annotations

from engine.channels._base import (
    CHANNEL_RETRY,
    TURN_CRASHED,
    AuditHook,
    ChannelError,
    Handler,
    Inbound,
    Outbox,
    Refusal,
    Reply,
    RetryPolicy,
    SeenIds,
    Senders,
    SendStatus,
    SpeakLater,
    Strangers,
    deliver_reply,
    lookup_operator,
)
from engine.channels._hub import ChannelHub, DeliveryResult, LiveChannel
from engine.channels._live import LiveChannels, RunTurn, channel_turn, identity_lookup, start_channels
from engine.channels._loopback import serve_app
from engine.channels.telegram import TELEGRAM_API, TelegramChannel, TelegramClient, check_webhook_secret
from engine.channels.telegram_emulator import SentMessage, TelegramEmulator
from engine.channels.voice_turns import NOTHING_HEARD, ReplyVoice, TurnFn, make_voice_handler, speakable
from engine.channels.whatsapp import GRAPH_API, WhatsAppChannel, WhatsAppClient, sign_payload, verify_signature
from engine.channels.whatsapp_emulator import WhatsAppEmulator, WhatsAppSent

__all__ = [
    "CHANNEL_RETRY",
    "LiveChannels",
    "RunTurn",
    "channel_turn",
    "identity_lookup",
    "start_channels",
    "GRAPH_API",
    "NOTHING_HEARD",
    "TELEGRAM_API",
    "AuditHook",
    "ChannelError",
    "ChannelHub",
    "DeliveryResult",
    "Handler",
    "Inbound",
    "LiveChannel",
    "Outbox",
    "Refusal",
    "Reply",
    "ReplyVoice",
    "RetryPolicy",
    "SeenIds",
    "SendStatus",
    "Senders",
    "SentMessage",
    "SpeakLater",
    "Strangers",
    "TURN_CRASHED",
    "TelegramChannel",
    "TelegramClient",
    "TelegramEmulator",
    "TurnFn",
    "WhatsAppChannel",
    "WhatsAppClient",
    "WhatsAppEmulator",
    "WhatsAppSent",
    "check_webhook_secret",
    "deliver_reply",
    "lookup_operator",
    "make_voice_handler",
    "serve_app",
    "sign_payload",
    "speakable",
    "verify_signature",
]
