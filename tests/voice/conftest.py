"""Shared fixtures for the voice tests: one warm model pair per session, audio fixtures made with PyAV.

No binary fixtures are committed: every file is synthesised or encoded at test time.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

import voice
from tests.speech_kit import STEADY_VOICE

Encoder = Callable[..., bytes]


@pytest.fixture(scope="session")
def vcfg() -> Any:
    """The deterministic config with both models loaded once for the whole session."""
    voice.preload(STEADY_VOICE)
    return STEADY_VOICE


@pytest.fixture(scope="session")
def speech(vcfg: Any) -> tuple[np.ndarray, int]:
    """A spoken sentence as raw float samples (Piper's 22.05 kHz), reused by the codec tests."""
    from voice._tts import synthesize_samples

    return synthesize_samples("Twelve servers are degraded on Hetzner.", vcfg)


def encode(
    samples: np.ndarray,
    rate: int,
    *,
    fmt: str,
    codec: str,
    out_rate: int | None = None,
    layout: str = "mono",
    bit_rate: int | None = None,
) -> bytes:
    """Encode float samples into any container/codec PyAV can write (test fixture generator)."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as out:
        stream: Any = out.add_stream(codec, rate=out_rate or rate)
        stream.layout = layout
        if bit_rate:
            stream.bit_rate = bit_rate
        formats = stream.codec_context.codec.audio_formats
        sample_fmt = formats[0].name if formats else "s16"
        resampler = av.AudioResampler(format=sample_fmt, layout=layout, rate=out_rate or rate)
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = rate
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(resampled):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    return encode


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, bytes], Path]:
    """Write bytes to a named file under tmp_path and return the path."""

    def _write(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return _write
