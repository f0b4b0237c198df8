"""Audio codecs with PyAV: untrusted voice notes in, OGG/Opus voice notes out.

Decoding streams frame by frame and stops as soon as the audio passes the duration limit, so a
2-hour recording (or a file whose header lies about its length) costs a fraction of a second and
bounded memory instead of a full decode. Every PyAV/FFmpeg failure is mapped to a ``VoiceError``
subclass with a message fit for the operator.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Union

import av
import av.error
import numpy as np
import numpy.typing as npt

from ._errors import AudioTooLong, CorruptAudio, EmptyAudio, UnsupportedAudio

__all__ = [
    "STT_SAMPLE_RATE",
    "VOICE_NOTE_SAMPLE_RATE",
    "AudioSource",
    "decode",
    "encode_ogg_opus",
    "probe",
]

AudioSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]
FloatArray = npt.NDArray[np.float32]

STT_SAMPLE_RATE = 16_000  # what Whisper expects
VOICE_NOTE_SAMPLE_RATE = 48_000  # Opus' native rate; Telegram and WhatsApp voice notes use it


def _describe(source: AudioSource) -> str:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "the recording"
    return f"'{Path(os.fspath(source)).name}'"


@contextmanager
def _open(source: AudioSource) -> Iterator[Any]:
    """Open ``source`` for reading, refusing empty input before FFmpeg ever sees it."""
    what = _describe(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise EmptyAudio(f"{what.capitalize()} is empty (0 bytes).")
        target: Any = io.BytesIO(data)
    else:
        path = Path(os.fspath(source))
        if not path.is_file():
            raise FileNotFoundError(f"No audio file at {path}.")
        if path.stat().st_size == 0:
            raise EmptyAudio(f"The audio file {what} is empty (0 bytes).")
        target = str(path)
    try:
        container = av.open(target, mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise CorruptAudio(f"Could not read {what}: it is damaged or not an audio file.") from exc
    try:
        yield container
    finally:
        container.close()


def _audio_stream(container: Any, what: str, allowed_codecs: frozenset[str] | None) -> Any:
    streams = list(container.streams.audio)
    if not streams:
        raise UnsupportedAudio(f"{what.capitalize()} has no audio track.")
    stream = streams[0]
    codec = stream.codec_context.name if stream.codec_context is not None else "unknown"
    if allowed_codecs is not None and codec not in allowed_codecs:
        raise UnsupportedAudio(
            f"{what.capitalize()} uses the {codec} codec, which is not accepted "
            "(send OGG/Opus, MP3, M4A/AAC, WAV or FLAC)."
        )
    return stream


def _header_duration(container: Any, stream: Any) -> float | None:
    """Duration announced by the container or stream, if any (not trusted, only used to refuse early)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / float(av.time_base)
    return None


def _too_long(what: str, duration_s: float, max_duration_s: float) -> AudioTooLong:
    return AudioTooLong(
        f"{what.capitalize()} is {_fmt_duration(duration_s)} long; the limit is "
        f"{_fmt_duration(max_duration_s)}, so please send a shorter voice note.",
        duration_s=duration_s,
        max_duration_s=max_duration_s,
    )


def _fmt_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _iter_samples(container: Any, stream: Any, what: str, sample_rate: int) -> Iterator[FloatArray]:
    """Yield mono float32 chunks resampled to ``sample_rate``; decoder failures become CorruptAudio."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    try:
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                yield np.asarray(out.to_ndarray(), dtype=np.float32).reshape(-1)
        for out in resampler.resample(None):
            yield np.asarray(out.to_ndarray(), dtype=np.float32).reshape(-1)
    except av.error.FFmpegError as exc:
        raise CorruptAudio(f"Could not decode {what}: the audio data is damaged.") from exc


def probe(source: AudioSource, allowed_codecs: frozenset[str] | None = None) -> float:
    """Return the duration in seconds, from the header when it has one, else by decoding.

    ``allowed_codecs=None`` accepts any codec FFmpeg can read (probing our own output is trusted).
    """
    what = _describe(source)
    with _open(source) as container:
        stream = _audio_stream(container, what, allowed_codecs)
        announced = _header_duration(container, stream)
        if announced is not None and announced > 0:
            return announced
        rate = stream.codec_context.sample_rate or STT_SAMPLE_RATE
        total = sum(len(chunk) for chunk in _iter_samples(container, stream, what, rate))
        return total / float(rate)


def decode(
    source: AudioSource,
    *,
    sample_rate: int = STT_SAMPLE_RATE,
    max_duration_s: float | None = None,
    allowed_codecs: frozenset[str] | None = None,
) -> FloatArray:
    """Decode the first audio track to mono float32 in [-1, 1] at ``sample_rate``.

    Refuses (``AudioTooLong``) from the header when it announces more than ``max_duration_s``, and
    again while decoding once that many seconds have come out, whatever the header said.
    """
    what = _describe(source)
    with _open(source) as container:
        stream = _audio_stream(container, what, allowed_codecs)
        if max_duration_s is not None:
            announced = _header_duration(container, stream)
            if announced is not None and announced > max_duration_s:
                raise _too_long(what, announced, max_duration_s)
            limit = int(max_duration_s * sample_rate)
        chunks: list[FloatArray] = []
        total = 0
        for chunk in _iter_samples(container, stream, what, sample_rate):
            chunks.append(chunk)
            total += len(chunk)
            if max_duration_s is not None and total > limit:
                raise _too_long(what, total / sample_rate, max_duration_s)
    if total == 0:
        raise EmptyAudio(f"{what.capitalize()} contains no sound samples.")
    # Resampling can overshoot full scale slightly; keep the documented [-1, 1] range.
    return np.clip(np.concatenate(chunks), -1.0, 1.0).astype(np.float32, copy=False)


def encode_ogg_opus(samples: FloatArray, sample_rate: int, *, bitrate: int = 32_000) -> bytes:
    """Encode mono float samples as an OGG/Opus voice note at 48 kHz (what Telegram and WhatsApp play).

    Samples are resampled here, so callers hand over whatever rate their TTS voice produces.
    """
    mono = np.asarray(samples, dtype=np.float32).reshape(-1)
    if mono.size == 0:
        raise EmptyAudio("There is no audio to encode.")
    pcm = (np.clip(mono, -1.0, 1.0) * 32767.0).astype(np.int16).reshape(1, -1)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="ogg") as out:
        stream: Any = out.add_stream("libopus", rate=VOICE_NOTE_SAMPLE_RATE)
        stream.layout = "mono"
        stream.bit_rate = bitrate
        stream.codec_context.options = {"application": "voip"}
        resampler = av.AudioResampler(format="s16", layout="mono", rate=VOICE_NOTE_SAMPLE_RATE)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = sample_rate
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(resampled):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()
