"""One conversation turn: message → brain → tool calls → reply (ARCHITECTURE §4).

This is where "go" is understood: a confirmation is honoured only when it is
the operator's own message (or ``--yes``) and only for the plan pending in
*that* session.  A brain can propose, never approve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.brain import (
    CancelIntent,
    ConfirmIntent,
    HelpIntent,
    Intent,
    OfflineBrain,
    ToolIntent,
    UnknownIntent,
)
from engine.errors import ClawOpsError
from engine.operations import Operations, ToolOutcome
from engine.policy import Caller
from engine.replies import outcome_text, tag
from engine.store import ConversationSession, utcnow

HELP_TEXT = (
    "I'm Commander, with Guardian, Forge, Ledger, Triage and Briefer behind me. Try: "
    "\"fleet status\", \"what's degraded on hetzner?\", \"show acct-042\", "
    "\"restart everything degraded on vultr\" (I plan first; you say go)."
)


@dataclass(slots=True)
class TurnResult:
    """The outcome of one turn: exactly the ``clawops ask --json`` contract, plus the session name."""

    reply: str
    agent: str = "commander"
    tool_calls: list[ToolOutcome] = field(default_factory=list)
    session: str | None = None

    @property
    def plan(self) -> dict[str, Any] | None:
        for call in reversed(self.tool_calls):
            if call.plan is not None:
                return call.plan.to_contract()
        return None

    @property
    def job(self) -> dict[str, Any] | None:
        for call in reversed(self.tool_calls):
            if call.job is not None:
                return call.job.to_contract()
        return None

    def to_contract(self) -> dict[str, Any]:
        return {
            "reply": self.reply,
            "agent": self.agent,
            "tool_calls": [c.to_contract() for c in self.tool_calls],
            "plan": self.plan,
            "job": self.job,
        }


class Conversation:
    """Runs turns for any channel; sessions live in the store so "go" survives a restart."""

    def __init__(self, ops: Operations, brain: OfflineBrain | None = None) -> None:
        self.ops = ops
        self.brain = brain or OfflineBrain()

    async def turn(self, caller: Caller, message: str, *, session: str | None = None, dry_run: bool = False,
                   yes: bool = False) -> TurnResult:
        intents = self.brain.understand(message)
        key = f"{caller.operator_id}:{session}" if session else ""
        lines: list[str] = []
        calls: list[ToolOutcome] = []
        for intent in intents:
            lines.append(await self._handle(caller, intent, key, dry_run=dry_run, yes=yes, calls=calls))
        reply = f"{tag('commander')} " + "\n".join(line for line in lines if line)
        return TurnResult(reply=reply, tool_calls=calls, session=session)

    async def _handle(self, caller: Caller, intent: Intent, key: str, *, dry_run: bool, yes: bool,
                      calls: list[ToolOutcome]) -> str:
        if isinstance(intent, ToolIntent):
            outcome = await self.ops.call(caller, intent.tool, intent.args, session_key=key, dry_run=dry_run,
                                          confirmed=yes)
            calls.append(outcome)
            if outcome.plan is not None and outcome.plan.status == "pending" and key:
                self._add_pending(caller, key, outcome.plan.id)
            return outcome_text(outcome)
        if isinstance(intent, ConfirmIntent):
            return await self._confirm(caller, key, calls)
        if isinstance(intent, CancelIntent):
            return self._cancel(caller, key)
        if isinstance(intent, HelpIntent):
            return HELP_TEXT
        assert isinstance(intent, UnknownIntent)
        if not intent.text:
            return "Say something and I'll get on it — for example \"fleet status\"."
        hint = " or ".join(f'"{s}"' for s in intent.suggestions[:3])
        return f"I didn't understand \"{_clip(intent.text)}\" — did you mean {hint}?"

    async def _confirm(self, caller: Caller, key: str, calls: list[ToolOutcome]) -> str:
        """"Go" confirms every plan this session is waiting on, in the order they were proposed."""
        plan_ids = self._take_pending(caller, key)
        if not plan_ids:
            return "There is nothing waiting for your go. Ask for something first."
        lines = []
        for plan_id in plan_ids:
            try:
                outcome = await self.ops.confirm(caller, plan_id)
            except ClawOpsError as err:
                lines.append(str(err))
                continue
            calls.append(outcome)
            lines.append(outcome_text(outcome))
        return "\n".join(lines)

    def _cancel(self, caller: Caller, key: str) -> str:
        plan_ids = self._take_pending(caller, key)
        if not plan_ids:
            return "There is nothing to cancel."
        cancelled = []
        for plan_id in plan_ids:
            try:
                cancelled.append(self.ops.cancel(caller, plan_id).id)
            except ClawOpsError:
                continue
        return f"Cancelled {', '.join(cancelled) or 'nothing'}; nothing was changed."

    def _row(self, s: Any, caller: Caller, key: str) -> ConversationSession:
        row = s.get(ConversationSession, key)
        if row is None:
            row = ConversationSession(key=key, operator_id=caller.operator_id, name=key.split(":", 1)[1])
        return row  # type: ignore[no-any-return]

    def _add_pending(self, caller: Caller, key: str, plan_id: str) -> None:
        with self.ops.store.session() as s:
            row = self._row(s, caller, key)
            pending = [p for p in row.context.get("pending_plans", []) if p != plan_id]
            row.context = {**row.context, "pending_plans": [*pending, plan_id]}
            row.pending_plan_id = plan_id
            row.updated_at = utcnow()
            s.add(row)

    def _take_pending(self, caller: Caller, key: str) -> list[str]:
        """The session's pending plans, cleared in the same transaction (a second "go" finds none)."""
        if not key:
            return []
        with self.ops.store.session() as s:
            row = s.get(ConversationSession, key)
            if row is None:
                return []
            pending = list(row.context.get("pending_plans", []))
            row.context = {**row.context, "pending_plans": []}
            row.pending_plan_id = None
            row.updated_at = utcnow()
            s.add(row)
            return pending


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
