"""Retry policies as data; the tries and the waits are run by tenacity, never by a hand-written loop.

Each service that retries keeps one :class:`Backoff` (how many tries, how long between them, which errors
are worth another try) next to its code, and this is the table of them:

==========================  ==========================================  =========  ================  ==============
service                     policy                                      attempts   waits (s)         retries on
==========================  ==========================================  =========  ================  ==============
provider API calls          ``engine.providers._http.RetryPolicy``       6 (2 for   0.5 · 2ⁿ ≤ 60     429, no
                                                                        a purchase) + 0–0.5 jitter   connection;
                                                                                                     timeouts/5xx
                                                                                                     if idempotent
messaging channels          ``engine.channels.RetryPolicy`` (Telegram,  5          0.5 · 2ⁿ ≤ 60     429 (waits the
                            WhatsApp; ``CHANNEL_RETRY``)                           + 0–0.5 jitter;   API's
                                                                                   the API's         retry_after),
                                                                                   retry_after       5xx, network
operator client → daemon    ``engine.api._remote.ENGINE_LINK``          until the  0.2 · 2ⁿ ≤ 2      network
                                                                        deadline                     errors
companion webhooks          ``engine.webhooks.WEBHOOK_RETRY``           8          30 · 2ⁿ           non-2xx,
                                                                        (persisted)                  network errors
OpenClaw upstream link      ``engine.gateway._upstream`` (reconnects)   forever    0.5 · 2ⁿ ≤ 30     a dropped link
==========================  ==========================================  =========  ================  ==============

Not here, on purpose: the Messages API client (``engine.brain._llm``, its own loop for now), the node agent
(``node/`` imports nothing of the engine; it uses tenacity itself) and Guardian's heal ladder (a per-instance
escalation kept in the store, not a retry of one call).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_never,
    wait_exponential,
    wait_random,
)
from tenacity.wait import wait_base

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Truncated exponential backoff: the n-th wait is ``initial · 2ⁿ⁻¹`` capped at ``maximum``, plus up to
    ``jitter`` seconds at random; ``attempts`` tries in all (``None``: until the caller's deadline)."""

    initial: float
    maximum: float
    attempts: int | None = None
    jitter: float = 0.0
    retry_on: tuple[type[BaseException], ...] = (Exception,)

    def strategy(self) -> wait_base:
        """The tenacity wait strategy of this policy."""
        wait: wait_base = wait_exponential(multiplier=self.initial, max=self.maximum)
        return wait + wait_random(0, self.jitter) if self.jitter else wait

    def wait(self, failed: int) -> float:
        """Seconds to wait after ``failed`` tries (1 = after the first failure)."""
        state = RetryCallState(AsyncRetrying(), None, (), {})
        state.attempt_number = max(1, failed)
        return float(self.strategy()(state))

    def delays(self) -> Iterator[float]:
        """The waits between tries, in order (endless when ``attempts`` is ``None``)."""
        failed = 1
        while self.attempts is None or failed < self.attempts:
            yield self.wait(failed)
            failed += 1

    def asked_or_own(self) -> Callable[[RetryCallState], float]:
        """A wait that honours the server: the failed try's ``retry_after`` (an attribute of its exception, in
        seconds, capped at ``maximum`` so a hostile value cannot park a caller for an hour), else this policy's
        own backoff."""
        own = self.strategy()

        def wait(state: RetryCallState) -> float:
            failure = state.outcome.exception() if state.outcome is not None else None
            asked = getattr(failure, "retry_after", None)
            if isinstance(asked, int | float) and not isinstance(asked, bool) and asked >= 0:
                return min(float(asked), self.maximum)
            return float(own(state))

        return wait

    def retrying(self, *, sleep: Callable[[float], Awaitable[None]] | None = None, **overrides: Any) -> AsyncRetrying:
        """A tenacity ``AsyncRetrying`` for this policy (re-raising the last error when the tries run out);
        ``sleep`` replaces the waiting itself (a test's clock)."""
        options: dict[str, Any] = {
            "stop": stop_never if self.attempts is None else stop_after_attempt(self.attempts),
            "wait": self.strategy(),
            "retry": retry_if_exception_type(self.retry_on),
            "reraise": True,
        }
        if sleep is not None:
            options["sleep"] = sleep
        return AsyncRetrying(**(options | overrides))
