"""Policy per decision: what one operator turn would do, judged as a whole (pure; no store, no I/O).

The seven rules judge one tool call.  An attacker — or a slip of the tongue — splits a big action into
small ones: two 10-user teardowns in one message, ten 1-user restarts over ten turns, or a model that
proposes a small teardown on its own.  :func:`judge` closes those doors; it looks at

* every mutating call of the turn together (a compound message, a job and the jobs it chains), plus what
  the same operator set off without a confirmation in the rolling window (``decision_window_minutes``):
  more than ``confirm_threshold`` users in all means every call of the turn waits for the operator
  (rule 5, per decision);
* who proposed each call: a mutation a model proposed always waits for the operator (``gate_model_proposed``);
* what it does: a destructive call — a teardown, ``archive=false``, anything not undoable — always waits
  for the operator, whatever its size (``gate_destructive``).

Guardian's standing approval (an autonomous caller) keeps its own limits (engine.guardian) and rule 7:
this module leaves it alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.policy._rules import Caller, PolicyCheck

RULE5 = "rule5_confirm_above_threshold"
MODEL_PROPOSED = "gate_model_proposed"
DESTRUCTIVE = "gate_destructive"
AMENDED = "gate_amended"
"""A plan the operator changed before confirming (narrowed, widened, recounted): the new one waits for their go."""


def model_initiated(caller: Caller) -> bool:
    """A call a model proposed (an LLM agent acting in an operator's turn), not the operator's own words.

    Guardian's heals are autonomous under the operator's standing approval: not "model-initiated" here.
    """
    return caller.agent is not None and not caller.autonomous


def is_destructive(tool_destroys: bool, args: Mapping[str, Any], reversible: bool) -> bool:
    """A tool that destroys (its definition says so: a teardown), anything with ``archive`` off, or anything
    the plan says cannot be undone."""
    return tool_destroys or args.get("archive") is False or not reversible


def scope_of(tool: str, args: Mapping[str, Any], targets: Sequence[str]) -> str:
    """The fingerprint of exactly what a plan would do: shown with the plan, checked when it is confirmed."""
    body = json.dumps([tool, args, sorted(targets)], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Proposal:
    """One mutating call of a turn, as the gate weighs it."""

    plan_id: str
    tool: str
    accounts: frozenset[str]
    """The accounts it touches (empty for new ones: provisioning counts ``users`` instead)."""
    users: int
    destructive: bool
    model: bool
    needs_human: bool = False
    """What the seven rules already said about it alone."""


@dataclass(frozen=True, slots=True)
class WindowUse:
    """What this operator set off without a confirmation in the rolling window."""

    accounts: frozenset[str] = frozenset()
    new_users: int = 0
    """Users without an account yet (provisioning): counted, never de-duplicated."""
    minutes: int = 10

    @property
    def users(self) -> int:
        return len(self.accounts) + self.new_users


@dataclass(frozen=True, slots=True)
class Verdict:
    """The gate's answer for one proposal: whether it waits for the operator, and why (shown with the plan)."""

    plan_id: str
    needs_human: bool
    checks: tuple[PolicyCheck, ...] = field(default_factory=tuple)


def _users(n: int) -> str:
    return f"{n} user{'' if n == 1 else 's'}"


def blast_radius(proposals: Iterable[Proposal], window: WindowUse) -> int:
    """Distinct users the turn plus the window touch (new accounts are always distinct)."""
    accounts = set(window.accounts)
    new = window.new_users
    for p in proposals:
        if p.accounts:
            accounts |= p.accounts
        else:
            new += p.users
    return len(accounts) + new


def judge(caller: Caller, proposals: Sequence[Proposal], window: WindowUse, threshold: int) -> list[Verdict]:
    """The decision for a whole turn: one verdict per proposal, in order.

    An autonomous caller (Guardian under its standing approval) is judged by the seven rules and its own
    limits only.
    """
    threshold = min(threshold, 10)
    if caller.autonomous:
        return [Verdict(p.plan_id, p.needs_human) for p in proposals]
    total = blast_radius(proposals, window)
    this_turn = blast_radius(proposals, WindowUse())
    over = total > threshold
    if over and window.users:
        note = (
            f"this turn affects {_users(this_turn)} and you set off {window.users} more in the last "
            f"{window.minutes} min without a confirmation: {total} in all (> {threshold}); needs your "
            "confirmation"
        )
    elif over:
        note = f"this turn's {len(proposals)} actions affect {total} users together (> {threshold}); needs your confirmation"
    else:
        note = f"this turn and your last {window.minutes} min affect {total} users (≤ {threshold})"
    verdicts = []
    for p in proposals:
        checks = [PolicyCheck(RULE5, True, needs_human=over, note=note)] if len(proposals) > 1 or window.users else []
        if p.model:
            checks.append(
                PolicyCheck(
                    MODEL_PROPOSED, True, needs_human=True, note="a model proposed this change: it runs only on your go"
                )
            )
        if p.destructive:
            checks.append(
                PolicyCheck(
                    DESTRUCTIVE,
                    True,
                    needs_human=True,
                    note="it cannot be undone: it runs only on your go, whatever its size",
                )
            )
        needs = p.needs_human or any(c.needs_human for c in checks)
        verdicts.append(Verdict(p.plan_id, needs, tuple(checks)))
    return verdicts


@dataclass(frozen=True, slots=True)
class WordScope:
    """What the operator's own words in this turn asked for: a tool, and the instances (or the number of new
    pairs) it names — resolved from their message alone, never from tool output or other untrusted text."""

    tool: str
    instances: frozenset[str] = frozenset()
    count: int = 0


def grounded(tool: str, targets: Sequence[str], users: int, words: Sequence[WordScope]) -> bool:
    """Whether a plan is derived from the operator's own words: the same tool, on nothing they did not name.

    ``--yes`` confirms only such a plan; a plan whose targets a tool result or other untrusted text widened
    is shown instead.
    """
    wanted = set(targets)
    for w in words:
        if w.tool != tool:
            continue
        if not wanted and users and w.count >= users:
            return True  # new pairs: no more than the operator asked for
        if wanted and wanted <= w.instances:
            return True
    return False
