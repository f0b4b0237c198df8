"""One conversation turn: message → brain → tool calls → reply (ARCHITECTURE §4).

This is where "go" is understood: a confirmation is honoured only when it is
the operator's own message (or ``--yes``) and only for the plans pending in
*that* session.  A brain can propose, never approve.

Two brains sit behind one turn.  The deterministic offline brain always reads
the operator's message first: "go", "cancel", memory requests and messages
that read like a prompt injection are handled without any model.  Everything
else goes to the LLM brain when one is configured, and to the offline brain
when not — or when the model API fails, so the operator always gets an answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from engine import audit
from engine.agents import is_mutating
from engine.brain import (
    BrainContext,
    BrainUnavailable,
    CancelIntent,
    ClarifyIntent,
    ConfirmIntent,
    DialogueKeeper,
    ForgetIntent,
    HelpIntent,
    Intent,
    OfflineBrain,
    RecallIntent,
    RememberIntent,
    SuspectIntent,
    ToolIntent,
    UnknownIntent,
    answers_offline,
    apply_exclusions,
    left_alone,
)
from engine.domain import Selector
from engine.errors import ClawOpsError, InputError
from engine.events import EngineEvent, TokenDelta, ToolCalled, TurnFailed, TurnFinished, TurnStarted
from engine.operations import TOOL_AGENT, Operations, ToolOutcome
from engine.policy import Caller
from engine.replies import outcome_text, tag
from engine.store import ConversationSession, Memory, utcnow

if TYPE_CHECKING:
    from engine.brain._llm import LLMBrain

__all__ = ["HELP_TEXT", "TOOL_AGENT", "Conversation", "ToolCall", "TurnResult", "scoped_confirmation"]

log = logging.getLogger(__name__)

HELP_TEXT = (
    "I'm Commander, with Guardian, Forge, Ledger, Triage and Briefer behind me. Try: "
    '"fleet status", "what\'s degraded on hetzner?", "show acct-042", '
    '"restart everything degraded on vultr" (I plan first; you say go), "where are we wasting money?", '
    '"provision 20 pairs in Nuremberg", "leave Contabo alone".'
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


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call the operator sent as such — a slash command, a script — instead of words for a brain.

    It takes the same road as a call a brain proposed from words (the turn's decision gate, validation, policy,
    plan and "go"), only nothing is *read*: the tool and arguments are exactly what the front end sent.
    """

    tool: str
    args: Mapping[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {"tool": self.tool, "args": dict(self.args)}

    @classmethod
    def from_wire(cls, data: Any) -> ToolCall:
        """Read ``{"tool": NAME, "args": {...}}`` from a request, or say in one sentence what is wrong with it."""
        if not isinstance(data, Mapping) or not isinstance(data.get("tool"), str) or not data["tool"].strip():
            raise InputError('\'call\' must be an object such as {"tool": "fleet_status", "args": {}}.')
        args = data.get("args") or {}
        if not isinstance(args, Mapping):
            raise InputError("'call.args' must be an object of the tool's arguments.")
        return cls(data["tool"].strip(), dict(args))


DeltaCallback = Callable[[str, str], None]
HISTORY_MESSAGES = 12
"""How many recent messages (operator and team) the LLM brain sees besides the new one."""
_MEMORY = (RememberIntent, ForgetIntent)


class Conversation:
    """Runs turns for any channel; sessions live in the store so "go" survives a restart."""

    def __init__(self, ops: Operations, brain: OfflineBrain | None = None, llm: LLMBrain | None = None) -> None:
        self.ops = ops
        self.brain = brain or OfflineBrain()
        self.llm = llm
        self.dialogue = DialogueKeeper(ops)

    async def turn(
        self,
        caller: Caller,
        message: str,
        *,
        session: str | None = None,
        dry_run: bool = False,
        yes: bool = False,
        on_delta: DeltaCallback | None = None,
        call: ToolCall | None = None,
    ) -> TurnResult:
        """One turn.  ``message`` is what the operator typed; with ``call`` (a slash command's structured call)
        no brain reads it: the call itself goes to the operation layer, through the same gate and plans."""
        # The one decision gate of every front (ask, chat, web, channels, /v1/turns): the turn's calls are
        # weighed together, and with this operator's recent ones (engine/operations/_gate.py).
        notes: list[str] = []  # the plan lifecycle's news (a plan expired or withdrawn), said before the answer
        with self.ops.gate.turn(caller, yes=yes):
            result = await self._turn(
                caller, message, session=session, dry_run=dry_run, yes=yes, on_delta=on_delta, notes=notes, call=call
            )
        if notes:
            result.reply = f"{tag('commander')} {' '.join(notes)}\n{result.reply}"
        result.reply = self.dialogue.in_currency(result.reply)
        if self.llm is not None and session:
            self._remember_exchange(caller, f"{caller.operator_id}:{session}", message, result.reply)
        return result

    async def _turn(
        self,
        caller: Caller,
        message: str,
        *,
        session: str | None,
        dry_run: bool,
        yes: bool,
        on_delta: DeltaCallback | None,
        notes: list[str],
        call: ToolCall | None = None,
    ) -> TurnResult:
        key = f"{caller.operator_id}:{session}" if session else ""
        if call is not None:  # sent as a call: nothing to read, no model to ask; the operation layer judges it
            _, lifecycle = self.dialogue.load(caller, key, self._context(caller, key))
            intents: list[Intent] = [ToolIntent(call.tool, dict(call.args))]
            notes += lifecycle + self.dialogue.settle(caller, key, intents)
            return await self._offline_turn(caller, intents, key, session, dry_run=dry_run, yes=yes, calls=[])
        gated = await self._voice_gate(caller, key, message, session)
        if gated is not None:
            return gated
        ctx, lifecycle = self.dialogue.load(caller, key, self._context(caller, key))
        try:
            intents = self.brain.understand(message, ctx)
        except Exception:  # a reading bug must never become a traceback or a guess: say so, change nothing
            log.exception("the offline brain could not read a message")
            intents = [
                UnknownIntent(
                    _clip(message),
                    reason=(
                        "I couldn't read that message (an error on my side, logged); nothing was changed. "
                        'Try saying it another way, e.g. "fleet status".'
                    ),
                )
            ]
        notes += lifecycle + self.dialogue.settle(caller, key, intents)
        calls: list[ToolOutcome] = []
        # "go"/"cancel"/"stop" are the operator's own, a suspected injection is refused, memory requests alone are
        # bookkeeping and follow-ups on the dialogue state (an amendment) are read offline (answers_offline);
        # in a compound message memory requests are kept here and the rest goes on.
        if self.llm is not None and not answers_offline(message, intents):
            notes = [
                f"{tag(_speaker(i))} {await self._handle(caller, i, key, dry_run=dry_run, yes=yes, calls=calls)}"
                for i in intents
                if isinstance(i, _MEMORY)
            ]
            try:
                result = await self._llm_turn(
                    caller, message, key, session, ctx, dry_run=dry_run, yes=yes, on_delta=on_delta, words=intents
                )
                result.reply = "\n".join([result.reply, *notes])
                return result
            except BrainUnavailable as err:
                rest: list[Intent] = [i for i in intents if not isinstance(i, _MEMORY)]
                result = await self._offline_turn(caller, rest, key, session, dry_run=dry_run, yes=yes, calls=calls)
                result.reply = "\n".join([result.reply, *notes])
                self._audit_fallback(caller, key, message, str(err), result)
                result.reply += "\n(The model API is unavailable; the offline brain answered.)"
                return result
        return await self._offline_turn(caller, intents, key, session, dry_run=dry_run, yes=yes, calls=calls)

    async def events(
        self, caller: Caller, message: str, *, session: str | None = None, dry_run: bool = False, yes: bool = False
    ) -> AsyncIterator[EngineEvent | TokenDelta]:
        """The same turn as :meth:`turn`, as UI events, with the model's reply streamed as :class:`TokenDelta`."""
        queue: asyncio.Queue[TokenDelta] = asyncio.Queue()
        yield TurnStarted(message, session)
        task = asyncio.ensure_future(
            self.turn(
                caller,
                message,
                session=session,
                dry_run=dry_run,
                yes=yes,
                on_delta=lambda agent, text: queue.put_nowait(TokenDelta(agent, text)),
            )
        )
        while not task.done():
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield getter.result()
            else:
                getter.cancel()
        while not queue.empty():
            yield queue.get_nowait()
        try:
            result = task.result()
        except ClawOpsError as err:
            yield TurnFailed(str(err))
            return
        for call in result.tool_calls:
            yield ToolCalled(call.tool, call.status, call.message)
        yield TurnFinished(result)

    # ------------------------------------------------------------------ offline
    async def _offline_turn(
        self,
        caller: Caller,
        intents: list[Intent],
        key: str,
        session: str | None,
        *,
        dry_run: bool,
        yes: bool,
        calls: list[ToolOutcome],
    ) -> TurnResult:
        lines: list[tuple[str, str]] = []
        asked: list[tuple[int, int, ToolIntent]] = []
        for intent in intents:
            agent = _speaker(intent)
            first = len(calls)
            text = await self._handle(caller, intent, key, dry_run=dry_run, yes=yes, calls=calls)
            if text:
                lines.append((agent, text))
                if isinstance(intent, ToolIntent) and len(calls) == first + 1:
                    asked.append((len(lines) - 1, first, intent))
        # Everything the turn would do is weighed at once: small calls that together go over the limit wait.
        settled = await self.ops.settle()
        if settled:
            for line, index, intent in asked:
                plan = calls[index].plan
                if plan is not None and plan.id in settled:
                    calls[index] = settled[plan.id]
                    lines[line] = (
                        lines[line][0],
                        self.dialogue.render(caller, key, intent, calls[index], _tool_text(intent, calls[index]), {}),
                    )
            self._drop_pending(
                caller, key, [pid for pid, out in settled.items() if out.plan is None or out.plan.status != "pending"]
            )
        self._remember_context(caller, key, calls)
        self.dialogue.record(caller, key, calls)
        return TurnResult(reply=_compose(lines), tool_calls=calls, session=session)

    async def _handle(
        self, caller: Caller, intent: Intent, key: str, *, dry_run: bool, yes: bool, calls: list[ToolOutcome]
    ) -> str:
        if isinstance(intent, ToolIntent):
            args = intent.args
            if intent.exclude:
                narrowed = self._narrow(caller, intent)
                if isinstance(narrowed, str):
                    return narrowed
                args = narrowed
            args, keep = self.dialogue.prepare_args(caller, key, dataclasses.replace(intent, args=args))
            outcome = await self.ops.call(
                caller,
                intent.tool,
                args,
                session_key=key,
                dry_run=dry_run,
                confirmed=yes,
                amends=intent.replaces or None,
            )
            calls.append(outcome)
            if outcome.plan is not None and outcome.plan.status == "pending" and key:
                self._add_pending(caller, key, outcome.plan.id, outcome.plan.scope)
                if intent.purpose == "vouched":
                    self.dialogue.mark_vouched(caller, key, outcome.plan.id)
            return self.dialogue.render(caller, key, intent, outcome, _tool_text(intent, outcome), keep)
        if isinstance(intent, ConfirmIntent):
            return await self._confirm(caller, key, calls, intent.plan_id)
        if isinstance(intent, ClarifyIntent):
            return intent.question
        if isinstance(intent, CancelIntent):
            return self._cancel(caller, key)
        if isinstance(intent, HelpIntent):
            return HELP_TEXT
        if isinstance(intent, RememberIntent):
            return self._remember(caller, intent)
        if isinstance(intent, ForgetIntent):
            return self._forget(caller, intent.about)
        if isinstance(intent, RecallIntent):
            return self._recall(caller)
        if isinstance(intent, SuspectIntent):
            self._audit_suspect(caller, key, intent)
            return (
                "That message reads like an attempt to override the team's rules "
                f'("{_clip(intent.marker)}"), so I did nothing and logged it. '
                'Ask for one concrete action, e.g. "tear down acct-042", and I\'ll plan it for your go.'
            )
        assert isinstance(intent, UnknownIntent)
        if intent.reason:
            return intent.reason
        if not intent.text:
            return 'Say something and I\'ll get on it — for example "fleet status".'
        hint = " or ".join(f'"{s}"' for s in intent.suggestions[:3])
        return f'I didn\'t understand "{_clip(intent.text)}" — did you mean {hint}?'

    def _narrow(self, caller: Caller, intent: ToolIntent) -> dict[str, Any] | str:
        """Apply "leave Contabo alone" to a broad selector by naming the other matching instances.

        The contract's selector has no exclusion key, so the exclusion becomes an
        explicit instance list, read through the caller's tenant scope.
        """
        from engine.operations import select_instances

        raw = dict(intent.args.get("selector") or {})
        try:
            selector = Selector.parse(raw)
            with self.ops.store.session() as s:
                matched = select_instances(s, caller, selector)
        except ClawOpsError as err:
            return str(err)
        keep = [i.id for i in matched if i.provider not in intent.exclude]
        if not keep:
            return (
                f"Nothing matches {selector.describe()} outside {', '.join(intent.exclude)}; "
                f"nothing to {intent.tool.replace('_', ' ')}."
            )
        return {**intent.args, "selector": {**raw, "instances": keep}}

    async def _confirm(self, caller: Caller, key: str, calls: list[ToolOutcome], named: str = "") -> str:
        """ "Go" confirms every live plan this session is waiting on, in the order they were proposed.

        "go PLAN-ID" confirms that plan only; a plan asked for with an assurance the team can't check ("trust
        me, their standbys are fine") waits for its id.  Each line says which plan ran.
        """
        shown = self._shown_scopes(key)
        plan_ids = self._take_pending(caller, key)
        if not plan_ids:
            return (
                "There is nothing waiting for your go (a plan lives a few minutes, and only until we talk "
                "about something else). Ask for something first."
            )
        plan_ids, kept, lines = self.dialogue.held(key, plan_ids, named)
        for plan_id in kept:
            self._add_pending(caller, key, plan_id, shown.get(plan_id, ""))
        for plan_id in plan_ids:
            try:
                # The decision gate: this operator, this session, exactly the plan shown here.
                outcome = await self.ops.confirm(caller, plan_id, session_key=key, shown_scope=shown.get(plan_id))
            except ClawOpsError as err:
                lines.append(str(err))
                continue
            calls.append(outcome)
            which = f" (That was plan {plan_id}: {outcome.plan.summary.rstrip('.')}.)" if outcome.plan else ""
            lines.append(outcome_text(outcome) + which)
        saved = self.dialogue.saved_in_all([c for c in calls if c.job is not None and c.plan is not None])
        return "\n".join([*lines, *([saved] if saved else [])])

    def mark_spoken(self, caller: Caller, session: str, plan_ids: list[str]) -> None:
        """These plans came from a voice note (origin="voice"): :meth:`_voice_gate` then wants their scope
        repeated before they run."""
        if not plan_ids:
            return
        with self.ops.store.session() as s:
            row = self._row(s, caller, f"{caller.operator_id}:{session}")
            marked = [p for p in row.context.get("voice_plans", []) if p not in plan_ids][-20:]
            row.context = {**row.context, "voice_plans": [*marked, *plan_ids]}
            s.add(row)

    async def _voice_gate(self, caller: Caller, key: str, message: str, session: str | None) -> TurnResult | None:
        """Plans made from a voice note are confirmed only by a reply repeating their scope ("go 13")."""
        if not key:
            return None
        with self.ops.store.session() as s:
            row = s.get(ConversationSession, key)
            context = dict(row.context) if row is not None else {}
        spoken_ids = set(context.get("voice_plans", []))
        pending = [p for p in context.get("pending_plans", []) if p in spoken_ids]
        said = scoped_confirmation(message) if pending else None
        if said is None:
            return None
        plans = []
        for plan_id in pending:
            try:
                plans.append(self.ops.pending_plan(caller, plan_id))
            except ClawOpsError:
                continue
        unsaid = [p for p in plans if plan_scope(p) not in said]
        if unsaid:
            lines = [
                f"That plan came from a voice note, so confirm it by repeating its scope: {p.summary} "
                f'({plan_scope(p)}). Say "go {plan_scope(p)}" to run it, or "cancel".'
                for p in unsaid
            ]
            if said:
                lines.insert(
                    0, f"You said {', '.join(str(n) for n in said)}, which is not the plan's scope; nothing ran."
                )
            return TurnResult(reply=f"{tag('commander')} " + "\n".join(lines), session=session)
        calls: list[ToolOutcome] = []
        text = await self._confirm(caller, key, calls)
        self._remember_context(caller, key, calls)
        return TurnResult(reply=f"{tag('commander')} {text}", tool_calls=calls, session=session)

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

    # ------------------------------------------------------------------ LLM
    async def _llm_turn(
        self,
        caller: Caller,
        message: str,
        key: str,
        session: str | None,
        ctx: BrainContext,
        *,
        dry_run: bool,
        yes: bool,
        on_delta: DeltaCallback | None,
        words: list[Intent] | None = None,
    ) -> TurnResult:
        assert self.llm is not None
        calls: list[ToolOutcome] = []

        seen: dict[str, ToolOutcome] = {}

        async def execute(agent: str, tool: str, args: dict[str, Any]) -> ToolOutcome:
            # The model proposes as an agent; confirmed=False: it can only ever plan.
            same = json.dumps([tool, args], sort_keys=True, default=str)
            if same in seen and is_mutating(tool):
                return seen[same]  # a model repeating itself must not make a second plan (a second purchase)
            as_agent = dataclasses.replace(caller, agent=agent)
            kept = self._keep_preferences(as_agent, tool, args, excluded)
            if isinstance(kept, ToolOutcome):
                calls.append(kept)
                return kept
            outcome = await self.ops.call(as_agent, tool, kept, session_key=key, dry_run=dry_run, confirmed=False)
            seen[same] = outcome
            calls.append(outcome)
            if outcome.plan is not None and outcome.plan.status == "pending" and key:
                self._add_pending(caller, key, outcome.plan.id, outcome.plan.scope)
            return outcome

        # "…, leave Contabo alone" and "… except contabo" bind this very turn's calls too, not only later turns'.
        excluded = left_alone(ctx, words or ())
        memories = [m.text for m in self._memories(caller)]
        try:
            reply = await self.llm.run(
                message,
                execute,
                on_delta=on_delta,
                memories=memories,
                history=self._history(key),
                dialogue=self.dialogue.describe(ctx),
                context=ctx,
                reading=words or (),
            )
        except BrainUnavailable as err:
            if not calls:
                raise  # nothing happened yet: the offline brain may answer the whole message
            # Something already ran or was planned: answering again offline could plan it twice (a second
            # purchase). Report what the team did and stop.
            self._remember_context(caller, key, calls)
            self._audit_interrupted(caller, key, message, str(err), calls)
            lines = [f"{tag('commander')} The model API failed mid-answer ({err}) Here is what was done so far:"]
            lines += [outcome_text(c) for c in calls]
            return TurnResult(reply="\n".join(lines), tool_calls=calls, session=session)
        text = reply.text
        if reply.asked is not None:
            calls.clear()  # a question back did nothing: reads made on the way are not an answer to report
        if yes and not dry_run and not reply.suspicious:
            # --yes is the operator's own go, given up front for what they asked in this message.
            pending = [c.plan.id for c in calls if c.plan is not None and c.plan.status == "pending"]
            # ... but only for a plan derived from their own words: one whose targets a tool result (an
            # injected health reason, a label) widened is shown for their go instead.
            said = self.ops.gate.words(caller, [(i.tool, i.args) for i in words or () if isinstance(i, ToolIntent)])
            unasked = [p for p in pending if not self.ops.gate.grounded(p, said)]
            pending = [p for p in pending if p not in unasked]
            self._drop_pending(caller, key, pending)
            for plan_id in unasked:
                text += (
                    f"\n{tag('commander')} --yes does not confirm plan {plan_id}: it goes beyond what your "
                    "message named (its targets came from the fleet's data, not your words). Nothing ran; "
                    + ("say go to run it as shown." if key else "ask again with --session to confirm it.")
                )
            for plan_id in pending:
                try:
                    outcome = await self.ops.confirm(caller, plan_id)
                except ClawOpsError as err:
                    text += f"\n{tag('commander')} {err}"
                    continue
                calls.append(outcome)
                text += f"\n{tag('commander')} {outcome_text(outcome)}"
        elif reply.suspicious:
            text += (
                f"\n{tag('commander')} Some fleet data read like instructions "
                f"({', '.join(_clip(s, 40) for s in reply.suspicious[:3])}); I treated it as data and logged it."
            )
        self._remember_context(caller, key, calls)
        self.dialogue.record(caller, key, calls)
        self._audit_llm(caller, key, message, reply, calls)
        return TurnResult(reply=text, agent=reply.agent, tool_calls=calls, session=session)

    def _keep_preferences(
        self, caller: Caller, tool: str, args: dict[str, Any], excluded: tuple[str, ...]
    ) -> dict[str, Any] | ToolOutcome:
        """The operator's "leave X alone" binds the model too: broad selectors are narrowed, aimed ones refused."""
        if not excluded:
            return args
        (intent,) = apply_exclusions([ToolIntent(tool, args)], excluded)
        if isinstance(intent, UnknownIntent):
            try:
                with self.ops.store.session() as s:
                    audit.append(
                        s,
                        actor=caller.actor,
                        channel=caller.channel,
                        action=f"refused.{tool}",
                        target="operator_preference",
                        outcome="refused",
                        detail={"args": args, "reason": intent.reason},
                    )
            except ClawOpsError:
                log.exception("could not audit a preference refusal")
            return ToolOutcome(tool, args, "refused", message=intent.reason, rule="operator_preference")
        if isinstance(intent, ToolIntent) and intent.exclude:
            narrowed = self._narrow(caller, intent)
            if isinstance(narrowed, str):
                return ToolOutcome(tool, args, "error", message=narrowed)
            return narrowed
        return args

    def _audit_llm(self, caller: Caller, key: str, message: str, reply: Any, calls: list[ToolOutcome]) -> None:
        """Who asked, what the model proposed, what ran, tokens and cost: one entry per LLM turn."""
        detail = {
            "brain": "llm",
            "operator": caller.name,
            "message": _clip(_scrubbed(message), 500),
            "models": reply.models,
            "proposed": reply.proposed,
            "ran": [
                {
                    "tool": c.tool,
                    "status": c.status,
                    "plan": c.plan.id if c.plan else None,
                    "job": c.job.id if c.job else None,
                }
                for c in calls
            ],
            "tokens": {"input": reply.usage.input_tokens, "output": reply.usage.output_tokens},
            "cost_usd": round(reply.usage.cost_usd, 6),
            "usage": reply.usage.to_dict(),
            "suspicious": reply.suspicious,
        }
        try:
            with self.ops.store.session() as s:
                audit.append(
                    s,
                    actor=f"{reply.agent}@{caller.name}",
                    channel=caller.channel,
                    action="brain.turn",
                    target=key,
                    outcome="suspicious" if reply.suspicious else "ok",
                    detail=detail,
                )
        except ClawOpsError:
            log.exception("could not audit an LLM turn")

    def _audit_interrupted(self, caller: Caller, key: str, message: str, why: str, calls: list[ToolOutcome]) -> None:
        try:
            with self.ops.store.session() as s:
                audit.append(
                    s,
                    actor=f"commander@{caller.name}",
                    channel=caller.channel,
                    action="brain.turn",
                    target=key,
                    outcome="interrupted",
                    detail={
                        "brain": "llm",
                        "why": why,
                        "message": _clip(_scrubbed(message), 500),
                        "ran": [
                            {"tool": c.tool, "status": c.status, "plan": c.plan.id if c.plan else None} for c in calls
                        ],
                    },
                )
        except ClawOpsError:
            log.exception("could not audit an interrupted LLM turn")

    def _audit_fallback(self, caller: Caller, key: str, message: str, why: str, result: TurnResult) -> None:
        try:
            with self.ops.store.session() as s:
                audit.append(
                    s,
                    actor=f"commander@{caller.name}",
                    channel=caller.channel,
                    action="brain.fallback",
                    target=key,
                    outcome="offline",
                    detail={
                        "brain": "offline",
                        "why": why,
                        "message": _clip(_scrubbed(message), 500),
                        "ran": [{"tool": c.tool, "status": c.status} for c in result.tool_calls],
                    },
                )
        except ClawOpsError:
            log.exception("could not audit a brain fallback")

    def _audit_suspect(self, caller: Caller, key: str, intent: SuspectIntent) -> None:
        try:
            with self.ops.store.session() as s:
                audit.append(
                    s,
                    actor=caller.actor,
                    channel=caller.channel,
                    action="injection.suspected",
                    target=key,
                    outcome="refused",
                    detail={"marker": intent.marker, "text": intent.text},
                )
        except ClawOpsError:
            log.exception("could not audit a suspected injection")

    # ------------------------------------------------------------------ memory
    def _memories(self, caller: Caller) -> list[Memory]:
        with self.ops.store.session() as s:
            rows = s.exec(
                select(Memory)
                .where(col(Memory.operator_id) == caller.operator_id, col(Memory.forgotten_at).is_(None))
                .order_by(col(Memory.created_at))
            ).all()
            return [Memory.model_validate(r.model_dump()) for r in rows]

    def _remember(self, caller: Caller, intent: RememberIntent) -> str:
        with self.ops.store.session() as s:
            rows = s.exec(
                select(Memory).where(
                    col(Memory.operator_id) == caller.operator_id,
                    col(Memory.kind) == intent.kind,
                    col(Memory.forgotten_at).is_(None),
                )
            ).all()
            for row in rows:
                if row.data == intent.data and row.text == intent.text:
                    break
            else:
                s.add(
                    Memory(
                        id=f"mem-{secrets.token_hex(4)}",
                        operator_id=caller.operator_id,
                        kind=intent.kind,
                        text=_scrubbed(intent.text),
                        data=intent.data,
                    )
                )
                audit.append(
                    s,
                    actor=caller.actor,
                    channel=caller.channel,
                    action="memory.remember",
                    target=intent.kind,
                    detail={"text": intent.text, "data": intent.data},
                )
        if intent.kind == "exclude_provider":
            provider = intent.data.get("provider", "")
            return f'Noted: I\'ll leave {provider} alone from now on (say "forget {provider}" to undo).'
        return f"Noted: {intent.text}."

    def _forget(self, caller: Caller, about: str) -> str:
        forgotten = []
        with self.ops.store.session() as s:
            rows = s.exec(
                select(Memory).where(col(Memory.operator_id) == caller.operator_id, col(Memory.forgotten_at).is_(None))
            ).all()
            for row in rows:
                if not about or about.lower() in row.text.lower() or about.lower() in str(row.data).lower():
                    row.forgotten_at = utcnow()
                    s.add(row)
                    forgotten.append(row.text)
            if forgotten:
                audit.append(
                    s,
                    actor=caller.actor,
                    channel=caller.channel,
                    action="memory.forget",
                    target=about,
                    detail={"forgotten": forgotten},
                )
        if not forgotten:
            return f"I had nothing to forget{' about ' + about if about else ''}."
        return "Forgotten: " + "; ".join(forgotten) + "."

    def _recall(self, caller: Caller) -> str:
        rows = self._memories(caller)
        if not rows:
            return 'I\'m not keeping any preferences for you yet (try "leave Contabo alone").'
        return "I remember: " + "; ".join(r.text for r in rows) + '. Say "forget …" to drop one.'

    # ------------------------------------------------------------------ session context
    def _context(self, caller: Caller, key: str) -> BrainContext:
        """The session's follow-up context and the operator's exclusions, read in one transaction."""
        with self.ops.store.session() as s:
            data = s.exec(
                select(Memory.data).where(
                    col(Memory.operator_id) == caller.operator_id,
                    col(Memory.kind) == "exclude_provider",
                    col(Memory.forgotten_at).is_(None),
                )
            ).all()
            row = s.get(ConversationSession, key) if key else None
            saved = dict(row.context.get("brain", {})) if row is not None else {}
        excluded = tuple(dict.fromkeys(str(d.get("provider")) for d in data if isinstance(d, dict)))
        return BrainContext(
            last_filters=saved.get("last_filters"),
            findings=dict(saved.get("findings", {})),
            finding_tiers=dict(saved.get("finding_tiers", {})),
            last_job=saved.get("last_job"),
            last_target=saved.get("last_target"),
            excluded_providers=excluded,
        )

    def _remember_context(self, caller: Caller, key: str, calls: list[ToolOutcome]) -> None:
        """Keep what follow-ups refer to: the last filters, findings and their counts, job, target."""
        if not key or not calls:
            return
        update: dict[str, Any] = {}
        for call in calls:
            if call.status != "done" and call.job is None:
                continue
            if call.tool == "fleet_status":
                update["last_filters"] = dict(call.args)
            elif call.tool in ("instance_inspect", "instance_diagnose") and call.args.get("target"):
                update["last_target"] = str(call.args["target"])
            elif call.tool == "cost_analysis":
                findings, tiers = _findings(call.result)
                if findings:
                    update["findings"], update["finding_tiers"] = findings, tiers
            if call.job is not None:
                update["last_job"] = call.job.id
        if not update:
            return
        with self.ops.store.session() as s:
            row = self._row(s, caller, key)
            merged = {**row.context.get("brain", {}), **update}
            if merged == row.context.get("brain"):
                return  # the same question again: nothing new to keep, no write
            row.context = {**row.context, "brain": merged}
            row.updated_at = utcnow()
            s.add(row)

    def _row(self, s: Any, caller: Caller, key: str) -> ConversationSession:
        row = s.get(ConversationSession, key)
        if row is None:
            row = ConversationSession(key=key, operator_id=caller.operator_id, name=key.split(":", 1)[1])
        return row  # type: ignore[no-any-return]

    def _history(self, key: str) -> list[tuple[str, str]]:
        """The session's recent exchanges, so the model understands "restart them" too."""
        if not key:
            return []
        with self.ops.store.session() as s:
            row = s.get(ConversationSession, key)
            raw = list(row.context.get("llm_history", [])) if row is not None else []
        return [(str(m["role"]), str(m["text"])) for m in raw if isinstance(m, dict)]

    def _remember_exchange(self, caller: Caller, key: str, message: str, reply: str) -> None:
        with self.ops.store.session() as s:
            row = self._row(s, caller, key)
            history = list(row.context.get("llm_history", []))
            history += [
                {"role": "user", "text": _clip(_scrubbed(message), 2000)},
                {"role": "assistant", "text": _clip(_scrubbed(reply), 2000)},
            ]
            row.context = {**row.context, "llm_history": history[-HISTORY_MESSAGES:]}
            row.updated_at = utcnow()
            s.add(row)

    def _add_pending(self, caller: Caller, key: str, plan_id: str, scope: str = "") -> None:
        with self.ops.store.session() as s:
            row = self._row(s, caller, key)
            pending = [p for p in row.context.get("pending_plans", []) if p != plan_id]
            scopes = {p: v for p, v in dict(row.context.get("pending_scopes", {})).items() if p in pending}
            if scope:
                scopes[plan_id] = scope  # what the operator was shown: "go" confirms exactly this (the gate checks)
            row.context = {**row.context, "pending_plans": [*pending, plan_id], "pending_scopes": scopes}
            row.pending_plan_id = plan_id
            row.updated_at = utcnow()
            s.add(row)

    def _drop_pending(self, caller: Caller, key: str, plan_ids: list[str]) -> None:
        if not key or not plan_ids:
            return
        with self.ops.store.session() as s:
            row = self._row(s, caller, key)
            pending = [p for p in row.context.get("pending_plans", []) if p not in plan_ids]
            row.context = {**row.context, "pending_plans": pending}
            row.pending_plan_id = pending[-1] if pending else None
            s.add(row)

    def _shown_scopes(self, key: str) -> dict[str, str]:
        """Plan id → the scope this session was shown (``Operations.confirm`` refuses any other)."""
        if not key:
            return {}
        with self.ops.store.session() as s:
            row = s.get(ConversationSession, key)
            raw = row.context.get("pending_scopes", {}) if row is not None else {}
        return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}

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


