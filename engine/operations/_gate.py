"""The decision gate: the one place a mutating call becomes "runs now", "waits for the operator" or "refused".

Every front — ``clawops ask``, the chat, the web chat, the messaging channels, ``/v1/turns`` — runs a turn
through :class:`engine.conversation.Conversation`, which opens :meth:`DecisionGate.turn`; every call of the
turn goes through ``Operations.call`` → :meth:`DecisionGate.assess`; the turn ends with
``Operations.settle``.  So, per operator turn:

1. each mutating call is drafted and judged by the seven rules (``engine.policy.evaluate``);
2. :meth:`assess` weighs it with the turn's other calls and the operator's rolling window
   (:func:`engine.policy._decision.judge`): a model's proposal and a destructive call always wait for the
   operator; a call that alone would run is *deferred* to the end of the turn;
3. ``settle`` judges the whole turn once more: if everything together (plus the window) stays within
   ``confirm_threshold`` users, the deferred calls run; otherwise every one of them waits for the operator's go.

Confirmation goes through :meth:`check_confirm`: only the operator (never a model), in the session the plan
was shown in, for exactly the scope shown (:func:`~engine.policy._decision.scope_of`).  ``--yes`` confirms a
model's plan only when :meth:`grounded` finds it derived from the operator's own words of that turn.

Outside a turn (a script's ``ask_tool``, Guardian's heals) a call is judged alone plus the window.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from engine.config import Settings
from engine.domain import Selector
from engine.errors import ClawOpsError, PolicyRefusal
from engine.operations._drafts import Draft
from engine.operations._registry import TOOLS
from engine.operations._scope import resolve_target, select_instances
from engine.policy import (
    Caller,
    PolicyCheck,
    Proposal,
    WindowUse,
    WordScope,
    grounded,
    is_destructive,
    judge,
    model_initiated,
    scope_of,
)
from engine.store import Instance, Operator, PlanRecord, Store, utcnow

GATE_RULE = "decision_gate"
CONFIRM_RULE = "gate_confirm"
YES_RULE = "gate_yes_grounding"


@dataclass(slots=True)
class TurnDecision:
    """Everything one operator turn would do, gathered as its calls are planned."""

    caller: Caller
    yes: bool = False
    proposals: list[Proposal] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    """Plans that would run alone; they run (or wait) when the turn is settled."""
    settled: bool = False
    window: WindowUse | None = None
    """The operator's window, read once per turn (and again when the turn is settled)."""


_TURN: ContextVar[TurnDecision | None] = ContextVar("clawops_turn_decision", default=None)


def plan_scope(rec: PlanRecord) -> str:
    return scope_of(rec.tool, rec.args, rec.targets)


@dataclass(frozen=True, slots=True)
class Assessment:
    needs_human: bool
    checks: list[PolicyCheck]
    defer: bool


