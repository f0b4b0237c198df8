"""Voice you can trust: the vocabulary prompt never drops audio (a 50-s note keeps its second half), spoken
account ids become ``acct-NNN``, spoken answers stay short and say ids as people do, and the engine's voice
settings and the fleet's own words reach the speech engines.  Assertions are on meaning (word recall,
the id read), never on a speech model's exact words."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import voice
from engine.briefer import fleet_vocabulary, spoken_reply, voice_config
from engine.runtime import Engine
from voice._stt import MAX_PROMPT_WORDS, bounded_prompt

FIRST = (
    "Good morning team. Please check the fleet status on Hetzner in Nuremberg and Falkenstein. Then restart "
    "everything degraded on Vultr, about thirteen users. After that, fail over account zero four two to its "
    "standby on DigitalOcean. Also look at the Contabo instances, they were slow yesterday. "
)
SECOND = (
    "Second part. Provision twenty new pairs on Hetzner with the standby on Vultr, standard tier, in Europe. "
    "Push the new gateway config to every instance in Singapore in batches of ten. Tear down the idle "
    "accounts that Ledger found last week, but archive them first. Thanks, that is all."
)


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]{4,}", text.lower()))


@pytest.mark.voice
def test_a_long_note_with_the_vocabulary_prompt_keeps_every_part(vcfg: Any) -> None:
    ogg = voice.synthesize(FIRST + SECOND, vcfg)
    assert voice.probe(ogg) > 30  # longer than one 30-s Whisper window
    heard = voice.transcribe(ogg, vcfg)
    for part in (FIRST, SECOND):
        recall = len(words(part) & words(heard.text)) / len(words(part))
        assert recall >= 0.75, (part[:40], heard.text)  # the prompt used to drop ~25 s: recall ≈ 0.1
    assert "acct-042" in heard.text or "042" in heard.text


@pytest.mark.parametrize(
    ("said", "written"),
    [
        ("show account zero four two", "show acct-042"),
        ("acct 42 please", "acct-042 please"),
        ("silence the alerts for Acts 17 for 30 minutes", "silence the alerts for acct-017 for 30 minutes"),
        ("Resize Account 1-2-3 to performance", "Resize acct-123 to performance"),
        ("fail over account forty two to its standby", "fail over acct-042 to its standby"),
        ("account one hundred and five", "acct-105"),
        ("Failover, Count 1 2 3.", "Failover, acct-123."),  # "account" misheard, said digit by digit
        ("count 5 degraded instances", "count 5 degraded instances"),
        ("Show account 0.42.", "Show acct-042."),
        ("Failover, Count123.", "Failover, acct-123."),
        ("how many accounts are degraded", "how many accounts are degraded"),
        ("check the account for errors", "check the account for errors"),
    ],
)
def test_spoken_account_ids_are_written_as_ids(said: str, written: str) -> None:
    assert voice.normalize_transcript(said) == written


def test_spoken_answers_are_short_and_say_ids_as_people_do() -> None:
    reply = (
        "[CMD] DEMO fleet: 80 instances across 40 accounts — 53 ACTIVE, 24 DEGRADED, 3 FAILED.\n"
        "By provider: digitalocean 26 (5 DEGRADED, 1 FAILED); vultr 24 (13 DEGRADED); hetzner 22 (6 DEGRADED); "
        "contabo 6 (1 FAILED); hostinger 2 (1 FAILED).\n"
        "Needs attention: i-acct-007-p contabo us-contabo-central FAILED 0 (unreachable for 3 sweeps); "
        "i-acct-021-p hostinger ap-hostinger-sin FAILED 0; and 19 more."
    )
    spoken = spoken_reply(reply)
    assert len(spoken.split()) <= 55  # about 20 s at Piper's pace
    assert "80 instances" in spoken and spoken.endswith("Details in the chat.")
    assert "i-acct" not in spoken and "(" not in spoken.split("Details")[0].split(".")[0]
    assert spoken_reply("[Forge] acct-042 fails over to its standby.") == "Account 42 fails over to its standby."
    plan = spoken_reply(
        "[CMD] Plan pl-0123abcd: Restart the OpenClaw gateway on 13 instances (DEGRADED instances on "
        "vultr), affecting 13 users. No cost change. Reversible. Policy: rule 5 needs your "
        "confirmation (13 users > 10). Rule 2 is fine. Rule 7 is fine. Rule 1 is fine.\n"
        'Confirm? Say "go 13" to run it or "cancel".'
    )
    assert plan.count("Confirm?") == 1 and 'Say "go 13"' in plan  # what to answer is never cut
    assert "over 10" in plan and len(plan.split()) <= 55


def test_the_vocabulary_is_the_fleets_own_and_bounded(clawops_home: Path) -> None:
    engine = Engine.open(demo_pairs=30)
    try:
        vocab = fleet_vocabulary(engine.store)
        cfg = voice_config(engine.settings.model_copy(update={"voice_speaking_rate": 1.25}), engine.store)
    finally:
        engine.close()
    assert "Hetzner" in vocab and "Guardian" in vocab and "Nuremberg" in vocab
    assert cfg.vocabulary == vocab and cfg.tts_length_scale == 0.8
    prompt = bounded_prompt(vocab + " extra" * 500)
    assert prompt is not None and len(prompt.split()) == MAX_PROMPT_WORDS
