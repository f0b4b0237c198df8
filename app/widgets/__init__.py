"""The chat's widgets: one per message in the transcript, plus the prompt and its helpers."""

from __future__ import annotations

from app.widgets.flash import Flash, Throbber
from app.widgets.plan_card import PlanCard
from app.widgets.progress import JobProgressMessage
from app.widgets.prompt import Prompt
from app.widgets.slash_complete import SlashComplete
from app.widgets.transcript import AgentMessage, CopyRequested, ErrorNote, SystemNote, Transcript, TrimNote, UserMessage
from app.widgets.voice_note import VoiceNoteMessage

__all__ = [
    "AgentMessage",
    "CopyRequested",
    "ErrorNote",
    "Flash",
    "JobProgressMessage",
    "PlanCard",
    "Prompt",
    "SlashComplete",
    "SystemNote",
    "Throbber",
    "Transcript",
    "TrimNote",
    "UserMessage",
    "VoiceNoteMessage",
]
