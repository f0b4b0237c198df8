"""The eval through the LLM brain: every single turn and every session, both halves, via the Messages-API emulator.

The real ``anthropic`` SDK talks to :class:`~engine.brain.emulator.AnthropicEmulator` on loopback, whose model is
:class:`~evals.model.PlausibleModel` (it reads only the request: the words, the conversation state in the system
prompt, the tool schemas).  What is graded is our side of the turn:

- **single turns**: routed as the conversation routes them (:func:`engine.brain.answers_offline`: "go", "cancel",
  amendments and other follow-ups on the dialogue state are read offline whichever brain is configured); the
  rest go to :meth:`LLMBrain.run` with the case's dialogue state, and the calls the model proposed — after the
  engine's own checks (the operator's "leave X alone", the config schema, the ask-back rule) — are graded against
  the same expectations as the offline brain's intents.  A question back (the model's, or the ask-back rule's)
  grades as ``["unknown"]``;
- **sessions**: the whole conversation through an engine whose LLM brain is configured, so every non-offline
  turn is a model turn.  One difference is by design and graded as such: a call a *model* proposed always waits
  for the operator (policy check ``gate_model_proposed``), so where a turn expects ``ran`` and the model's plan is
  waiting instead, the eval says "go" as the operator would, and grades the two as that turn;
- **scenarios**: the end-to-end stories, with the same engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from engine.agents import is_mutating
from engine.brain import (
    BrainContext,
    ClarifyIntent,
    ForgetIntent,
    Intent,
    OfflineBrain,
    RememberIntent,
    ToolIntent,
    UnknownIntent,
    answers_offline,
    apply_exclusions,
    left_alone,
    llm_brain_for,
)
from engine.brain._llm import LLMBrain
from engine.brain.emulator import AnthropicEmulator
from engine.config import Settings
from engine.conversation import TurnResult
from engine.operations import ToolOutcome
from engine.runtime import Engine
from evals.model import PlausibleModel
from evals.scenarios import ScenarioResult, run_scenarios
from evals.sessions import PAIRS, SessionResult, run_sessions
from evals.utterances import UtteranceReport, _context, judge, load_cases

__all__ = [
    "LLMRun",
    "auto_go",
    "emulated_model",
    "open_llm_engine",
    "run_llm_scenarios",
    "run_llm_sessions",
    "run_llm_utterances",
    "understand",
]

API_KEY = "sk-eval-emulator"


@dataclass(slots=True)
class LLMRun:
    """Where the LLM eval's model is served, and what it could not express (a schema or allowance gap)."""

    emulator: AnthropicEmulator
    model: PlausibleModel
    auto_go: int = 0
    """Session turns where the model's plan waited (gate_model_proposed) and the eval said "go" for the operator."""
    offline_turns: int = 0
    model_turns: int = 0
    """Single turns read offline by routing (go, cancel, amendments …) and turns the model answered."""

    @property
    def base_url(self) -> str:
        return self.emulator.base_url


@asynccontextmanager
async def emulated_model() -> AsyncIterator[LLMRun]:
    """A Messages-API emulator on loopback whose model is :class:`PlausibleModel`; it keeps no log of the requests
    (nothing here reads it, and keeping them all costs the garbage collector about a CPU-second a run)."""
    model = PlausibleModel()
    async with AnthropicEmulator(responder=model, record=False) as server:
        yield LLMRun(server, model)


def open_llm_engine(run: LLMRun, home: Path, pairs: int) -> Engine:
    """A demo engine whose LLM brain is the real SDK pointed at the emulated model."""
    engine = Engine.open(
        home=home, demo_pairs=pairs, demo_providers="sim", anthropic_api_key=API_KEY, anthropic_base_url=run.base_url
    )
    assert engine.conversation.llm is not None
    engine.conversation.llm.backoff = 0.001
    return engine


def _brain(run: LLMRun) -> LLMBrain:
    brain = llm_brain_for(Settings(anthropic_api_key=SecretStr(API_KEY), anthropic_base_url=run.base_url))
    assert brain is not None
    brain.backoff = 0.001
    return brain


