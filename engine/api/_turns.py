"""One operator turn with its side effects: history kept, feed told.

Both the embedded client and the daemon run turns through :func:`run_turn`,
so a conversation is recorded and shared the same way whichever front end
the operator uses.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlmodel import col, select

from engine.api._guard import check_text
from engine.api._history import record_exchange
from engine.conversation import ToolCall, TurnResult
from engine.errors import ClawOpsError
from engine.events import FeedItem
from engine.policy import Caller
from engine.store import JobRecord, PlanRecord, utcnow
from engine.trust import printable

if TYPE_CHECKING:
    from engine.runtime import Engine

__all__ = ["DeltaScrubber", "TurnCrashed", "run_turn", "what_ran"]

log = logging.getLogger("clawops.turns")
T = TypeVar("T")


class DeltaScrubber:
    """Streams model text without ever letting a secret through, even one split across two deltas.

    The reply so far is scrubbed as a whole (so every complete secret is masked wherever it is) and only the
    part more than :data:`HOLD_BACK` characters behind its end is released: a secret still arriving lies
    within that tail, so what has been released never changes.  :meth:`flush` releases the rest when the
    reply is complete.
    """

    HOLD_BACK = 256
    """Longer than any secret or API key the redactor knows (a provider token is well under this)."""

    def __init__(self, scrub: Callable[[str], str], sink: Callable[[str, str], None]) -> None:
        self._scrub = scrub
        self._sink = sink
        self._text = ""
        self._released = 0
        self._agent = "commander"

    def __call__(self, agent: str, text: str) -> None:
        if agent != self._agent and self._text:
            self.flush()
            self._text, self._released = "", 0
        self._agent = agent
        self._text += text
        self._release(final=False)

    def flush(self) -> None:
        self._release(final=True)

    def _release(self, *, final: bool) -> None:
        safe = self._scrub(self._text)
        upto = len(safe) if final else len(safe) - self.HOLD_BACK
        if upto > self._released:
            self._sink(self._agent, safe[self._released : upto])
            self._released = upto


async def run_turn(
    engine: Engine,
    message: str,
    *,
    operator: str | None,
    channel: str,
    session: str | None,
    dry_run: bool = False,
    yes: bool = False,
    on_delta: Callable[[str, str], None] | None = None,
    caller: Caller | None = None,
    call: ToolCall | None = None,
) -> TurnResult:
    """Run one turn as ``operator``; record it in the history and publish it to the feed.

    ``caller``, when given, is who authenticated (an API key's caller: its role already capped by the key's
    scope) and is used as is: the operator's name is never looked up again, so a ``read`` key stays a viewer
    down to the policy's role check on every operation.  ``call`` is a structured tool call (a slash command):
    ``message`` is then only what the operator typed, for the history.  ``on_delta(agent, text)`` receives the model's reply as
    it streams (LLM brain only), already redacted.  An unexpected error after the turn started says what it had
    already set going (:class:`TurnCrashed`), so nobody retries an action that ran.
    """
    check_text(message)  # every door (chat, CLI, daemon): not text, or far too long, is refused before anything
    caller = engine.caller(operator, channel) if caller is None else dataclasses.replace(caller, channel=channel)
    scrubber = None
    if on_delta is not None:
        scrubber = DeltaScrubber(lambda text: _scrub(engine, text), on_delta)
    started = utcnow()
    try:
        result = await engine.conversation.turn(
            caller, message, session=session, dry_run=dry_run, yes=yes, on_delta=scrubber, call=call
        )
        if scrubber is not None:
            scrubber.flush()
    except ClawOpsError as err:
        _record(engine, caller, session, _scrub(engine, message), _scrub(engine, str(err)), None, role="error")
        raise
    except Exception as exc:
        log.exception("turn crashed", extra={"operator": caller.name})
        crashed = TurnCrashed(what_ran(engine, caller, started))
        _record(engine, caller, session, _scrub(engine, message), str(crashed), None, role="error")
        raise crashed from exc
    result = _scrub(engine, result)
    message = _scrub(engine, message)
    _record(engine, caller, session, message, result.reply, result.agent)
    engine.feed.publish(
        FeedItem(
            operator=caller.name,
            channel=channel,
            session=session,
            message=message,
            reply=result.reply,
            agent=result.agent,
            tool_calls=tuple(c.to_contract() for c in result.tool_calls),
            tenant=caller.tenant_id,
        )
    )
    return result


def _scrub(engine: Engine, value: T) -> T:
    """Secrets never reach the history table or another operator's feed (the trust redactor, when present),
    and no terminal control sequence reaches a screen (``engine.trust.printable``)."""
    trust: Any = getattr(engine, "trust", None)
    redactor: Any = getattr(trust, "redactor", None)
    if redactor is not None:
        value = redactor.scrub_value(value)
    return _printable_value(value)


def _printable_value(value: T) -> T:
    """A copy of ``value`` with every string made safe to render (the same walk as the redactor's)."""
    if isinstance(value, str):
        return printable(value)  # type: ignore[return-value]
    if isinstance(value, dict):
        return {k: _printable_value(v) for k, v in value.items()}  # type: ignore[return-value]
    if isinstance(value, list):
        return [_printable_value(v) for v in value]  # type: ignore[return-value]
    if isinstance(value, tuple):
        return tuple(_printable_value(v) for v in value)  # type: ignore[return-value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _printable_value(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    return value


class TurnCrashed(ClawOpsError):
    """A turn failed on an unexpected error; the message says what it had set going (or that nothing ran)."""

    exit_code = 70  # EX_SOFTWARE


def what_ran(engine: Engine, caller: Caller, since: datetime) -> str:
    """One sentence for an operator whose turn crashed: the jobs and plans it made, or that nothing ran."""
    try:
        with engine.store.session() as s:
            jobs = s.exec(
                select(JobRecord)
                .where(col(JobRecord.started_by) == caller.operator_id, col(JobRecord.created_at) >= since)
                .order_by(col(JobRecord.created_at))
            ).all()
            plans = s.exec(
                select(PlanRecord).where(
                    col(PlanRecord.operator_id) == caller.operator_id,
                    col(PlanRecord.created_at) >= since,
                    col(PlanRecord.status) == "pending",
                )
            ).all()
    except ClawOpsError:
        return (
            "The engine hit an internal error on this turn (logged) and cannot tell what ran; "
            'check `clawops ask "list jobs"` before sending it again.'
        )
    if jobs:
        started = ", ".join(
            f"{j.id} ({j.tool}, {j.total} step{'s' if j.total != 1 else ''}, {j.status})" for j in jobs[:5]
        )
        return (
            f"The engine hit an internal error (logged) after this turn had already started {started}; "
            "do not send it again — ask for the job's status instead."
        )
    if plans:
        return (
            f"The engine hit an internal error (logged) after planning {', '.join(p.id for p in plans[:5])}; "
            'nothing ran — say "go" to confirm the plan or ask again.'
        )
    return "The engine hit an internal error on this turn (logged); nothing ran, so it is safe to try again."


def _record(
    engine: Engine,
    caller: Caller,
    session: str | None,
    message: str,
    reply: str,
    agent: str | None,
    *,
    role: str = "agent",
) -> None:
    """History is a convenience: failing to write it must not turn a done action into an error."""
    try:
        record_exchange(engine.store, caller, session, message, reply, agent, role=role)
    except ClawOpsError as err:
        log.warning("history not recorded", extra={"error": str(err)})
