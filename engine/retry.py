"""Retry policies as data; the waits are computed by tenacity, never by hand.

Each service that retries keeps one :class:`Backoff` (how many tries, how long between them, which errors
are worth another try) next to its code, and this is the table of them:

==========================  =====================================  =========  ================  ==============
service                     policy                                 attempts   waits (s)         retries on
==========================  =====================================  =========  ================  ==============
provider API calls          ``engine.providers._http.RetryPolicy``  6 (2 for   0.5 · 2ⁿ ≤ 60     429, no
                                                                   a purchase) + 0–0.5 jitter   connection;
                                                                                                timeouts/5xx
                                                                                                if idempotent
operator client → daemon    ``engine.api._remote.ENGINE_LINK``     until the  0.2 · 2ⁿ ≤ 2      network
                                                                   deadline                     errors
companion webhooks          ``engine.webhooks.WEBHOOK_RETRY``      8          30 · 2ⁿ           non-2xx,
                                                                   (persisted)                  network errors
==========================  =====================================  =========  ================  ==============

Not here, on purpose: the messaging channels' ``RetryPolicy`` (``engine.channels``: its half-jitter waits and
the APIs' own ``retry_after`` are channel behaviour), the Messages API (the anthropic SDK retries itself), the
OpenClaw upstream link (``engine.gateway._upstream``, tenacity's ``wait_exponential`` already) and Guardian's
heal ladder (a per-instance escalation kept in the store, not a retry of one call).
"""

from __future__ import annotations

from collections.abc import Iterator
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

    def retrying(self, **overrides: Any) -> AsyncRetrying:
        """A tenacity ``AsyncRetrying`` for this policy (re-raising the last error when the tries run out)."""
        options: dict[str, Any] = {
            "stop": stop_never if self.attempts is None else stop_after_attempt(self.attempts),
            "wait": self.strategy(),
            "retry": retry_if_exception_type(self.retry_on),
            "reraise": True,
        }
        return AsyncRetrying(**(options | overrides))
