"""The dialogue state of one conversation session, and the plan lifecycle around it.

The conversation (``engine.conversation``) runs turns; this keeper holds what follow-ups refer to and decides
what happens to a pending plan between turns:

- **state** (in the session row's ``context["brain"]``): the last action frame (tool, args, plan, job and the
  values it changed *from*, so "undo that" can change them back), the last list of ids shown ("the second
  one"), Ledger's findings in the order they were numbered ("fix 1 and 3"), and whether the latest answer was
  an action or a read ("same for vultr");
- **plan lifecycle**: a pending plan is live for ``plan_ttl_minutes`` (a setting, default 5) and only until the
  next turn that is not about it.  A turn that confirms, cancels or amends it is about it; anything else
  (another request, a question, a message not understood) withdraws it, and the reply says so.  A "go" with no
  live plan says there is nothing to confirm — a go after "I didn't understand" never runs an old plan;
- **answers**: the audit as a narrative, savings read from the plans that ran, numbered waste findings, a
  config push's before/after per key, money in the operator's currency, and internal errors kept out of replies.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from engine.brain._answers import (
    SINCE_WORDS,
    audit_narrative,
    leaks,
    money,
    numbered_findings,
    resolve_since,
    savings_text,
)
from engine.brain._config_schema import CONFIG_SCHEMA
from engine.brain._intents import BrainContext, CancelIntent, ClarifyIntent, ConfirmIntent, Intent, ToolIntent
from engine.errors import ClawOpsError
from engine.ledger import Money
from engine.operations import Operations, ToolOutcome
from engine.policy import AMENDED, Caller
from engine.store import ConversationSession, Instance, PlanRecord, utcnow

__all__ = ["DialogueKeeper"]

log = logging.getLogger(__name__)

_MUTATING = frozenset({"provision_pairs", "teardown", "resize", "restart", "failover", "config_push", "silence_alerts"})
_EURO_RE = re.compile(r"([+-]?)€\s?([+-]?\d[\d,]*(?:\.\d+)?)")


class DialogueKeeper:
    """Reads and writes one session's dialogue state; settles its pending plans (see the module docstring)."""

    def __init__(self, ops: Operations) -> None:
        self.ops = ops
        self._befores: dict[str, dict[str, Any]] = {}
        """Plan id → what its action changes *from*, read before the call (a job may run inside it)."""

    # ------------------------------------------------------------------ settings
    @property
    def ttl(self) -> timedelta:
        return timedelta(minutes=float(getattr(self.ops.settings, "plan_ttl_minutes", 5)))

    @property
    def currency(self) -> str:
        return str(getattr(self.ops.settings, "currency", "USD")).upper()

    @property
    def rate(self) -> float:
        return float(getattr(self.ops.settings, "usd_to_eur", 0.92))

    # ------------------------------------------------------------------ state in
    def load(self, caller: Caller, key: str, ctx: BrainContext) -> tuple[BrainContext, list[str]]:
        """``ctx`` with the dialogue state added; expired pending plans are withdrawn (and said)."""
        allow = tuple(getattr(self.ops.settings, "config_url_allowlist", ()) or ())
        if not key:
            return _replace(ctx, url_allowlist=allow), []
        notes: list[str] = []
        with self.ops.store.session() as s:
            row = s.get(ConversationSession, key)
            context = dict(row.context) if row is not None else {}
            brain = dict(context.get("brain", {}))
            pending_ids = [str(p) for p in context.get("pending_plans", [])]
            records = (
                {r.id: r for r in s.exec(select(PlanRecord).where(col(PlanRecord.id).in_(pending_ids))).all()}
                if pending_ids
                else {}
            )
            frames = [
                (
                    pid,
                    records[pid].tool,
                    dict(records[pid].args),
                    records[pid].created_at,
                    records[pid].summary,
                    records[pid].status,
                )
                for pid in pending_ids
                if pid in records
            ]
        now = utcnow()
        live: list[tuple[str, str, dict[str, Any]]] = []
        expired: list[str] = []
        for pid, tool, args, created, summary, status in frames:
            created = created if created.tzinfo is not None else created.replace(tzinfo=UTC)
            now_aware = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
            if status != "pending":
                expired.append(pid)
            elif now_aware - created > self.ttl:
                expired.append(pid)
                self._cancel(caller, pid)
                notes.append(
                    f"Plan {pid} ({_clip(summary)}) expired after {self._ttl_words()} without your go; nothing ran."
                )
            else:
                live.append((pid, tool, args))
        if expired:
            self._drop(caller, key, expired)
        pending = {"id": live[-1][0], "tool": live[-1][1], "args": live[-1][2]} if live else None
        return _replace(
            ctx,
            url_allowlist=allow,
            pending=pending,
            findings_list=tuple(brain.get("findings_list", ())),
            last_action=brain.get("last_action"),
            last_list=tuple(brain.get("last_list", ())),
            last_was_action=bool(brain.get("last_was_action", False)),
        ), notes

    def _ttl_words(self) -> str:
        minutes = self.ttl.total_seconds() / 60
        return f"{minutes:g} minute{'s' if minutes != 1 else ''}"

    # ------------------------------------------------------------------ plan lifecycle
    def settle(self, caller: Caller, key: str, intents: list[Intent]) -> list[str]:
        """Withdraw pending plans this turn is not about; return what to tell the operator."""
        if not key or any(isinstance(i, (ConfirmIntent, CancelIntent)) for i in intents):
            return []
        if any(isinstance(i, ToolIntent) and i.adds for i in intents):
            return []  # asked for in addition ("… too"): the pending plans keep waiting, and render says so
        pending = self.pending_ids(key)
        if not pending:
            return []
        replaced = {i.replaces for i in intents if isinstance(i, ToolIntent) and i.replaces}
        notes = []
        for pid in pending:
            summary = self._cancel(caller, pid)
            if pid in replaced or any(isinstance(i, ClarifyIntent) and i.withdraws for i in intents):
                continue  # the changed plan's reply (render), or the question itself, says the plan was withdrawn
            what = f" ({_clip(summary)})" if summary else ""
            notes.append(
                f"I also withdrew plan {pid}{what}; nothing ran."
                if replaced
                else f"I withdrew plan {pid}{what} since we moved on; nothing ran. Ask again when you want it."
            )
        self._drop(caller, key, pending)
        return notes

    def pending_ids(self, key: str) -> list[str]:
        with self.ops.store.session() as s:
            row = s.get(ConversationSession, key)
            return [str(p) for p in (row.context.get("pending_plans", []) if row is not None else [])]

    def held(self, key: str, plan_ids: list[str], named: str) -> tuple[list[str], list[str], list[str]]:
        """Of the plans a "go" would run: those it runs, those that keep waiting, and why they wait."""
        if named:
            if named not in plan_ids:
                return (
                    [],
                    plan_ids,
                    [
                        f"Plan {named} is not waiting for your go in this conversation"
                        + (f"; waiting: {', '.join(plan_ids)}." if plan_ids else ".")
                    ],
                )
            return [named], [p for p in plan_ids if p != named], []
        vouched = self._vouched(key)
        run = [p for p in plan_ids if p not in vouched]
        kept = [p for p in plan_ids if p in vouched]
        notes = [
            f"Plan {p} was asked for with an assurance I can't check, so it runs only when you confirm it by "
            f'id: say "go {p}" (or "cancel"). Nothing ran.'
            for p in kept
        ]
        return run, kept, notes

    def mark_vouched(self, caller: Caller, key: str, plan_id: str) -> None:
        self._update(caller, key, lambda ctx: {**ctx, "vouched_plans": [*ctx.get("vouched_plans", [])[-20:], plan_id]})

    def _vouched(self, key: str) -> set[str]:
        with self.ops.store.session() as s:
            row = s.get(ConversationSession, key)
            return {str(p) for p in (row.context.get("vouched_plans", []) if row is not None else [])}

    def _cancel(self, caller: Caller, plan_id: str) -> str:
        try:
            return self.ops.cancel(caller, plan_id).summary
        except ClawOpsError:
            return ""

    def _drop(self, caller: Caller, key: str, plan_ids: list[str]) -> None:
        def drop(ctx: dict[str, Any]) -> dict[str, Any]:
            left = [p for p in ctx.get("pending_plans", []) if p not in plan_ids]
            return {**ctx, "pending_plans": left}

        self._update(caller, key, drop, pending_column=True)

    def _update(self, caller: Caller, key: str, change: Any, *, pending_column: bool = False) -> None:
        with self.ops.store.session() as s:
            row = s.get(ConversationSession, key)
            if row is None:
                row = ConversationSession(key=key, operator_id=caller.operator_id, name=key.split(":", 1)[-1])
            row.context = change(dict(row.context))
            if pending_column:
                left = row.context.get("pending_plans", [])
                row.pending_plan_id = left[-1] if left else None
            row.updated_at = utcnow()
            s.add(row)

    # ------------------------------------------------------------------ calls
    def prepare_args(self, caller: Caller, key: str, intent: ToolIntent) -> tuple[dict[str, Any], dict[str, Any]]:
        """The tool's own arguments for ``intent`` and what the conversation keeps back to read the result."""
        args = dict(intent.args)
        keep: dict[str, Any] = {}
        before = self._before(caller, key, intent.tool, args)
        if before:
            keep["before"] = before
        if intent.tool == "audit_query" and "since" in args:
            word = str(args.pop("since"))
            keep["since_label"] = (
                "since " + word
                if word not in ("overnight", "today", "yesterday") and not re.fullmatch(r"\d+[mhdw]", word)
                else word
            )
            if re.fullmatch(r"\d+[mhdw]", word):
                keep["since_label"] = (
                    f"in the last {word[:-1]} " + {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[word[-1]]
                )
            keep["since"] = _since_moment(word)
            args["limit"] = max(int(args.get("limit") or 0), 200)
        return args, keep

    def render(
        self, caller: Caller, key: str, intent: ToolIntent, outcome: ToolOutcome, text: str, keep: dict[str, Any]
    ) -> str:
        """The outcome in words people want (see the module docstring), with the brain's notes."""
        if outcome.plan is not None and keep.get("before"):
            self._befores[outcome.plan.id] = dict(keep["before"])
            while len(self._befores) > 500:
                self._befores.pop(next(iter(self._befores)))
        note = intent.note
        if intent.replaces:
            text, note = self._amended(intent, outcome, text)
        if outcome.status == "error" and leaks(text):
            log.warning("internal error kept out of the reply: %s(%s): %s", intent.tool, intent.args, text)
            text = (
                "I couldn't do that as asked: something on my side went wrong reading the request, and "
                'nothing was changed. Try saying it another way, e.g. "fleet status" or "restart acct-042".'
            )
        elif outcome.tool == "audit_query" and outcome.status == "done":
            entries = list(outcome.result.get("entries") or [])
            since = keep.get("since")
            if isinstance(since, datetime):
                entries = [e for e in entries if _when(e) is None or _when(e) >= since]  # type: ignore[operator]
            text = audit_narrative(entries, str(keep.get("since_label", "")))
        elif outcome.tool == "job_status" and intent.purpose == "savings" and outcome.status == "done":
            text = savings_text(self._plans_of(key), self.currency, self.rate)
        elif outcome.tool == "cost_analysis" and outcome.status == "done":
            listing, _ids = numbered_findings(outcome.result, self.currency, self.rate)
            if listing:
                text = f"{text}\n{listing}"
        elif outcome.tool == "config_push" and outcome.plan is not None:
            text = f"{text}\n{self._before_after(caller, key, dict(outcome.args.get('config') or {}))}"
        if intent.adds and outcome.plan is not None and outcome.plan.status == "pending":
            waiting = [p for p in self.pending_ids(key) if p != outcome.plan.id]
            if waiting:
                note = " ".join(
                    filter(
                        None,
                        [
                            note,
                            f"(Plan{'s' if len(waiting) > 1 else ''} {', '.join(waiting)} "
                            f"still wait{'' if len(waiting) > 1 else 's'} too: one go runs "
                            "them all, in order.)",
                        ],
                    )
                )
        if intent.purpose == "vouched" and outcome.plan is not None and outcome.plan.status == "pending":
            note = (
                f"You vouched for its safety; I can't check that, so a plain go won't run it: say "
                f'"go {outcome.plan.id}" to run exactly this plan, or "cancel".'
            )
        if note and outcome.status != "error":
            text = f"{text}{chr(10) if chr(10) in text else ' '}{note}"
        return text

    @staticmethod
    def _amended(intent: ToolIntent, outcome: ToolOutcome, text: str) -> tuple[str, str]:
        """A changed plan's reply as one message: what changed, the new plan, and that it waits for the go.

        Returns the text and the note still to add (none: the change is the head of the text).
        """
        plan = outcome.plan
        change = f"Changed plan {intent.replaces} ({intent.note})" if intent.note else f"Changed plan {intent.replaces}"
        if plan is None or plan.status != "pending":
            return text, f"({change}; the old plan is withdrawn and nothing of it ran.)"
        # The policy's own "it changes plan …" is what the head says; the other reasons to wait are kept.
        others = [str(p["note"]) for p in plan.policy if p.get("needs_human") and p.get("rule") != AMENDED]
        left = f" (Left alone: {', '.join(intent.exclude)}.)" if intent.exclude else ""
        return (
            f"{change}; the old plan is withdrawn and nothing ran. New plan {plan.id}: {plan.summary}"
            + (f" Policy: {'; '.join(others)}." if others else "")
            + left
            + " It waits for your go (go / cancel)."
        ), ""

    def _before_after(self, caller: Caller, key: str, config: dict[str, Any]) -> str:
        known = dict(self._brain(key).get("config_values", {}))
        lines = []
        for name, value in config.items():
            if name in known:
                before = f"{known[name]}"
            elif name in CONFIG_SCHEMA:
                before = f"{CONFIG_SCHEMA[name].default} (default)"
            else:
                before = "unknown"
            lines.append(f"  {name}: {before} → {value}")
        return "Before → after:\n" + "\n".join(lines)

    def _plans_of(self, key: str) -> list[dict[str, Any]]:
        """The plans of the last action (one turn may have run several: "fix 1 and 2")."""
        last = dict(self._brain(key).get("last_action") or {})
        plan_ids = [str(p) for p in last.get("plans", [])] or ([str(last["plan"])] if last.get("plan") else [])
        if not plan_ids:
            return []
        out = []
        with self.ops.store.session() as s:
            for pid in plan_ids:
                rec = s.get(PlanRecord, pid)
                if rec is not None and rec.status in ("confirmed", "done", "running", "succeeded", "auto"):
                    out.append(
                        {
                            "id": rec.id,
                            "summary": rec.summary,
                            "monthly_cost_delta": rec.monthly_cost_delta,
                            "job_status": "ran",
                            "steps": list(rec.steps),
                        }
                    )
                elif rec is not None:
                    out.append(
                        {
                            "id": rec.id,
                            "summary": rec.summary,
                            "monthly_cost_delta": 0.0,
                            "job_status": f"{rec.status}, so nothing",
                        }
                    )
        return out

    # ------------------------------------------------------------------ state out
    def _brain(self, key: str) -> dict[str, Any]:
        if not key:
            return {}
        with self.ops.store.session() as s:
            row = s.get(ConversationSession, key)
            return dict(row.context.get("brain", {})) if row is not None else {}

    def record(self, caller: Caller, key: str, calls: list[ToolOutcome]) -> None:
        """Keep the last action frame, the last list shown and the numbered findings for follow-ups."""
        if not key or not calls:
            return
        update: dict[str, Any] = {}
        actions = [
            c
            for c in calls
            if c.tool in _MUTATING and c.status in ("planned", "done") and (c.plan is not None or c.job is not None)
        ]
        if actions:
            last = actions[-1]
            plan_ids = [c.plan.id for c in actions if c.plan is not None]
            frame: dict[str, Any] = {
                "tool": last.tool,
                "args": dict(last.args),
                "plans": plan_ids,
                "plan": last.plan.id if last.plan is not None else None,
                "job": next((c.job.id for c in reversed(actions) if c.job is not None), None),
            }
            before = self._befores.pop(last.plan.id, None) if last.plan is not None else None
            if before is None and last.plan is not None and last.plan.status == "pending":
                # A plan no brain rendered (the model proposed it): nothing ran yet, so the fleet still shows what
                # it would change from, and "undo that" after its go can change it back.
                before = self._before(caller, key, last.tool, dict(last.args))
            if before:
                frame["before"] = before
            update["last_action"] = frame
            update["last_was_action"] = True
            if last.tool == "config_push" and last.job is not None:
                known = dict(self._brain(key).get("config_values", {}))
                update["config_values"] = {**known, **dict(last.args.get("config") or {})}
        elif any(c.job is not None for c in calls):
            # A confirmation: the last action is the plan that just ran.
            ran = [c for c in calls if c.job is not None]
            previous = dict(self._brain(key).get("last_action") or {})
            plan_ids = [c.plan.id for c in ran if c.plan is not None]
            first = ran[-1]
            if previous.get("plan") in plan_ids or set(previous.get("plans", [])) & set(plan_ids):
                previous["job"] = first.job.id if first.job is not None else None
                previous["plans"] = plan_ids or previous.get("plans", [])
                update["last_action"] = previous
            else:
                update["last_action"] = {
                    "tool": first.tool,
                    "args": dict(first.args),
                    "plans": plan_ids,
                    "plan": plan_ids[-1] if plan_ids else None,
                    "job": first.job.id if first.job is not None else None,
                }
                before = self._befores.pop(plan_ids[-1], None) if plan_ids else None
                if before:
                    update["last_action"]["before"] = before
            update["last_was_action"] = True
            if first.tool == "config_push":
                known = dict(self._brain(key).get("config_values", {}))
                update["config_values"] = {**known, **dict(first.args.get("config") or {})}
        elif any(c.status == "done" for c in calls):
            update["last_was_action"] = False
        for call in calls:
            if call.tool == "provider_health" and call.status == "done" and call.args:
                # "Hetzner Nuremberg looks down, what's our exposure?" → "fail them over": them = that place.
                update["last_filters"] = {k: v for k, v in call.args.items() if k in ("provider", "region")}
            if call.tool == "fleet_status" and call.status == "done":
                update["last_list"] = [
                    str(p.get("id"))
                    for p in (call.result.get("problems") or [])[:8]
                    if isinstance(p, dict) and p.get("id")
                ]
            if call.tool == "cost_analysis" and call.status == "done":
                _listing, ids = numbered_findings(call.result, self.currency, self.rate)
                if ids:
                    update["findings_list"] = ids
        if not update:
            return
        self._update(caller, key, lambda ctx: {**ctx, "brain": {**dict(ctx.get("brain", {})), **update}})

    def _before(self, caller: Caller, key: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        """What an action will change *from*, so "undo that" can change it back (read before it runs)."""
        selector = dict(args.get("selector") or {})
        if tool == "resize" and selector and not selector.get("finding"):
            stmt = select(Instance.tier).where(col(Instance.state).not_in(("DELETED", "ARCHIVING")))
            if caller.tenant_id is not None:
                stmt = stmt.where(col(Instance.tenant_id) == caller.tenant_id)
            for name, column in (
                ("provider", Instance.provider),
                ("region", Instance.region),
                ("tier", Instance.tier),
                ("state", Instance.state),
                ("role", Instance.role),
            ):
                if selector.get(name):
                    stmt = stmt.where(col(column) == selector[name])
            if selector.get("accounts"):
                stmt = stmt.where(col(Instance.account_id).in_(list(selector["accounts"])))
            if selector.get("instances"):
                stmt = stmt.where(col(Instance.id).in_(list(selector["instances"])))
            if selector.get("geo"):
                stmt = stmt.where(col(Instance.region).startswith(f"{selector['geo']}-"))
            with self.ops.store.session() as s:
                tiers = set(s.exec(stmt).all())
            if len(tiers) == 1:
                return {"tier": str(next(iter(tiers)))}
        if tool == "config_push":
            known = dict(self._brain(key).get("config_values", {}))
            config = dict(args.get("config") or {})
            return {
                k: known.get(k, CONFIG_SCHEMA[k].default if k in CONFIG_SCHEMA else None)
                for k in config
                if k in known or k in CONFIG_SCHEMA
            }
        return {}

    @staticmethod
    def describe(ctx: BrainContext) -> str:
        """The dialogue state in a few lines, for the LLM brain's system prompt.

        It is the *whole* state the offline brain reads follow-ups against (pending plan, last action and what it
        changed from, last list, numbered findings, the last fleet view, target and job), so a model can resolve
        "make it 5", "same for vultr", "the second one", "fix 1 and 3", "restart them" or "is it done?" as the
        offline brain does.  Tool arguments are JSON in the tools' own names, never prose a model must re-parse.
        """
        lines = []
        if ctx.pending:
            lines.append(
                f"- Pending plan {ctx.pending.get('id')}: {ctx.pending.get('tool')} "
                f"{json.dumps(ctx.pending.get('args'), sort_keys=True)} (waiting for the operator's go)"
            )
        else:
            lines.append("- No plan is waiting for a go.")
        if ctx.last_action:
            lines.append(
                f"- Last action: {ctx.last_action.get('tool')} "
                f"{json.dumps(ctx.last_action.get('args'), sort_keys=True)}"
                + (
                    f", changed from {json.dumps(ctx.last_action['before'], sort_keys=True)}"
                    if ctx.last_action.get("before")
                    else ""
                )
                + (f", job {ctx.last_action['job']}" if ctx.last_action.get("job") else "")
            )
            lines.append(
                "- The latest answer was "
                + (
                    'that action ("same for X" repeats it).'
                    if ctx.last_was_action
                    else 'a read ("same for X" repeats the read).'
                )
            )
        if ctx.last_filters is not None:
            lines.append(f'- Last fleet view: {json.dumps(ctx.last_filters, sort_keys=True)} ("them", "those")')
        if ctx.last_target:
            lines.append(f'- Last account or instance discussed: {ctx.last_target} ("it", "that one")')
        if ctx.last_job:
            lines.append(f'- Last job: {ctx.last_job} ("is it done?")')
        if ctx.last_list:
            lines.append("- Last list shown, in order: " + ", ".join(ctx.last_list))
        if ctx.findings_list:
            lines.append(
                "- Waste findings as numbered: "
                + ", ".join(f"{n}. {f}" for n, f in enumerate(ctx.findings_list, start=1))
            )
        if ctx.findings:
            lines.append(
                "- Ledger's last findings (instances each): "
                + json.dumps(ctx.findings, sort_keys=True)
                + (f"; their right tiers: {json.dumps(ctx.finding_tiers, sort_keys=True)}" if ctx.finding_tiers else "")
            )
        if ctx.url_allowlist:
            lines.append("- Config URLs may point only at these hosts: " + ", ".join(ctx.url_allowlist))
        return "\n".join(lines)

    def saved_in_all(self, ran: list[ToolOutcome]) -> str:
        """After a fix runs: what it saves per month in all, in the operator's currency (empty if it saves nothing)."""
        shown = Money.named(self.currency, self.rate)
        total = shown.total(c.plan.monthly_cost_delta for c in ran if c.plan is not None)  # the plans as shown, added
        if total >= 0 or not ran:
            return ""
        return f"In all this saves about {shown.format(-total)}/month."

    # ------------------------------------------------------------------ reply
    def in_currency(self, reply: str) -> str:
        """Euro amounts in a reply shown in the operator's currency (a setting; USD by default)."""
        if self.currency == "EUR":
            return reply

        def convert(match: re.Match[str]) -> str:
            amount = float(match.group(2).replace(",", ""))
            sign = match.group(1) or ("-" if amount < 0 else "")
            return sign + money(abs(amount), self.currency, self.rate)

        converted = _EURO_RE.sub(convert, reply)
        return converted.replace("Note: USD converted at", "Note: USD and EUR converted at")


def _replace(ctx: BrainContext, **changes: Any) -> BrainContext:
    import dataclasses

    return dataclasses.replace(ctx, **changes)


def _since_moment(word: str) -> datetime | None:
    match = re.fullmatch(r"(\d+)([mhdw])", word)
    now = datetime.now(UTC)
    if match:
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match.group(2)]
        return now - timedelta(**{unit: int(match.group(1))})
    if word in SINCE_WORDS:
        return datetime.fromisoformat(resolve_since(word, now))
    return None


def _when(entry: dict[str, Any]) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(entry.get("ts", "")))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _clip(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
