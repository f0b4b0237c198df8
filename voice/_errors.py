"""Errors raised by the voice package.

Every error carries a one-sentence message that can be shown to an operator as is: the channel layer
turns a ``VoiceError`` into a polite reply instead of a stack trace, so the message must say what
was wrong with *their* audio, not what went wrong inside FFmpeg.
"""

from __future__ import annotations

__all__ = [
    "AudioTooLong",
    "CorruptAudio",
    "EmptyAudio",
    "NoSpeech",
    "SynthesisError",
    "UnsupportedAudio",
    "VoiceError",
    "VoiceUnavailable",
]


class VoiceError(Exception):
    """Base class: anything the voice package refuses or cannot do."""


class VoiceUnavailable(VoiceError):
    """The voice extra (or a configured model) is not installed, so the product falls back to text."""


class EmptyAudio(VoiceError):
    """The audio file or buffer holds no bytes or no samples at all."""


class CorruptAudio(VoiceError):
    """The bytes are not a readable audio file (truncated, damaged, or not media at all)."""


class UnsupportedAudio(VoiceError):
    """The file is media, but has no audio track or uses a codec outside the allow-list."""


class AudioTooLong(VoiceError):
    """The recording is longer than the configured maximum, refused before transcription."""

    def __init__(self, message: str, duration_s: float, max_duration_s: float) -> None:
        super().__init__(message)
        self.duration_s = duration_s
        self.max_duration_s = max_duration_s


class NoSpeech(VoiceError):
    """The recording decoded fine but nobody said anything recognisable (silence, hum, noise)."""


class SynthesisError(VoiceError):
    """Text-to-speech was given nothing speakable or text far longer than a voice note."""