def _tool_text(intent: ToolIntent, outcome: ToolOutcome) -> str:
    text = outcome_text(outcome)
    if intent.exclude and outcome.status != "error":
        text += f" (Left alone: {', '.join(intent.exclude)}.)"
    return text


# ------------------------------------------------------------------ voice: confirm by scope
_CONFIRM_WORDS = re.compile(r"^(?:go ahead|go|yes|yeah|yep|ok(?:ay)?|confirm(?:ed)?|do it|proceed|approved?)\b(.*)$")
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen".split()
    )
}
_TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if i > 1}


def spoken_numbers(text: str) -> list[int]:
    """The numbers in a reply, as digits or words ("13", "thirteen", "twenty one", "a hundred")."""
    words = re.findall(r"[a-z]+|\d+", text.lower().replace("-", " "))
    numbers: list[int] = []
    current: int | None = None
    for word in words:
        if word.isdigit():
            numbers.append(int(word))
            current = None
        elif word in _TENS:
            current = _TENS[word]
            numbers.append(current)
        elif word in _NUMBER_WORDS:
            if current is not None and current % 10 == 0 and current >= 20 and _NUMBER_WORDS[word] < 10:
                numbers[-1] = current + _NUMBER_WORDS[word]
                current = None
            else:
                numbers.append(_NUMBER_WORDS[word])
                current = _NUMBER_WORDS[word]
        elif word == "hundred" and numbers:
            numbers[-1] *= 100
            current = None
        elif word == "hundred":
            numbers.append(100)
        else:
            current = None
    return numbers


