"""Client-side rate limiting: one limiter per provider and token, fed by the vendor's own headers.

Each limiter is a set of token buckets (one per vendor window: Hetzner 3,600/h refilled
1/s; DigitalOcean 250/min *and* 5,000/h; Vultr ~30/s; Contabo and Hostinger publish no
numbers, so a configurable guess).  Requests wait their turn in FIFO order.  Responses
teach it: ``RateLimit-Remaining`` / ``ratelimit-remaining`` pull the matching bucket down
to what the vendor says is left (never up: a stale header must not cause a burst),
``RateLimit-Limit`` corrects the window size, and a 429 empties the buckets and honours
``Retry-After``.  Until the first response has been seen only one request is in flight,
so a limiter that starts "full" cannot fire a burst into an already exhausted project.

``time_scale`` multiplies every refill rate: the emulators run vendor limits time-scaled,
and the same knob here keeps client and emulator in step.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Window:
    """``capacity`` requests per ``per_seconds``, refilled continuously (a token bucket)."""

    capacity: float
    per_seconds: float

    @property
    def rate(self) -> float:
        return self.capacity / self.per_seconds


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    windows: tuple[Window, ...]
    headers: bool = True
    """Whether the vendor sends ``ratelimit-*`` headers worth learning from."""
    time_scale: float = 1.0
    default_retry_after: float = 1.0
    """Pause after a 429 that carries no ``Retry-After`` (seconds, before time scaling)."""

    def scaled(self, time_scale: float) -> RateLimitPolicy:
        return RateLimitPolicy(self.windows, self.headers, time_scale, self.default_retry_after)


#: The vendors' published numbers (shared/reference/providers.md §1); unknown ones are a configurable guess.
POLICIES: dict[str, RateLimitPolicy] = {
    "hetzner": RateLimitPolicy((Window(3600, 3600),)),
    "digitalocean": RateLimitPolicy((Window(250, 60), Window(5000, 3600))),
    "vultr": RateLimitPolicy((Window(30, 1),), headers=False),
    "contabo": RateLimitPolicy((Window(8, 1),), headers=False),
    "hostinger": RateLimitPolicy((Window(5, 1),), headers=False),
}
DEFAULT_POLICY = RateLimitPolicy((Window(5, 1),), headers=False)


@dataclass(slots=True)
class LimiterStats:
    requests: int = 0
    rate_limited: int = 0
    waited_seconds: float = 0.0
    header_updates: int = 0


def _num(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None


@dataclass
class RateLimiter:
    policy: RateLimitPolicy
    clock: Callable[[], float] = time.monotonic
    stats: LimiterStats = field(default_factory=LimiterStats)

    def __post_init__(self) -> None:
        self._capacity = [w.capacity for w in self.policy.windows]
        self._rate = [w.rate * self.policy.time_scale for w in self.policy.windows]
        self._level = list(self._capacity)
        self._stamp = self.clock()
        self._blocked_until = 0.0
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._learned = not self.policy.headers
        self._probing = False
        self._learned_event: asyncio.Event | None = None

    # --- state -------------------------------------------------------------------------------

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        for i, rate in enumerate(self._rate):
            self._level[i] = min(self._capacity[i], self._level[i] + elapsed * rate)

    @property
    def allowed_rate(self) -> float:
        """Sustained requests per second this limiter lets through (the slowest window)."""
        return min(self._rate)

    def available(self) -> float:
        self._refill(self.clock())
        return min(self._level)

    # --- the two calls every request makes ----------------------------------------------------

    async def acquire(self) -> None:
        """Wait until a request may be sent, then take one token from every window."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # asyncio primitives belong to one loop; tests run many
            self._loop, self._lock, self._learned_event = loop, asyncio.Lock(), None
            self._probing = False
        assert self._lock is not None
        if not self._learned:
            if self._probing:
                if self._learned_event is None:
                    self._learned_event = asyncio.Event()
                await self._learned_event.wait()
            else:
                self._probing = True
        async with self._lock:
            while True:
                now = self.clock()
                self._refill(now)
                wait = self._blocked_until - now
                for level, rate in zip(self._level, self._rate, strict=True):
                    if level < 1.0:
                        wait = max(wait, (1.0 - level) / rate)
                if wait <= 1e-9:
                    for i in range(len(self._level)):
                        self._level[i] -= 1.0
                    self.stats.requests += 1
                    return
                self.stats.waited_seconds += wait
                await asyncio.sleep(wait)

    def observe(self, status: int | None, headers: Mapping[str, str] | None) -> None:
        """Learn from a response (or from its absence: ``status=None`` after a transport error)."""
        now = self.clock()
        self._refill(now)
        if headers is not None:
            headers = {k.lower(): v for k, v in headers.items()}
        if headers is not None and self.policy.headers:
            limit = _num(headers, "ratelimit-limit")
            remaining = _num(headers, "ratelimit-remaining")
            if remaining is not None:
                i = self._window_for(limit)
                if limit is not None and limit > 0 and limit != self._capacity[i]:
                    self._capacity[i] = limit
                    self._rate[i] = limit / self.policy.windows[i].per_seconds * self.policy.time_scale
                self._level[i] = min(self._level[i], remaining)
                self.stats.header_updates += 1
        if status == 429:
            self.stats.rate_limited += 1
            for i in range(len(self._level)):
                self._level[i] = min(self._level[i], 0.0)
            retry_after = _num(headers, "retry-after") if headers is not None else None
            if retry_after is None:
                retry_after = self.policy.default_retry_after / self.policy.time_scale
            self._blocked_until = max(self._blocked_until, now + retry_after)
        self._mark_learned()

    def _window_for(self, limit: float | None) -> int:
        if limit is not None:
            for i, cap in enumerate(self._capacity):
                if cap == limit:
                    return i
        return max(range(len(self._capacity)), key=lambda i: self._capacity[i])

    def _mark_learned(self) -> None:
        if not self._learned:
            self._learned = True
            self._probing = False
            if self._learned_event is not None:
                self._learned_event.set()


def rate_limit_policy(provider: str) -> RateLimitPolicy:
    """The vendor's documented request budget (windows of capacity and refill rate) for ``provider``."""
    return POLICIES.get(provider, DEFAULT_POLICY)


class RateLimiters:
    """The limiters of one engine's drivers, by provider and token.

    A vendor's rate limit belongs to the token, so every driver of one engine that uses a token draws from one
    budget, across event loops too (keys hold a digest of the token, never the token).  The engine's driver
    registry owns one (``drivers.limiters``); two engines in one process keep their own books, as two processes
    always have.
    """

    def __init__(self) -> None:
        self._limiters: dict[tuple[str, str, RateLimitPolicy], RateLimiter] = {}

    def get(self, provider: str, token: str | None, policy: RateLimitPolicy | None = None) -> RateLimiter:
        """The shared limiter for ``provider`` and ``token``: two drivers on one token share one budget."""
        policy = policy or rate_limit_policy(provider)
        digest = hashlib.sha256((token or "").encode()).hexdigest()[:16]
        key = (provider, digest, policy)
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = RateLimiter(policy)
        return limiter

    def totals(self) -> dict[str, LimiterStats]:
        """Calls, 429s and rate-limit waits so far, summed per provider (``/metrics``)."""
        totals: dict[str, LimiterStats] = {}
        for (provider, _, _), limiter in list(self._limiters.items()):
            row = totals.setdefault(provider, LimiterStats())
            row.requests += limiter.stats.requests
            row.rate_limited += limiter.stats.rate_limited
            row.waited_seconds += limiter.stats.waited_seconds
        return dict(sorted(totals.items()))
