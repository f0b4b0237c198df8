"""The fleet's lexicon that every voice turn's transcript is corrected towards comes from the engine, not phrases."""

from __future__ import annotations

import voice
from engine.channels.voice_turns import fleet_lexicon, listening_config
from engine.domain import REGIONS, Provider
from engine.operations import TOOLS


def test_lexicon_is_built_from_providers_regions_and_tools() -> None:
    words = {w.lower() for w in fleet_lexicon()}
    assert {p.value for p in Provider if p is not Provider.SIM} <= words
    assert {r.city.lower() for r in REGIONS.values() if r.provider is not Provider.SIM} <= words
    assert {name.replace("_", " ") for name in TOOLS} <= words
    assert "diagnose" in words and "standby" in words
    assert "sim" not in words and not any(w.startswith("simulated") for w in words)


def test_listening_config_adds_the_lexicon_once_and_keeps_the_rest() -> None:
    base = voice.VoiceConfig(vocabulary="ClawOps fleet on Hetzner", stt_min_window_s=12.0)
    cfg = listening_config(base)
    assert cfg.lexicon == fleet_lexicon()
    assert cfg.vocabulary == base.vocabulary and cfg.stt_min_window_s == 12.0
    assert listening_config(cfg) is cfg
    own = base.with_(lexicon=("Quarkzilla",))
    assert listening_config(own) is own  # a caller's own lexicon is respected
