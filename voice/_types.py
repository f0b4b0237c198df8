"""Plain result types, kept free of numpy/PyAV imports so ``import voice`` works without the extra."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Transcript"]


@dataclass(frozen=True)
class Transcript:
    """What was heard: text, the audio's duration in seconds, and the language Whisper used."""

    text: str
    duration_s: float
    language: str
