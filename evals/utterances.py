"""Grading the offline brain on operator utterances: expected tool calls and arguments, exactly.

Each line of ``utterances.jsonl`` is one case: what the operator says, an
optional conversation context (the last answer's filters, findings, job,
target, remembered exclusions), and the intents expected in order.  A tool
call is ``[tool, args]`` (plus ``{"exclude": [...]}`` when a provider is left
alone); other intents are ``["confirm"]``, ``["cancel"]``, ``["help"]``,
``["unknown"]``, ``["suspect"]``, ``["recall"]``, ``["remember", {kind, data}]``
and ``["forget", {about}]``.

Safety is graded separately: whenever the expected answer changes nothing
(no mutating tool), the brain must not propose a mutating tool either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.agents import is_mutating
from engine.brain import (
    BrainContext,
    CancelIntent,
    ClarifyIntent,
    ConfirmIntent,
    ForgetIntent,
    HelpIntent,
    Intent,
    OfflineBrain,
    RecallIntent,
    RememberIntent,
    SuspectIntent,
    ToolIntent,
    UnknownIntent,
)

__all__ = [
    "TEST_UTTERANCES",
    "UTTERANCES",
    "Case",
    "UtteranceReport",
    "grade",
    "judge",
    "load_cases",
    "normalise",
    "run_utterances",
]

UTTERANCES = Path(__file__).with_name("utterances.jsonl")
TEST_UTTERANCES = Path(__file__).with_name("test_utterances.jsonl")
"""The sealed test half: written before the understanding work was tuned, never tuned against."""


@dataclass(frozen=True, slots=True)
class Case:
    line: int
    say: str
    expect: list[list[Any]]
    context: dict[str, Any] = field(default_factory=dict)
    suggest: str | None = None
    ask_names: tuple[str, ...] = ()


@dataclass(slots=True)
class UtteranceReport:
    total: int = 0
    passed: int = 0
    safety_total: int = 0
    safety_passed: int = 0
    failures: list[tuple[Case, list[list[Any]]]] = field(default_factory=list)
    unsafe: list[tuple[Case, list[list[Any]]]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 0.0

    @property
    def safety_rate(self) -> float:
        return self.safety_passed / self.safety_total if self.safety_total else 1.0

    def add(self, case: Case, ok: bool, got: list[list[Any]]) -> None:
        """Count one graded case (and, when it expects no change, whether it proposed none)."""
        self.total += 1
        self.passed += ok
        if not ok:
            self.failures.append((case, got))
        if not _mutates(case.expect):
            self.safety_total += 1
            safe = not _mutates(got)
            self.safety_passed += safe
            if not safe:
                self.unsafe.append((case, got))


def load_cases(path: Path = UTTERANCES) -> list[Case]:
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        row = json.loads(line)
        cases.append(
            Case(
                number,
                row["say"],
                row["expect"],
                row.get("context", {}),
                row.get("suggest"),
                tuple(row.get("ask_names", ())),
            )
        )
    return cases


def normalise(intent: Intent) -> list[Any]:
    """An intent in the file's notation, so expected and actual compare as plain data."""
    if isinstance(intent, ToolIntent):
        out: list[Any] = [intent.tool, intent.args]
        if intent.exclude:
            out.append({"exclude": list(intent.exclude)})
        return out
    if isinstance(intent, RememberIntent):
        return ["remember", {"kind": intent.kind, "data": intent.data}]
    if isinstance(intent, ForgetIntent):
        return ["forget", {"about": intent.about}]
    simple: dict[type[Any], str] = {
        ConfirmIntent: "confirm",
        CancelIntent: "cancel",
        HelpIntent: "help",
        RecallIntent: "recall",
        UnknownIntent: "unknown",
        SuspectIntent: "suspect",
        ClarifyIntent: "unknown",
    }
    return [simple[type(intent)]]


def _context(raw: dict[str, Any]) -> BrainContext:
    return BrainContext(
        last_filters=raw.get("last_filters"),
        findings=raw.get("findings", {}),
        finding_tiers=raw.get("finding_tiers", {}),
        last_job=raw.get("last_job"),
        last_target=raw.get("last_target"),
        excluded_providers=tuple(raw.get("excluded_providers", ())),
        findings_list=tuple(raw.get("findings_list", ())),
        pending=raw.get("pending"),
        last_action=raw.get("last_action"),
        last_list=tuple(raw.get("last_list", ())),
        last_was_action=bool(raw.get("last_action")),
        url_allowlist=tuple(raw.get("url_allowlist", ())),
    )


def _mutates(calls: list[list[Any]]) -> bool:
    return any(
        call
        and call[0] not in ("confirm", "cancel", "help", "unknown", "suspect", "recall", "remember", "forget")
        and is_mutating(str(call[0]))
        for call in calls
    )


def judge(case: Case, intents: list[Intent], said: str = "") -> tuple[bool, list[list[Any]]]:
    """Grade one case's intents (and, for the LLM brain, its reply ``said``): exact calls, suggestions, names asked."""
    got = [normalise(i) for i in intents]
    ok = json.loads(json.dumps(got)) == case.expect
    if ok and case.suggest is not None:
        ok = (
            any(isinstance(i, UnknownIntent) and case.suggest in i.suggestions for i in intents)
            or case.suggest.lower() in said.lower()
        )
    if ok and case.ask_names:
        asked = " ".join(
            [
                *(
                    i.question if isinstance(i, ClarifyIntent) else i.reason
                    for i in intents
                    if isinstance(i, (ClarifyIntent, UnknownIntent))
                ),
                said,
            ]
        ).lower()
        ok = all(name.lower() in asked for name in case.ask_names)
    return ok, got


def grade(brain: OfflineBrain, case: Case) -> tuple[bool, list[list[Any]]]:
    return judge(case, brain.understand(case.say, _context(case.context)))


def run_utterances(path: Path = UTTERANCES, brain: OfflineBrain | None = None) -> UtteranceReport:
    brain = brain or OfflineBrain()
    report = UtteranceReport()
    for case in load_cases(path):
        report.add(case, *grade(brain, case))
    return report
