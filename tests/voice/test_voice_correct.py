"""Transcript correction towards the fleet's words, spoken ids and times, and the short encoder window.

The correction tests use an explicit "everyday word" predicate, so they hold without a model; the tests marked
``voice`` use the real tokenizer and model and assert meaning (the action the brain chooses, the key facts),
never a speech model's exact words.
"""

from __future__ import annotations

from typing import Any

import pytest

import voice
from voice._correct import correct_transcript, lexicon_terms, phonetic_key, similarity
from voice._spoken import spoken_times

VOCAB = "ClawOps fleet on Hetzner, Vultr, Contabo, Hostinger, DigitalOcean: degraded, tear down, provider health"
EXTRA = ("Helsinki", "Falkenstein", "Nuremberg", "diagnose", "silence", "alerts", "silence alerts", "provider health")
TERMS = lexicon_terms(VOCAB, EXTRA)
EVERYDAY = frozenset(
    "any incidents on how many what what's is are the cost check show me in we do have for this week stand by "
    "standby silent saying about costs provider health everything restart".split()
)


def everyday(word: str) -> bool:
    return word.lower().strip("'’") in EVERYDAY


def fix(text: str) -> str:
    return correct_transcript(text, TERMS, everyday)[0]


def test_lexicon_keeps_terms_and_short_phrases_not_filler() -> None:
    terms = {t.lower() for t in TERMS}
    assert {"hetzner", "digitalocean", "tear down", "provider health", "silence alerts", "helsinki"} <= terms
    assert "clawops fleet on hetzner" not in terms  # a phrase with a function word is not a term
    assert not {"on", "the"} & terms


def test_sound_alike_keys() -> None:
    assert phonetic_key("Hetsner") == phonetic_key("Hetzner")
    assert phonetic_key("Volter")[:3] == phonetic_key("Vultr")[:3]
    assert similarity("Falconstein", "Falkenstein") > similarity("Falconstein", "Frankfurt")


@pytest.mark.parametrize(
    ("heard", "term"),
    [
        ("What's degraded on Hetsner?", "Hetzner"),
        ("Provision 5 pairs in Falconstein.", "Falkenstein"),
        ("How many standby do we have in El Sinkie?", "Helsinki"),
        ("Dagnos acct-055.", "Diagnose"),
        ("Any incidents on Bultr?", "Vultr"),
    ],
)
def test_unusual_words_become_the_term_they_sound_like(heard: str, term: str) -> None:
    text, corrections = correct_transcript(heard, TERMS, everyday)
    assert term in text
    assert [c.term for c in corrections] == [term]
    assert corrections[0].heard in heard


def test_a_domain_word_completes_its_phrase() -> None:
    assert fix("Silent Alerts for acct-088 for 30 minutes.").startswith("Silence alerts for acct-088")
    assert fix("Check provider help on Contabo.") == "Check provider health on Contabo."
    assert fix("Check provider health on Contabo.") == "Check provider health on Contabo."  # heard right: untouched


def test_everyday_words_ids_and_numbers_are_never_touched() -> None:
    for text in (
        "What's the cost on Vultr this week?",
        "Show me acct-042.",
        "Restart everything on Contabo.",
        "Watsner cost on Vultr",
    ):
        assert fix(text) == text


def test_no_correction_when_two_terms_are_equally_near_or_none_is_near() -> None:
    terms = lexicon_terms("Hamburg, Homburg", ())
    assert correct_transcript("in Humburg", terms, everyday)[0] == "in Humburg"
    assert fix("Quarkzilla is down") == "Quarkzilla is down"


def test_no_terms_means_no_change() -> None:
    assert correct_transcript("Hetsner", (), everyday) == ("Hetsner", ())


@pytest.mark.parametrize(
    ("heard", "written"),
    [
        ("Show the count to 0.42.", "Show acct-042."),
        ("I ignore the count of 055.", "I ignore acct-055."),
        ("Silence Alerts for Count 111 for an hour.", "Silence Alerts for acct-111 for an hour."),
        ("count 5 degraded", "count 5 degraded"),
        ("the count of degraded is 5", "the count of degraded is 5"),
        ("Brief me at 630.", "Brief me at 6:30."),
        ("Brief me at 7.15 every day", "Brief me at 7:15 every day"),
        ("Provision 100 pairs at 100.", "Provision 100 pairs at 100."),
        ("costs 4.50 a month", "costs 4.50 a month"),
    ],
)
def test_spoken_ids_and_clock_times(heard: str, written: str) -> None:
    assert voice.normalize_transcript(heard) == written


