"""What the speech tests share: a voice that says the same words the same way every time, and a way to compare
what was heard with what was said by meaning, not by a speech model's exact words.

Why a steady voice: Piper draws random noise for natural prosody on every synthesis, so the "same" test note is a
different recording each run, and the tiny Whisper model now and then hears one of them wrongly ("That's not as
healthy." for "Hetzner is healthy." failed a CI run). Tests speak with that noise off: one recording per text, read
the same way on every run. The product keeps the voice's own noise (``CLAWOPS_VOICE_TTS_NOISE_SCALE`` and
``CLAWOPS_VOICE_TTS_NOISE_W_SCALE`` set it, for a daemon or ``python -m voice`` under test).
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

import voice

__all__ = ["STEADY_ENV", "STEADY_VOICE", "heard_as"]

STEADY_VOICE = voice.VoiceConfig(tts_noise_scale=0.0, tts_noise_w_scale=0.0)
"""Piper's noise off: synthesis is bit-for-bit repeatable."""

STEADY_ENV = {"CLAWOPS_VOICE_TTS_NOISE_SCALE": "0", "CLAWOPS_VOICE_TTS_NOISE_W_SCALE": "0"}
"""The same, for a process that reads its voice settings from the environment."""


def _plain(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def heard_as(heard: str, said: str, at_least: float = 0.6) -> bool:
    """Whether ``heard`` is close enough to ``said`` to be the same request (similarity of the plain words).

    0.6 accepts what a small model does to a short sentence ("please status" for "fleet status") and rejects a
    different sentence or an empty reading.
    """
    return SequenceMatcher(None, _plain(heard), _plain(said)).ratio() >= at_least