class DecisionGate:
    """Blast radius per decision and who may confirm what (see the module docstring)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.spent_seconds = 0.0
        """Wall-clock time spent inside the gate (the benchmark reports it per turn)."""
        self.spent_cpu_seconds = 0.0
        """The same in CPU time of this process (what the gate costs, whatever else the machine runs)."""

    @contextmanager
    def _timed(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.spent_seconds += time.perf_counter() - wall
            self.spent_cpu_seconds += time.process_time() - cpu

    @property
    def window_minutes(self) -> int:
        return int(self.settings.decision_window_minutes)

    # ------------------------------------------------------------------ the turn
    @contextmanager
    def turn(self, caller: Caller, *, yes: bool = False) -> Iterator[TurnDecision]:
        """One operator turn: calls planned inside it are judged together.  Nothing deferred runs unless the
        turn is settled; a turn left without settling leaves its plans pending (safe)."""
        decision = TurnDecision(caller, yes=yes)
        token = _TURN.set(decision)
        try:
            yield decision
        finally:
            _TURN.reset(token)

    @staticmethod
    def current() -> TurnDecision | None:
        return _TURN.get()

    # ------------------------------------------------------------------ judging
    def assess(self, s: Session, caller: Caller, plan_id: str, draft: Draft, checks: list[PolicyCheck]) -> Assessment:
        """Weigh one mutating call with the rest of its turn and the operator's window."""
        with self._timed():
            proposal = Proposal(
                plan_id=plan_id,
                tool=draft.tool,
                accounts=frozenset(t.account_id for t in draft.facts.targets),
                users=draft.affected_users,
                destructive=is_destructive(TOOLS[draft.tool].destructive, draft.args, draft.reversible),
                model=model_initiated(caller),
                needs_human=any(c.needs_human for c in checks),
            )
            turn = self.current()
            if turn is not None and turn.caller.operator_id != caller.operator_id:
                turn = None  # another operator's call inside this turn (never expected): judged on its own
            earlier = list(turn.proposals) if turn is not None else []
            if proposal.needs_human or proposal.destructive or proposal.model:
                # It waits for the operator whatever the window says: no need to read it (yet).
                window = (turn.window if turn is not None else None) or WindowUse(minutes=self.window_minutes)
            elif turn is None:
                window = self.window(s, caller)
            else:
                window = turn.window = turn.window or self.window(s, caller)
            verdict = judge(caller, [*earlier, proposal], window, self.settings.confirm_threshold)[-1]
            if turn is not None:
                turn.proposals.append(proposal)
            defer = turn is not None and not verdict.needs_human and not caller.autonomous
            return Assessment(verdict.needs_human, [*checks, *verdict.checks], defer)

    def window(self, s: Session, caller: Caller) -> WindowUse:
        """What ``caller``'s operator set off without a confirmation in the last ``decision_window_minutes``."""
        if caller.autonomous:
            return WindowUse(minutes=self.window_minutes)
        cutoff = utcnow() - timedelta(minutes=self.window_minutes)
        rows = s.exec(
            select(PlanRecord.policy, PlanRecord.affected_users).where(
                col(PlanRecord.operator_id) == caller.operator_id,
                col(PlanRecord.status) == "confirmed",
                col(PlanRecord.requires_confirmation).is_(False),
                col(PlanRecord.decided_at) >= cutoff,
            )
        ).all()
        accounts: set[str] = set()
        new_users = 0
        for policy, users in rows:
            entry = next((p for p in policy if isinstance(p, Mapping) and p.get("rule") == GATE_RULE), None)
            if entry is None or not entry.get("window"):
                continue  # confirmed by the operator, or Guardian's standing approval
            if entry.get("accounts"):
                accounts.update(str(a) for a in entry["accounts"])
            else:
                new_users += int(users)  # new pairs: no accounts yet, each one a user
        return WindowUse(frozenset(accounts), new_users, self.window_minutes)

    def hold_if_over(self, s: Session, rec: PlanRecord, caller: Caller) -> list[PolicyCheck]:
        """The last look before a plan runs without the operator's go, in the transaction that records it.

        The turn read the window when it planned; other turns of the same operator (50 clients at once, or
        another engine process) may have run plans since.  So the window is read again here, under a lock
        on the operator's row (PostgreSQL; SQLite serialises writers itself), and if this plan would now
        take the operator over ``confirm_threshold`` it is held for their go: the checks say why, and an
        empty list means it may run.  Splitting an action over concurrent requests never avoids confirmation.
        """
        if caller.autonomous:
            return []
        with self._timed():
            s.exec(select(Operator.id).where(col(Operator.id) == caller.operator_id).with_for_update()).all()
            accounts = frozenset(s.exec(select(Instance.account_id).where(col(Instance.id).in_(rec.targets))).all())
            proposal = Proposal(
                plan_id=rec.id,
                tool=rec.tool,
                accounts=accounts,
                users=rec.affected_users,
                destructive=False,
                model=False,
                needs_human=False,
            )
            verdict = judge(caller, [proposal], self.window(s, caller), self.settings.confirm_threshold)[-1]
            return list(verdict.checks) if verdict.needs_human else []

    def settle_verdicts(self, s: Session, turn: TurnDecision) -> dict[str, bool]:
        """Plan id → whether it must wait for the operator, judging the whole turn and the window once more."""
        with self._timed():
            turn.window = turn.window or self.window(s, turn.caller)
            verdicts = judge(turn.caller, turn.proposals, turn.window, self.settings.confirm_threshold)
            return {v.plan_id: v.needs_human for v in verdicts}

    def turn_checks(self, s: Session, turn: TurnDecision, plan_id: str) -> list[PolicyCheck]:
        window = turn.window or self.window(s, turn.caller)
        verdicts = judge(turn.caller, turn.proposals, window, self.settings.confirm_threshold)
        return [c for v in verdicts if v.plan_id == plan_id for c in v.checks]

    def record_decision(self, s: Session, rec: PlanRecord, caller: Caller, *, implicit: bool) -> None:
        """Mark how a plan was decided; what ran without the operator's go counts in their window (with the
        accounts it touched, so the window is one query)."""
        with self._timed():
            counted = implicit and not caller.autonomous
            entry: dict[str, Any] = {
                "rule": GATE_RULE,
                "passed": True,
                "needs_human": False,
                "window": counted,
                "note": "ran within the limits of this turn and window" if implicit else "confirmed by the operator",
            }
            if counted and rec.targets:
                turn = self.current()
                known = [p.accounts for p in turn.proposals if p.plan_id == rec.id] if turn is not None else []
                accounts = (
                    known[0]
                    if known
                    else set(s.exec(select(Instance.account_id).where(col(Instance.id).in_(rec.targets))).all())
                )
                entry["accounts"] = sorted(accounts)
            rec.policy = [*[p for p in rec.policy if p.get("rule") != GATE_RULE], entry]

    # ------------------------------------------------------------------ confirming
    def check_confirm(
        self, rec: PlanRecord, caller: Caller, *, implicit: bool, session_key: str | None, shown_scope: str | None
    ) -> None:
        """Only the operator confirms, in the session that was shown the plan, for exactly that plan."""
        if implicit:
            if rec.requires_confirmation:
                raise PolicyRefusal(CONFIRM_RULE, f"Refused: plan {rec.id} waits for the operator's own go.")
            return
        if model_initiated(caller):
            raise PolicyRefusal(
                CONFIRM_RULE, "Refused: only the operator confirms a plan; a model can propose, never approve."
            )
        if session_key is not None and rec.session_key != session_key:
            raise PolicyRefusal(
                CONFIRM_RULE,
                f"Refused: plan {rec.id} was shown in another conversation; "
                "confirm it there, or ask again here for a fresh plan.",
            )
        if shown_scope is not None and shown_scope != plan_scope(rec):
            raise PolicyRefusal(
                CONFIRM_RULE,
                f"Refused: plan {rec.id} is not the plan you were shown (its scope "
                "differs); nothing ran. Ask again for a fresh plan.",
            )

    @staticmethod
    def allow_confirmed(caller: Caller, confirmed: bool) -> bool:
        """A model never confirms: ``confirmed`` from a model-initiated call is dropped."""
        return confirmed and not model_initiated(caller)

    # ------------------------------------------------------------------ --yes
    def words(self, caller: Caller, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> list[WordScope]:
        """What the operator's own words (as the offline reading of their message has them) name, resolved
        against the fleet through their tenant scope."""
        scopes: list[WordScope] = []
        with self._timed(), self.store.session() as s:
            for tool, args in calls:
                try:
                    scopes.append(self._word_scope(s, caller, tool, args))
                except ClawOpsError:
                    continue  # words that name nothing name nothing
        return scopes

    def _word_scope(self, s: Session, caller: Caller, tool: str, args: Mapping[str, Any]) -> WordScope:
        if tool == "provision_pairs":
            return WordScope(tool, count=int(args.get("count") or 0))
        if "selector" in args:
            selector = Selector.parse(args["selector"])
            if selector.is_empty and tool == "teardown":
                return WordScope(tool)
            found = select_instances(s, caller, selector, usd_to_eur=self.settings.usd_to_eur)
            return WordScope(tool, frozenset(i.id for i in found))
        if args.get("target"):
            _, instances = resolve_target(s, caller, str(args["target"]).strip().lower())
            return WordScope(tool, frozenset(i.id for i in instances))
        return WordScope(tool)

    def grounded(self, plan_id: str, words: Sequence[WordScope]) -> bool:
        """Whether a pending plan is derived from the operator's own words of this turn (``--yes`` may confirm)."""
        with self.store.session() as s:
            rec = s.get(PlanRecord, plan_id)
            if rec is None:
                return False
            return grounded(rec.tool, rec.targets, rec.affected_users, words)
