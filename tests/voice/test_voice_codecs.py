"""Decoding every accepted input format, and encoding voice notes, with fixtures made by PyAV."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

import voice
from voice._codec import STT_SAMPLE_RATE, decode

pytestmark = pytest.mark.voice

# (file name, container, codec, encoder sample rate)
FORMATS = [
    ("note.wav", "wav", "pcm_s16le", 22_050),
    ("note.mp3", "mp3", "libmp3lame", 22_050),
    ("note.m4a", "ipod", "aac", 22_050),
    ("note.ogg", "ogg", "libopus", 48_000),
    ("note.webm", "webm", "libopus", 48_000),
    ("note.flac", "flac", "flac", 22_050),
]


@pytest.mark.parametrize(("name", "fmt", "codec", "rate"), FORMATS, ids=[f[0] for f in FORMATS])
def test_each_format_decodes_and_transcribes(
    vcfg: Any,
    speech: tuple[np.ndarray, int],
    encoder: Callable[..., bytes],
    write: Callable[[str, bytes], Path],
    name: str,
    fmt: str,
    codec: str,
    rate: int,
) -> None:
    samples, sr = speech
    expected = len(samples) / sr
    path = write(name, encoder(samples, sr, fmt=fmt, codec=codec, out_rate=rate))

    # Lossy encoders add priming/padding, a few tens of ms at most.
    assert voice.probe(path) == pytest.approx(expected, abs=0.1)
    pcm = decode(path, allowed_codecs=vcfg.allowed_codecs)
    assert pcm.dtype == np.float32 and pcm.ndim == 1
    assert len(pcm) / STT_SAMPLE_RATE == pytest.approx(expected, abs=0.1)
    assert 0.2 < float(np.max(np.abs(pcm))) <= 1.0

    heard = voice.transcribe(path, vcfg)
    assert "hetzner" in heard.text.lower()
    assert "12" in heard.text or "twelve" in heard.text.lower()


def test_bytes_and_path_give_the_same_samples(
    speech: tuple[np.ndarray, int], encoder: Callable[..., bytes], write: Callable[[str, bytes], Path]
) -> None:
    samples, sr = speech
    data = encoder(samples, sr, fmt="ogg", codec="libopus", out_rate=48_000)
    from_path = decode(write("a.ogg", data))
    from_bytes = decode(data)
    from_view = decode(memoryview(data))
    assert np.array_equal(from_path, from_bytes) and np.array_equal(from_bytes, from_view)


def test_stereo_44k_is_downmixed_to_16k_mono(encoder: Callable[..., bytes]) -> None:
    rate = 44_100
    t = np.arange(2 * rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    data = encoder(tone, rate, fmt="wav", codec="pcm_s16le", layout="stereo")
    with av.open(__import__("io").BytesIO(data)) as c:
        assert c.streams.audio[0].codec_context.channels == 2
    pcm = decode(data)
    assert len(pcm) == pytest.approx(2 * STT_SAMPLE_RATE, abs=50)
    # A 440 Hz tone stays a 440 Hz tone after downmix + resample.
    spectrum = np.abs(np.fft.rfft(pcm))
    peak_hz = np.argmax(spectrum) * STT_SAMPLE_RATE / len(pcm)
    assert peak_hz == pytest.approx(440, abs=2)


def test_convert_recording_to_voice_note(
    vcfg: Any, speech: tuple[np.ndarray, int], encoder: Callable[..., bytes]
) -> None:
    samples, sr = speech
    wav = encoder(samples, sr, fmt="wav", codec="pcm_s16le")
    ogg = voice.convert_to_voice_note(wav, vcfg)
    assert ogg[:4] == b"OggS"
    with av.open(__import__("io").BytesIO(ogg)) as c:
        ctx = c.streams.audio[0].codec_context
        assert (ctx.name, ctx.sample_rate, ctx.channels) == ("opus", 48_000, 1)
    assert voice.probe(ogg) == pytest.approx(len(samples) / sr, abs=0.1)
    # Opus at 32 kb/s: far smaller than the 16-bit WAV it came from.
    assert len(ogg) < len(wav) / 3


def test_to_wav_for_players_without_opus(
    vcfg: Any, speech: tuple[np.ndarray, int], encoder: Callable[..., bytes]
) -> None:
    import io
    import wave

    samples, sr = speech
    ogg = encoder(samples, sr, fmt="ogg", codec="libopus", out_rate=48_000)
    wav = voice.to_wav(ogg, sample_rate=22_050, config=vcfg)
    with wave.open(io.BytesIO(wav)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22_050)
        assert w.getnframes() / 22_050 == pytest.approx(len(samples) / sr, abs=0.1)
    assert "hetzner" in voice.transcribe(wav, vcfg).text.lower()