# ---------------------------------------------------------------------------------------------- single turns
async def understand(
    brain: LLMBrain, message: str, ctx: BrainContext, *, hand_state: bool = True
) -> tuple[list[Intent], str, bool]:
    """One turn through the LLM brain, as the conversation would run it: the intents it amounts to, the reply, and
    whether the model answered it (False: routed to the offline reading, as the conversation does).

    ``hand_state=False`` withholds the dialogue state from the model (a control: the eval must then fail the
    follow-ups, or it could not fail at all).
    """
    reading = OfflineBrain().understand(message, ctx)
    if answers_offline(message, reading):
        return reading, "", False

    async def execute(agent: str, tool: str, args: dict[str, Any]) -> ToolOutcome:
        return ToolOutcome(tool, args, "planned" if is_mutating(tool) else "done")

    memories = [f"leave {p} alone" for p in ctx.excluded_providers]
    reply = await brain.run(message, execute, memories=memories, context=ctx if hand_state else None, reading=reading)
    if reply.asked is not None:
        return [ClarifyIntent(reply.asked.question, unknown_words=reply.asked.unknown_words)], reply.text, True
    proposed: list[Intent] = [
        ToolIntent(str(p["tool"]), dict(p["args"]))
        for p in reply.proposed
        if p.get("status") not in ("held",) and p["tool"] not in ("sessions_spawn", "sessions_send")
    ]
    intents = apply_exclusions(proposed, left_alone(ctx, reading))  # as the conversation's _keep_preferences
    intents += [i for i in reading if isinstance(i, (RememberIntent, ForgetIntent))]  # kept by the conversation
    return intents or [UnknownIntent(message, reason=reply.text)], reply.text, True


async def run_llm_utterances(run: LLMRun, path: Path, *, hand_state: bool = True) -> UtteranceReport:
    brain = _brain(run)
    report = UtteranceReport()
    try:
        for case in load_cases(path):
            intents, said, modelled = await understand(brain, case.say, _context(case.context), hand_state=hand_state)
            run.model_turns += modelled
            run.offline_turns += not modelled
            report.add(case, *judge(case, intents, said))
    finally:
        await brain.aclose()
    return report


# ---------------------------------------------------------------------------------------------- sessions
def model_turn(result: TurnResult) -> bool:
    """A turn the model answered whose plan now waits for the operator (gate_model_proposed)."""
    return any(
        c.plan is not None and c.plan.status == "pending" and c.job is None for c in result.tool_calls
    ) and not any(c.job is not None for c in result.tool_calls)


def auto_go(run: LLMRun) -> Callable[[Engine, str, dict[str, Any], TurnResult], Awaitable[TurnResult]]:
    """The eval's "go" for a turn that expects ``ran`` where the model's plan waits, merged into that turn."""

    async def go(engine: Engine, session: str, expect: dict[str, Any], result: TurnResult) -> TurnResult:
        if expect.get("kind") != "ran" and "ran_plan" not in expect or not model_turn(result):
            return result
        run.auto_go += 1
        confirmed = await engine.ask("go", session=session)
        return TurnResult(
            reply=f"{result.reply}\n{confirmed.reply}",
            agent=result.agent,
            tool_calls=[*result.tool_calls, *confirmed.tool_calls],
            session=result.session,
        )

    return go


async def run_llm_sessions(run: LLMRun, path: Path, base: Path, only: tuple[str, ...] = ()) -> list[SessionResult]:
    return await run_sessions(
        path, base / "llm", only, open_engine=lambda home: open_llm_engine(run, home, PAIRS), after_turn=auto_go(run)
    )


async def run_llm_scenarios(run: LLMRun, base: Path, only: tuple[str, ...] = ()) -> list[ScenarioResult]:
    return await run_scenarios(base / "llm", only, open_engine=lambda home: open_llm_engine(run, home, PAIRS))
