"""One operator turn with its side effects: history kept, feed told.

Both the embedded client and the daemon run turns through :func:`run_turn`,
so a conversation is recorded and shared the same way whichever front end
the operator uses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from engine.api._history import record_exchange
from engine.api._hub import FeedItem, hub_for
from engine.conversation import TurnResult
from engine.errors import ClawOpsError
from engine.policy import Caller

if TYPE_CHECKING:
    from engine.runtime import Engine

__all__ = ["DeltaScrubber", "run_turn"]

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
            self._sink(self._agent, safe[self._released:upto])
            self._released = upto


async def run_turn(engine: Engine, message: str, *, operator: str | None, channel: str, session: str | None,
                   dry_run: bool = False, yes: bool = False,
                   on_delta: Callable[[str, str], None] | None = None) -> TurnResult:
    """Run one turn as ``operator``; record it in the history and publish it to the feed.

    ``on_delta(agent, text)`` receives the model's reply as it streams (LLM brain only), already redacted.
    """
    caller = engine.caller(operator, channel)
    scrubber = None
    if on_delta is not None:
        scrubber = DeltaScrubber(lambda text: _scrub(engine, text), on_delta)
    try:
        result = await engine.ask(message, operator=caller.name, channel=channel, session=session,
                                  dry_run=dry_run, yes=yes, on_delta=scrubber)
        if scrubber is not None:
            scrubber.flush()
    except ClawOpsError as err:
        _record(engine, caller, session, _scrub(engine, message), _scrub(engine, str(err)), None, role="error")
        raise
    result = _scrub(engine, result)
    message = _scrub(engine, message)
    _record(engine, caller, session, message, result.reply, result.agent)
    hub_for(engine).publish(FeedItem(operator=caller.name, channel=channel, session=session, message=message,
                                     reply=result.reply, agent=result.agent,
                                     tool_calls=tuple(c.to_contract() for c in result.tool_calls),
                                     tenant=caller.tenant_id))
    return result


def _scrub(engine: Engine, value: T) -> T:
    """Secrets never reach the history table or another operator's feed (the trust redactor, when present)."""
    trust: Any = getattr(engine, "trust", None)
    redactor: Any = getattr(trust, "redactor", None)
    if redactor is None:
        return value
    scrubbed: T = redactor.scrub_value(value)
    return scrubbed


def _record(engine: Engine, caller: Caller, session: str | None, message: str, reply: str, agent: str | None,
            *, role: str = "agent") -> None:
    """History is a convenience: failing to write it must not turn a done action into an error."""
    try:
        record_exchange(engine.store, caller, session, message, reply, agent, role=role)
    except ClawOpsError as err:
        log.warning("history not recorded", extra={"error": str(err)})
