"""Local speech for ClawOps: speech-to-text (faster-whisper), text-to-speech (Piper), codecs (PyAV).

Everything runs on the CPU of the ops box with models shipped as Python packages; nothing is
downloaded at run time. The package is an optional extra: ``import voice`` always works, heavy
libraries are imported on first use, and ``available()`` / ``VoiceUnavailable`` let the product say
"voice is not installed" and carry on by text.

Typical use (blocking; the ``a*`` variants run the same in a worker thread for asyncio callers)::

    import voice
    heard = voice.transcribe("note.ogg")            # Transcript(text, duration_s, language, corrections)
    ogg = voice.synthesize("Two pairs are degraded.")  # OGG/Opus voice note bytes, 48 kHz mono

Models load on first use and stay warm; call ``preload()`` at engine start to pay that once up
front. This package imports nothing from ``engine`` or ``app``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from pathlib import Path

from ._config import DEFAULT_ALLOWED_CODECS, DEFAULT_VOCABULARY, VoiceConfig
from ._correct import edit_distance
from ._errors import (
    AudioTooLong,
    CorruptAudio,
    EmptyAudio,
    NoSpeech,
    SynthesisError,
    UnsupportedAudio,
    VoiceError,
    VoiceUnavailable,
)
from ._spoken import normalize_transcript, spoken_account_ids
from ._types import Transcript

__all__ = [
    "DEFAULT_ALLOWED_CODECS",
    "DEFAULT_VOCABULARY",
    "AudioTooLong",
    "CorruptAudio",
    "EmptyAudio",
    "NoSpeech",
    "SynthesisError",
    "Transcript",
    "UnsupportedAudio",
    "VoiceConfig",
    "VoiceError",
    "VoiceUnavailable",
    "atranscribe",
    "asynthesize",
    "available",
    "clear_cache",
    "configure",
    "convert_to_voice_note",
    "edit_distance",
    "get_config",
    "normalize_transcript",
    "preload",
    "probe",
    "synthesize",
    "spoken_account_ids",
    "synthesize_to_file",
    "to_wav",
    "transcribe",
    "unavailable_reason",
]


_REQUIRED_MODULES = ("numpy", "av", "faster_whisper", "piper")
_config: VoiceConfig | None = None
_config_lock = threading.Lock()


def configure(config: VoiceConfig) -> None:
    """Set the process-wide default config (the engine calls this once from its settings)."""
    global _config
    with _config_lock:
        _config = config


def get_config() -> VoiceConfig:
    """The config used when a call passes none: ``configure()``'s, else ``VoiceConfig.from_env()``."""
    global _config
    with _config_lock:
        if _config is None:
            _config = VoiceConfig.from_env()
        return _config