def scoped_confirmation(message: str) -> list[int] | None:
    """None when ``message`` is not a confirmation; else the numbers it repeats (empty for a bare "go")."""
    text = " ".join(re.sub(r"[^a-z0-9\s-]", " ", message.lower()).split())
    match = _CONFIRM_WORDS.match(text)
    if match is None:
        return None
    rest = match.group(1).strip()
    numbers = spoken_numbers(rest)
    if not numbers and len(rest.split()) > 3:
        return None  # "yes, and also show me …": not a plain confirmation
    return numbers


def plan_scope(plan: Any) -> int:
    """The number a voice-made plan's confirmation must repeat: the users it affects (else its steps)."""
    return int(plan.affected_users) or len(plan.steps)


def _speaker(intent: Intent) -> str:
    """Which teammate answers for an intent in the offline brain (Commander unless a specialist owns it)."""
    if isinstance(intent, ToolIntent):
        return TOOL_AGENT.get(intent.tool, "commander")
    return "commander"


def _findings(result: dict[str, Any]) -> tuple[dict[str, int], dict[str, str]]:
    """Finding id → count (and → suggested tier) from a ``cost_analysis(kind="waste")`` result, read defensively."""
    raw = result.get("findings")
    counts: dict[str, int] = {}
    tiers: dict[str, str] = {}
    items: list[Any] = []
    if isinstance(raw, dict):
        items = [{"id": k, **v} if isinstance(v, dict) else {"id": k, "count": v} for k, v in raw.items()]
    elif isinstance(raw, list):
        items = raw
    for item in items:
        if not isinstance(item, dict):
            continue
        fid = item.get("id") or item.get("finding") or item.get("kind")
        count = item.get("count", item.get("instances"))
        if isinstance(count, list):
            count = len(count)
        if isinstance(fid, str) and isinstance(count, int):
            counts[fid] = counts.get(fid, 0) + count
        action = item.get("action")
        action_args = action.get("args") if isinstance(action, dict) else None
        tier = item.get("suggested_tier") or (action_args.get("tier") if isinstance(action_args, dict) else None)
        if isinstance(fid, str) and isinstance(tier, str):
            tiers[fid] = tier
    return counts, tiers


def _compose(lines: list[tuple[str, str]]) -> str:
    """Commander speaks first; a teammate's answer is quoted under its own tag."""
    if not lines:
        return f"{tag('commander')} Nothing to do."
    out: list[str] = []
    for index, (agent, text) in enumerate(lines):
        if agent == "commander":
            follows_teammate = index > 0 and lines[index - 1][0] != "commander"
            out.append(f"{tag('commander')} {text}" if index == 0 or follows_teammate else text)
        else:
            if index == 0:
                out.append(f"{tag('commander')} Over to {agent.capitalize()}.")
            out.append(f"{tag(agent)} {text}")
    return "\n".join(out)


def _scrubbed(text: str) -> str:
    """What an operator typed, as the audit chain keeps it: a pasted token is masked before it is stored."""
    from engine.trust import redact

    return redact(text)


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
