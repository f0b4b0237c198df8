"""Bad input gets a clear VoiceError subclass with a one-sentence message, never a crash."""

from __future__ import annotations

import ast
import importlib.util
import io
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

import voice
from voice import (
    AudioTooLong,
    CorruptAudio,
    EmptyAudio,
    NoSpeech,
    SynthesisError,
    UnsupportedAudio,
    VoiceConfig,
    VoiceError,
    VoiceUnavailable,
)

pytestmark = pytest.mark.voice


def one_sentence(exc: BaseException) -> str:
    message = str(exc)
    assert message and "\n" not in message and message.endswith("."), message
    return message


def test_empty_file_and_empty_bytes(vcfg: Any, write: Callable[[str, bytes], Path]) -> None:
    with pytest.raises(EmptyAudio) as info:
        voice.transcribe(write("empty.ogg", b""), vcfg)
    assert "empty.ogg" in one_sentence(info.value)
    with pytest.raises(EmptyAudio):
        voice.transcribe(b"", vcfg)
    with pytest.raises(EmptyAudio):
        voice.probe(b"")


def test_wav_with_no_samples_is_empty(vcfg: Any) -> None:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
    with pytest.raises(EmptyAudio) as info:
        voice.transcribe(buf.getvalue(), vcfg)
    one_sentence(info.value)


def test_garbage_and_text_are_corrupt(vcfg: Any, write: Callable[[str, bytes], Path]) -> None:
    garbage = np.random.default_rng(7).bytes(4096)
    with pytest.raises(CorruptAudio) as info:
        voice.transcribe(garbage, vcfg)
    one_sentence(info.value)
    with pytest.raises(CorruptAudio) as info:
        voice.transcribe(write("note.ogg", b"this is a shopping list, not a voice note\n" * 20), vcfg)
    assert "note.ogg" in one_sentence(info.value)


