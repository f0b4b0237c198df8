"""Voice turns: the reference ``Handler`` that makes any channel speak.

An inbound voice note is transcribed; the transcript goes back to the operator ("Heard: …", so they
see what was heard) and into the conversation like typed text; the answer comes back as text at once
and, depending on ``reply_voice``, as a voice note after it: speech is synthesised only once the text
is on its way (``Reply.speak``), so the text never waits for it. Every voice failure degrades to text
with a one-sentence explanation: a bad recording or a box without the voice extra never loses the
operator's turn, and a silent or noisy note runs nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import lru_cache
from typing import Literal

import voice
from engine.channels._base import Handler, Inbound, Reply, SpeakLater

__all__ = [
    "NOTHING_HEARD",
    "ReplyVoice",
    "TurnFn",
    "fleet_lexicon",
    "listening_config",
    "make_voice_handler",
    "speakable",
]

log = logging.getLogger("clawops.channels.voice")

ReplyVoice = Literal["always", "after_voice", "never"]
TurnFn = Callable[[Inbound, str], Awaitable[str | Reply]]
"""Runs one conversation turn for the operator of ``Inbound`` with this text; returns the reply text, or a
whole ``Reply`` when the turn has more to send (a report document, a voice note of its own)."""

NOTHING_HEARD = "I couldn't hear anything in that note; nothing was done. Please record it again or type it."

_TAG = re.compile(r"^\s*\[[A-Za-z]+\]\s*", re.MULTILINE)


def speakable(text: str) -> str:
    """The reply as it should be spoken: the headline in about 20 s, ids and numbers as people say them, no
    tables, then "Details in the chat." (``engine.briefer.spoken_reply``)."""
    from engine.briefer import spoken_reply

    return spoken_reply(text)


def _speaker(text: str, config: voice.VoiceConfig | None) -> SpeakLater:
    async def speak() -> tuple[bytes, float | None] | None:
        try:
            ogg = await voice.asynthesize(speakable(text), config)
            return ogg, voice.probe(ogg)
        except voice.VoiceError as exc:  # the text answer already went out
            log.warning("could not speak the reply: %s", exc)
            return None

    return speak


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
                heard = await voice.atranscribe(msg.audio_path.read_bytes(), listening_config(config))
            except voice.NoSpeech:
                return Reply(text=NOTHING_HEARD)
            except voice.VoiceError as exc:
                return Reply(text=str(exc))
            if not heard.text.strip():
                return Reply(text=NOTHING_HEARD)
            transcript = heard.text
            text = heard.text
        else:
            text = msg.text or ""
        answer = await turn(msg, text)
        reply = answer if isinstance(answer, Reply) else Reply(text=answer)
        speak = reply_voice == "always" or (reply_voice == "after_voice" and msg.is_voice)
        later = reply.speak
        if later is None and reply.voice_ogg is None and speak and reply.text.strip() and voice.available(config):
            later = _speaker(reply.text, config)
        return replace(reply, transcript=transcript, speak=later)

    return handler


def listening_config(config: voice.VoiceConfig | None) -> voice.VoiceConfig:
    """The voice config a note is transcribed with: ``config`` (else the process's) plus the fleet's lexicon, so
    every voice turn's transcript is corrected towards the same words (``voice._correct``)."""
    base = config or voice.get_config()
    return base if base.lexicon else base.with_(lexicon=fleet_lexicon())


@lru_cache(maxsize=1)
def fleet_lexicon() -> tuple[str, ...]:
    """The fleet's own words a transcript is corrected towards (``voice.VoiceConfig.lexicon``).

    Built from what the engine knows, not from phrases: the providers, the cities of every region, instance
    states, tiers and roles, and the words of every tool's name ("instance_diagnose" → "diagnose").
    """
    from engine.domain import REGIONS, InstanceState, Provider, Role, Tier
    from engine.operations import TOOLS

    words: list[str] = [p.value for p in Provider if p.value != "sim"]
    words += [r.city for r in REGIONS.values() if r.provider is not Provider.SIM]
    words += [s.value.lower() for s in InstanceState if "_" not in s.value]
    words += [t.value for t in Tier] + [r.value for r in Role]
    words += [part for name in TOOLS for part in name.split("_")] + [name.replace("_", " ") for name in TOOLS]
    return tuple(dict.fromkeys(w for w in words if len(w) >= 4))
