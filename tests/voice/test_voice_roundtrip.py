"""Done-when: text -> Piper -> OGG/Opus -> faster-whisper -> text recovers the key facts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import av
import pytest

import voice
from tests.speech_kit import heard_as

pytestmark = pytest.mark.voice

_UNITS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if i >= 2}


def normalize(text: str) -> list[str]:
    """Lower-case words with number words folded into digits ("four hundred and twenty" -> "420")."""
    words = re.findall(r"[a-z0-9]+", text.lower().replace(",", "").replace("$", " "))
    out: list[str] = []
    current: int | None = None
    for word in words:
        if word in _UNITS or word in _TENS:
            current = (current or 0) + _UNITS.get(word, _TENS.get(word, 0))
        elif word == "hundred" and current is not None:
            current *= 100
        elif word == "and" and current is not None:
            continue
        else:
            if current is not None:
                out.append(str(current))
                current = None
            out.append(word)
    if current is not None:
        out.append(str(current))
    return out


def test_normalize_folds_number_words() -> None:
    assert normalize("The cost is four hundred and twenty dollars") == ["the", "cost", "is", "420", "dollars"]
    assert normalize("Ninety four pairs, 12 servers, $420.") == ["94", "pairs", "12", "servers", "420"]


CASES = [
    ("Twelve servers are degraded on Hetzner.", ["12", "degraded", "hetzner"]),
    ("Contabo has five active instances and DigitalOcean has eight.", ["contabo", "5", "digitalocean", "8"]),
    ("The weekly cost is four hundred and twenty dollars.", ["weekly", "cost", "420"]),
    (
        "Good morning. Ninety four pairs failed over from Hetzner to Vultr overnight, and all of them are healthy.",
        ["94", "hetzner", "vultr", "healthy"],
    ),
    ("Hostinger has two degraded instances.", ["hostinger", "2", "degraded"]),
    ("What's degraded?", ["what", "degraded"]),
]


@pytest.mark.parametrize(("sentence", "facts"), CASES, ids=[c[0][:30] for c in CASES])
def test_round_trip_recovers_key_facts(vcfg: Any, sentence: str, facts: list[str]) -> None:
    ogg = voice.synthesize(sentence, vcfg)
    heard = voice.transcribe(ogg, vcfg)
    words = normalize(heard.text)
    missing = [fact for fact in facts if fact not in words]
    assert not missing, f"{heard.text!r} lost {missing}"
    assert heard.language == "en"
    assert heard.duration_s > 0.5


def test_voice_note_is_ogg_opus_48k_mono(vcfg: Any, tmp_path: Path) -> None:
    path = voice.synthesize_to_file("Vultr has three failed instances.", tmp_path / "out" / "note.ogg", vcfg)
    assert path.is_file() and path.parent.name == "out"
    assert path.read_bytes()[:4] == b"OggS"
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "opus"
        assert stream.codec_context.sample_rate == 48_000
        assert stream.codec_context.channels == 1
    duration = voice.probe(path)
    assert 1.0 < duration < 5.0
    heard = voice.transcribe(path, vcfg)
    assert abs(heard.duration_s - duration) < 0.1
    assert heard_as(heard.text, "Vultr has three failed instances."), heard.text


def test_no_leftover_temp_files(vcfg: Any, tmp_path: Path) -> None:
    voice.synthesize_to_file("Restart the gateway.", tmp_path / "a.ogg", vcfg)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ogg"]


def test_models_are_loaded_once_and_kept_warm(vcfg: Any) -> None:
    from voice import _stt, _tts

    assert _stt._get(vcfg) is _stt._get(vcfg)
    assert _tts._get(vcfg) is _tts._get(vcfg)
    first = voice.preload(vcfg)
    assert voice.preload(vcfg) == first  # same cached entries, same recorded load time


def test_deterministic_config_repeats_exactly(vcfg: Any) -> None:
    from voice._tts import synthesize_samples

    a, rate_a = synthesize_samples("Standby promoted.", vcfg)
    b, rate_b = synthesize_samples("Standby promoted.", vcfg)
    assert rate_a == rate_b == 22_050
    assert a.tobytes() == b.tobytes()


async def test_async_wrappers(vcfg: Any) -> None:
    ogg = await voice.asynthesize("Hetzner is healthy.", vcfg)
    heard = await voice.atranscribe(ogg, vcfg)
    assert heard_as(heard.text, "Hetzner is healthy."), heard.text
