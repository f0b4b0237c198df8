"""Throttling failed logins: bounded token buckets per source, per key prefix, per channel identity.

Guessing a 256-bit API key is hopeless whatever the rate, so the throttle is
not what keeps keys safe.  It keeps a flood of wrong keys or forged chat
identities from turning into a flood of work and of audit entries (every
failed login is a hash-chain entry and a database write), and it tells a
misconfigured client plainly to stop and wait.

Two kinds of bucket, each holding up to ``burst`` failures and refilling at
``per_second``:

* **hard** (one network source; one claimed chat identity): once empty, every
  attempt from it is refused *unchecked* until a token is back.  A source that
  keeps failing is someone else's problem, not an operator's.
* **soft** (one key prefix; one whole channel): once empty, a wrong credential
  is refused without its own audit entry, but a *right* one still gets in.
  Prefixes are shown in key lists and a channel is shared by every operator on
  it, so a hard limit there would let anybody lock the real owner out.

While a bucket is empty its refusals form a *burst*: the first refusal of a
burst is audited once (``login.throttled``, with how long it lasts and how
many refusals the previous burst swallowed); the rest are only counted.
Buckets live in memory, per engine (its ``Trust.throttle``), and at most ``max_buckets`` of
each kind are kept (least recently used go first), so memory stays bounded
whatever an attacker sends.  Several engine processes each keep their own.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from engine import audit
from engine.errors import TooManyAttempts
from engine.store import Store

__all__ = ["Burst", "LoginThrottle", "TooManyAttempts", "audit_burst", "throttled", "wait_words"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float
    in_burst: bool = False
    suppressed: int = 0
    last_suppressed: int = 0


@dataclass(frozen=True, slots=True)
class Burst:
    """A refusal because a bucket is empty; ``first`` says whether it opens a burst (audit it then)."""

    bucket: str
    retry_after: float
    first: bool
    previous_suppressed: int


@dataclass(frozen=True, slots=True)
class _Limit:
    burst: float
    per_second: float


def wait_words(seconds: float) -> str:
    """``40 s``, ``3 min``: how long to wait, rounded up, for a sentence."""
    whole = max(1, math.ceil(seconds))
    return f"{whole} s" if whole < 120 else f"{math.ceil(whole / 60)} min"


class LoginThrottle:
    """Failed-login token buckets; thread-safe, bounded, monotonic-clock based."""

    def __init__(
        self,
        *,
        hard: tuple[float, float] = (10, 10 / 60),
        soft: tuple[float, float] = (10, 10 / 60),
        channel: tuple[float, float] = (60, 1.0),
        max_buckets: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``hard``/``soft``/``channel``: (burst, refill per second) of each kind of bucket."""
        self._limits = {"hard": _Limit(*hard), "soft": _Limit(*soft), "channel": _Limit(*channel)}
        self._buckets: dict[str, OrderedDict[str, _Bucket]] = {kind: OrderedDict() for kind in self._limits}
        self._max = max_buckets
        self._clock = clock
        self._lock = threading.Lock()

    def _bucket(self, kind: str, name: str, now: float) -> _Bucket:
        buckets = self._buckets[kind]
        limit = self._limits[kind]
        bucket = buckets.get(name)
        if bucket is None:
            bucket = buckets[name] = _Bucket(limit.burst, now)
            while len(buckets) > self._max:
                buckets.popitem(last=False)
        else:
            buckets.move_to_end(name)
            bucket.tokens = min(limit.burst, bucket.tokens + (now - bucket.stamp) * limit.per_second)
            bucket.stamp = now
            if bucket.in_burst and bucket.tokens >= 1:
                bucket.in_burst, bucket.last_suppressed, bucket.suppressed = False, bucket.suppressed, 0
        return bucket

    def _wait(self, kind: str, bucket: _Bucket) -> float:
        return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self._limits[kind].per_second

    def check(self, kind: str, name: str) -> Burst | None:
        """None while ``name`` may still fail; else the refusal (counted: first of a burst or suppressed)."""
        with self._lock:
            bucket = self._bucket(kind, name, self._clock())
            wait = self._wait(kind, bucket)
            if wait <= 0:
                return None
            first = not bucket.in_burst
            if first:
                bucket.in_burst = True
            else:
                bucket.suppressed += 1
            return Burst(f"{kind}:{name}", wait, first, bucket.last_suppressed if first else 0)

    def empty(self, kind: str, name: str) -> bool:
        """Whether ``name``'s bucket is out of tokens (nothing is counted)."""
        with self._lock:
            return self._wait(kind, self._bucket(kind, name, self._clock())) > 0

    def failed(self, kind: str, name: str) -> None:
        """One failed login charged to ``name``."""
        with self._lock:
            bucket = self._bucket(kind, name, self._clock())
            bucket.tokens = max(0.0, bucket.tokens - 1)

    def __len__(self) -> int:
        return sum(len(b) for b in self._buckets.values())


def audit_burst(store: Store, burst: Burst, channel: str, actor: str = "unknown") -> None:
    """The one audit entry of a burst of throttled logins."""
    with store.session() as s:
        audit.append(
            s,
            actor=actor,
            channel=channel,
            action="login.throttled",
            target=burst.bucket[:200],
            outcome="refused",
            detail={
                "retry_after_s": math.ceil(burst.retry_after),
                "previous_burst_refusals": burst.previous_suppressed,
            },
        )


def throttled(store: Store, burst: Burst, channel: str, what: str) -> TooManyAttempts:
    """The error for a throttled attempt (audited when it opens a burst)."""
    if burst.first:
        audit_burst(store, burst, channel)
    return TooManyAttempts(
        f"Too many failed logins {what}; try again in {wait_words(burst.retry_after)}.", retry_after=burst.retry_after
    )
