"""Plain result types, kept free of numpy/PyAV imports so ``import voice`` works without the extra."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Transcript"]


@dataclass(frozen=True)
class Transcript:
    """What was heard: text, the audio's duration in seconds, the language Whisper used, and each (heard, term)
    sound-alike correction made towards the fleet's words (so a reply can say what was read as what)."""

    text: str
    duration_s: float
    language: str
    corrections: tuple[tuple[str, str], ...] = ()
