"""Voice turns: the reference ``Handler`` that makes any channel speak.

An inbound voice note is transcribed; the transcript goes back to the operator (so they see what
was heard) and into the conversation like typed text; the answer comes back as text and, depending
on ``reply_voice``, as a voice note too. Every voice failure degrades to text with a one-sentence
explanation: a bad recording or a box without the voice extra never loses the operator's turn.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Literal

import voice
from engine.channels._base import Handler, Inbound, Reply

__all__ = ["ReplyVoice", "TurnFn", "make_voice_handler", "speakable"]

log = logging.getLogger("clawops.channels.voice")

ReplyVoice = Literal["always", "after_voice", "never"]
TurnFn = Callable[[Inbound, str], Awaitable[str]]
"""Runs one conversation turn for the operator of ``Inbound`` with this text; returns the reply text."""

_TAG = re.compile(r"^\s*\[[A-Za-z]+\]\s*", re.MULTILINE)


def speakable(text: str) -> str:
    """The reply as it should be spoken: agent tags like "[CMD]" and markdown marks dropped."""
    text = _TAG.sub("", text)
    text = re.sub(r"[*_`#>|]+", " ", text)
    return " ".join(text.split())


def make_voice_handler(
    turn: TurnFn,
    *,
    reply_voice: ReplyVoice = "after_voice",
    config: voice.VoiceConfig | None = None,
) -> Handler:
    """Wrap a text conversation ``turn`` into a channel ``Handler`` that listens and speaks."""

    async def handler(msg: Inbound) -> Reply | None:
        transcript: str | None = None
        if msg.audio_path is not None:
            if not voice.available(config):
                return Reply(text=f"{voice.unavailable_reason(config)} Please send your request as text.")
            try:
                # Bytes, not the path: error messages then say "the recording", never a temp file name.
                heard = await voice.atranscribe(msg.audio_path.read_bytes(), config)
            except voice.VoiceError as exc:
                return Reply(text=str(exc))
            transcript = heard.text
            text = heard.text
        else:
            text = msg.text or ""
        answer = await turn(msg, text)
        speak = reply_voice == "always" or (reply_voice == "after_voice" and msg.is_voice)
        ogg: bytes | None = None
        duration: float | None = None
        if speak and answer.strip() and voice.available(config):
            try:
                ogg = await voice.asynthesize(speakable(answer), config)
                duration = voice.probe(ogg)
            except voice.VoiceError as exc:  # the text answer still goes out
                log.warning("could not speak the reply: %s", exc)
                ogg = None
        return Reply(text=answer, transcript=transcript, voice_ogg=ogg, voice_duration_s=duration)

    return handler