def test_spoken_times_leaves_impossible_times() -> None:
    assert spoken_times("at 2575.") == "at 2575."


# -- with the model -------------------------------------------------------------------------------------------


@pytest.mark.voice
@pytest.mark.parametrize(
    ("heard", "typed"),
    [
        ("How many standby do we have in El Sinkie?", "How many standbys do we have in Helsinki?"),
        ("Silent Alerts for acct-088 for 30 minutes.", "Silence alerts for acct-088 for thirty minutes."),
        ("Any incidents on Bultr?", "Any incidents on Vultr?"),
    ],
)
def test_corrected_transcript_chooses_the_typed_action(vcfg: Any, heard: str, typed: str) -> None:
    """With Whisper's own tokenizer as the everyday-English test, the brain reads what was meant."""
    from engine.brain import OfflineBrain
    from engine.briefer import fleet_vocabulary
    from engine.channels.voice_turns import fleet_lexicon
    from voice._stt import _get

    entry = _get(vcfg)
    terms = lexicon_terms(fleet_vocabulary(None), fleet_lexicon())
    fixed = voice.normalize_transcript(correct_transcript(heard, terms, entry.is_everyday)[0])
    brain = OfflineBrain()

    def actions(text: str) -> list[tuple[str, str]]:
        return [
            (getattr(i, "tool", type(i).__name__), repr(sorted(getattr(i, "args", {}).items())))
            for i in brain.understand(text)
        ]

    assert actions(fixed) == actions(voice.normalize_transcript(typed))
    assert entry.is_everyday("the") and not entry.is_everyday("Hetsner")


@pytest.mark.voice
@pytest.mark.parametrize("window_s", [10.0, 30.0])
def test_short_and_full_window_recover_the_same_facts(vcfg: Any, window_s: float) -> None:
    cfg = vcfg.with_(stt_min_window_s=window_s)
    heard = voice.transcribe(voice.synthesize("Twelve servers are degraded on Hetzner.", cfg), cfg)
    words = heard.text.lower()
    assert "degraded" in words and "hetzner" in words and ("12" in words or "twelve" in words)


@pytest.mark.voice
def test_a_looping_or_babbling_reading_is_suspect() -> None:
    from voice._stt import _Reading

    calm = _Reading(
        text="Restart everything degraded on Vultr.",
        avg_logprob=-0.2,
        no_speech_prob=0.01,
        hit_limit=False,
        window_frames=1000,
    )
    assert not calm.suspect(3.0)
    loop = _Reading(
        text="on on on on on on on on on on on on on on on on",
        avg_logprob=-0.2,
        no_speech_prob=0.0,
        hit_limit=True,
        window_frames=1000,
    )
    assert loop.suspect(3.0)
    babble = _Reading(
        text=" ".join(["word"] * 40), avg_logprob=-0.3, no_speech_prob=0.0, hit_limit=False, window_frames=1000
    )
    assert babble.suspect(3.0)
    unsure = _Reading(text="Wasted, raided.", avg_logprob=-1.4, no_speech_prob=0.1, hit_limit=False, window_frames=1000)
    assert unsure.suspect(3.0)
    assert _Reading(text="", avg_logprob=-1.5, no_speech_prob=0.9, hit_limit=False, window_frames=1000).no_speech


def test_an_echoed_sentence_is_kept_once() -> None:
    from voice._stt import _without_echo

    assert _without_echo("What's degraded on Hetzner? What's degraded on Hetzner?") == "What's degraded on Hetzner?"
    assert _without_echo("Fleet status. Fleet status.") == "Fleet status."
    assert _without_echo("Restart restart the gateway") == "Restart restart the gateway"  # one word twice is speech
    assert _without_echo("very very good good") == "very very good good"


def test_window_and_beam_come_from_the_environment() -> None:
    cfg = voice.VoiceConfig.from_env({"CLAWOPS_VOICE_STT_MIN_WINDOW_S": "30", "CLAWOPS_VOICE_STT_BEAM_SIZE": "1"})
    assert cfg.stt_min_window_s == 30.0 and cfg.stt_beam_size == 1
    assert voice.VoiceConfig.from_env({}).stt_min_window_s == voice.VoiceConfig().stt_min_window_s