def unavailable_reason(config: VoiceConfig | None = None) -> str | None:
    """Why voice cannot work here, in one sentence, or None when it can (nothing is loaded)."""
    missing = [name for name in _REQUIRED_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        return f"Voice is not installed (missing {', '.join(missing)}); install 'clawops[voice]' or keep using text."
    cfg = config or get_config()
    from ._stt import resolve_stt_model
    from ._tts import resolve_tts_voice

    try:
        resolve_stt_model(cfg)
        resolve_tts_voice(cfg)
    except VoiceUnavailable as exc:
        return str(exc)
    return None


def available(config: VoiceConfig | None = None) -> bool:
    """True when the voice extra and its models are installed (cheap: no model is loaded)."""
    return unavailable_reason(config) is None


def _require(config: VoiceConfig | None) -> VoiceConfig:
    cfg = config or get_config()
    missing = [name for name in _REQUIRED_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise VoiceUnavailable(
            f"Voice is not installed (missing {', '.join(missing)}); install 'clawops[voice]' or keep using text."
        )
    return cfg


def preload(config: VoiceConfig | None = None) -> dict[str, float]:
    """Load both models now so the first voice turn is fast; return their load times in seconds."""
    cfg = _require(config)
    from ._stt import load_stt
    from ._tts import load_tts

    return {"stt_load_s": load_stt(cfg), "tts_load_s": load_tts(cfg)}


def clear_cache() -> None:
    """Forget the warm models (tests, or after changing model files on disk)."""
    if importlib.util.find_spec("numpy") is None:
        return
    from ._stt import clear_stt_cache
    from ._tts import clear_tts_cache

    clear_stt_cache()
    clear_tts_cache()


def probe(source: str | os.PathLike[str] | bytes | bytearray | memoryview) -> float:
    """Duration of an audio file or buffer in seconds; raises a ``VoiceError`` for bad input."""
    _require(None)
    from ._codec import probe as _probe

    return _probe(source)


def transcribe(
    source: str | os.PathLike[str] | bytes | bytearray | memoryview,
    config: VoiceConfig | None = None,
) -> Transcript:
    """Speech to text for a voice note (path or bytes in any accepted codec).

    Raises ``EmptyAudio``, ``CorruptAudio``, ``UnsupportedAudio``, ``AudioTooLong`` or ``NoSpeech``
    (all ``VoiceError``) with a message that can be shown to the operator as is.
    """
    cfg = _require(config)
    from ._stt import transcribe_source

    return transcribe_source(source, cfg)


def synthesize(text: str, config: VoiceConfig | None = None) -> bytes:
    """Text to an OGG/Opus voice note (48 kHz mono), ready for Telegram sendVoice or WhatsApp."""
    cfg = _require(config)
    from ._codec import encode_ogg_opus
    from ._tts import synthesize_samples

    samples, rate = synthesize_samples(text, cfg)
    return encode_ogg_opus(samples, rate, bitrate=cfg.opus_bitrate)


def synthesize_to_file(text: str, path: str | os.PathLike[str], config: VoiceConfig | None = None) -> Path:
    """Write ``synthesize(text)`` to ``path`` (parents created, written atomically) and return it."""
    data = synthesize(text, config)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


def convert_to_voice_note(
    source: str | os.PathLike[str] | bytes | bytearray | memoryview,
    config: VoiceConfig | None = None,
) -> bytes:
    """Re-encode any accepted recording (e.g. a WAV from the chat's recorder) as an OGG/Opus voice note."""
    cfg = _require(config)
    from ._codec import VOICE_NOTE_SAMPLE_RATE, decode, encode_ogg_opus

    samples = decode(
        source,
        sample_rate=VOICE_NOTE_SAMPLE_RATE,
        max_duration_s=cfg.max_duration_s,
        allowed_codecs=cfg.allowed_codecs,
    )
    return encode_ogg_opus(samples, VOICE_NOTE_SAMPLE_RATE, bitrate=cfg.opus_bitrate)


def to_wav(
    source: str | os.PathLike[str] | bytes | bytearray | memoryview,
    *,
    sample_rate: int = 48_000,
    config: VoiceConfig | None = None,
) -> bytes:
    """Any accepted recording as 16-bit mono WAV bytes, for players without Opus (Safari, ``aplay``)."""
    cfg = _require(config)
    import io
    import wave

    import numpy as np

    from ._codec import decode

    samples = decode(
        source, sample_rate=sample_rate, max_duration_s=cfg.max_duration_s, allowed_codecs=cfg.allowed_codecs
    )
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes((samples * 32767.0).astype(np.int16).tobytes())
    return buf.getvalue()


async def atranscribe(
    source: str | os.PathLike[str] | bytes | bytearray | memoryview,
    config: VoiceConfig | None = None,
) -> Transcript:
    """``transcribe`` in a worker thread, so the engine's event loop keeps serving other turns."""
    return await asyncio.to_thread(transcribe, source, config)


async def asynthesize(text: str, config: VoiceConfig | None = None) -> bytes:
    """``synthesize`` in a worker thread."""
    return await asyncio.to_thread(synthesize, text, config)