def test_truncated_voice_note_is_refused_or_partial(
    vcfg: Any, speech: tuple[np.ndarray, int], encoder: Callable[..., bytes]
) -> None:
    samples, sr = speech
    data = encoder(samples, sr, fmt="ogg", codec="libopus", out_rate=48_000)
    # Cut inside the headers: nothing usable, a clear error.
    with pytest.raises(CorruptAudio):
        voice.transcribe(data[:300], vcfg)
    # Cut half way: what arrived is still transcribed (an upload cut short loses its tail only).
    partial = voice.transcribe(data[: len(data) // 2], vcfg)
    assert 0.5 < partial.duration_s < len(samples) / sr
    assert "servers" in partial.text.lower()


def test_two_hour_recording_is_refused_before_decoding(vcfg: Any, tmp_path: Path) -> None:
    path = tmp_path / "meeting.wav"
    rate, seconds = 8_000, 2 * 3600
    with wave.open(str(path), "wb") as w:  # real 2-hour file: 8 kHz u8 keeps it at 58 MB
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(rate)
        chunk = bytes([128]) * (rate * 600)
        for _ in range(seconds // 600):
            w.writeframesraw(chunk)
    with pytest.raises(AudioTooLong) as info:
        voice.transcribe(path, vcfg)
    message = one_sentence(info.value)
    assert "2 h 00 min" in message and "15 min" in message
    assert info.value.duration_s == pytest.approx(7200)
    assert info.value.max_duration_s == 900


def test_limit_is_configurable_and_enforced_while_decoding(
    vcfg: Any, speech: tuple[np.ndarray, int], encoder: Callable[..., bytes]
) -> None:
    samples, sr = speech
    data = encoder(samples, sr, fmt="mp3", codec="libmp3lame")
    strict = vcfg.with_(max_duration_s=1.0)
    with pytest.raises(AudioTooLong) as info:
        voice.transcribe(data, strict)
    assert "limit is 1 s" in one_sentence(info.value)
    # The same note passes under the default limit.
    assert voice.transcribe(data, vcfg).text


def test_streaming_limit_when_header_has_no_duration(
    vcfg: Any, speech: tuple[np.ndarray, int], encoder: Callable[..., bytes]
) -> None:
    from voice._codec import decode

    samples, sr = speech
    # Raw ADTS AAC carries no duration in its header: only the decode-time cap can catch it.
    data = encoder(samples, sr, fmt="adts", codec="aac")
    with pytest.raises(AudioTooLong):
        decode(data, max_duration_s=1.0)
    assert len(decode(data)) > 16_000


def test_unsupported_codec(encoder: Callable[..., bytes], vcfg: Any) -> None:
    t = np.arange(22_050) / 22_050
    tone = (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    wma = encoder(tone, 22_050, fmt="asf", codec="wmav2", bit_rate=64_000)
    with pytest.raises(UnsupportedAudio) as info:
        voice.transcribe(wma, vcfg)
    assert "wmav2" in one_sentence(info.value)
    # Opting a codec in through the config is possible.
    from voice._codec import decode

    pcm = decode(wma, allowed_codecs=vcfg.allowed_codecs | {"wmav2"})
    assert len(pcm) == pytest.approx(16_000, abs=1_000)


def test_video_without_audio_track(vcfg: Any) -> None:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream: Any = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for _ in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with pytest.raises(UnsupportedAudio) as info:
        voice.transcribe(buf.getvalue(), vcfg)
    assert "no audio track" in one_sentence(info.value)


@pytest.mark.parametrize("kind", ["digital-silence", "room-noise", "mains-hum"])
def test_silence_and_noise_are_no_speech(vcfg: Any, encoder: Callable[..., bytes], kind: str) -> None:
    rate = 16_000
    t = np.arange(4 * rate) / rate
    rng = np.random.default_rng(3)
    signal = {
        "digital-silence": np.zeros_like(t),
        "room-noise": 0.05 * rng.standard_normal(len(t)),
        "mains-hum": 0.1 * np.sin(2 * np.pi * 120 * t),
    }[kind].astype(np.float32)
    data = encoder(signal, rate, fmt="ogg", codec="libopus", out_rate=48_000)
    with pytest.raises(NoSpeech) as info:
        voice.transcribe(data, vcfg)
    assert "4-second" in one_sentence(info.value)


@pytest.mark.parametrize("text", ["", "   \n\t", "... !?"])
def test_nothing_to_speak(vcfg: Any, text: str) -> None:
    with pytest.raises(SynthesisError) as info:
        voice.synthesize(text, vcfg)
    one_sentence(info.value)


def test_text_too_long_for_a_voice_note(vcfg: Any) -> None:
    with pytest.raises(SynthesisError) as info:
        voice.synthesize("word " * 30, vcfg.with_(max_text_chars=100))
    assert "at most 100" in one_sentence(info.value)


def test_missing_models_are_unavailable_not_downloaded(vcfg: Any, tmp_path: Path) -> None:
    with pytest.raises(VoiceUnavailable) as info:
        voice.transcribe(b"x", VoiceConfig(stt_model=str(tmp_path / "nope")))
    one_sentence(info.value)
    # A size name not in the local cache must fail fast instead of reaching for the network.
    cfg = VoiceConfig(stt_model="large-v3", max_duration_s=5)
    with pytest.raises(VoiceUnavailable) as info:
        voice.preload(cfg)
    assert "large-v3" in one_sentence(info.value)
    with pytest.raises(VoiceUnavailable):
        voice.synthesize("hello", VoiceConfig(tts_model=str(tmp_path / "voice.onnx")))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    (tmp_path / "bad.onnx.json").write_text("{}")
    assert not voice.available(VoiceConfig(tts_model=str(tmp_path / "voice.onnx")))
    with pytest.raises(VoiceUnavailable):
        voice.synthesize("hello", VoiceConfig(tts_model=str(bad)))


def test_extra_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def fake(name: str, *args: Any) -> Any:
        return None if name == "faster_whisper" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", fake)
    assert not voice.available()
    reason = voice.unavailable_reason()
    assert reason is not None and "faster_whisper" in reason and "text" in reason
    with pytest.raises(VoiceUnavailable):
        voice.transcribe(b"anything")
    with pytest.raises(VoiceError):
        voice.synthesize("anything")


def test_config_from_env() -> None:
    cfg = VoiceConfig.from_env(
        {
            "CLAWOPS_VOICE_MAX_SECONDS": "120",
            "CLAWOPS_VOICE_STT_MODEL": "/models/whisper-base",
            "CLAWOPS_VOICE_TTS_MODEL": "/voices/amy.onnx",
            "CLAWOPS_VOICE_VAD": "off",
            "CLAWOPS_VOICE_TTS_NOISE_SCALE": "0",
        }
    )
    assert cfg.max_duration_s == 120
    assert cfg.stt_model == "/models/whisper-base"
    assert cfg.tts_paths() == (Path("/voices/amy.onnx"), Path("/voices/amy.onnx.json"))
    assert cfg.stt_vad is False
    assert (cfg.tts_noise_scale, cfg.tts_noise_w_scale) == (0.0, None)  # unset keeps the voice's own
    assert VoiceConfig.from_env({}) == VoiceConfig()
    with pytest.raises(ValueError, match="CLAWOPS_VOICE_MAX_SECONDS"):
        VoiceConfig.from_env({"CLAWOPS_VOICE_MAX_SECONDS": "two hours"})


def test_voice_imports_nothing_from_engine_or_app() -> None:
    root = Path(voice.__file__).parent
    for source in root.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in {"engine", "app"}, f"{source.name} imports {name}"
