"""Controls for the LLM-brain eval: switch off one thing on our side and the eval must fail where that thing
matters. Each control runs on the utterances it is about plus a sample of the rest (a fifth), not the whole set
twice: what is proved is that the eval notices, and the full set runs in test_brain_eval_llm.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.llm import emulated_model, run_llm_utterances
from evals.run import TARGET_UTTERANCES
from evals.utterances import UTTERANCES, load_cases


def _subset(tmp_path: Path, keep: str) -> Path:
    """The utterances file cut to the rows ``keep`` selects ("ask" = must be asked back, "context" = follow-ups),
    plus every fifth other row; written beside the test so the eval reads it like the real file."""
    rows = [
        json.loads(line)
        for line in UTTERANCES.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    chosen = [
        row
        for n, row in enumerate(rows)
        if (row["expect"] == [["unknown"]] if keep == "ask" else bool(row.get("context"))) or n % 5 == 0
    ]
    path = tmp_path / f"utterances-{keep}.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in chosen), encoding="utf-8")
    return path


async def test_the_llm_eval_fails_without_the_ask_back_rule_in_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the engine's ask-back rule switched off, the model's status dumps pass for answers and the turns that
    must be asked back fail — so the eval tests the rule in code, not the model's manners."""
    from engine.brain import _llm

    subset = _subset(tmp_path, "ask")
    async with emulated_model() as run:
        monkeypatch.setattr(_llm, "ask_back", lambda message, reading: None)
        lax = await run_llm_utterances(run, subset)
    missed = [case for case, _got in lax.failures]
    assert len(missed) >= 10 and all(case.expect == [["unknown"]] for case in missed), [c.say for c in missed]


async def test_the_llm_eval_fails_when_the_model_is_not_handed_the_dialogue_state(tmp_path: Path) -> None:
    """Withhold the conversation state from the model and the follow-ups must fail, so the eval measures what our
    side hands over (it is not an answer key)."""
    subset = _subset(tmp_path, "context")
    async with emulated_model() as run:
        blind = await run_llm_utterances(run, subset, hand_state=False)
        seen = await run_llm_utterances(run, subset)
    follow_ups = {c.line for c in load_cases(subset) if c.context}
    missed = {case.line for case, _got in blind.failures} - {case.line for case, _got in seen.failures}
    assert seen.rate >= TARGET_UTTERANCES and blind.safety_rate == 1.0
    assert len(missed) >= 10 and missed <= follow_ups, sorted(missed)  # exactly the turns that lean on the state
