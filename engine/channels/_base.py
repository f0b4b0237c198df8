"""The one channel interface: every messaging app hands the engine the same ``Inbound`` and gets a ``Reply``.

Telegram and WhatsApp differ in transport (long polling vs signed webhooks), in how media is
fetched and in their error models; none of that leaks past this module. The engine supplies one
``Handler`` (transcribe if audio, run the operator's conversation turn, speak the answer) and one
``Allowlist``; each channel only moves bytes and enforces who may talk at all.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.errors import ClawOpsError

__all__ = [
    "AuditHook",
    "ChannelError",
    "Handler",
    "Inbound",
    "Outbox",
    "Refusal",
    "Reply",
    "RetryPolicy",
    "SeenIds",
]

log = logging.getLogger("clawops.channels")

ChannelName = Literal["telegram", "whatsapp"]


class ChannelError(ClawOpsError):
    """A messaging API refused a call or stayed unreachable after the retries."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class Inbound:
    """One operator message as the engine sees it, whichever app it came through.

    Exactly one of ``text`` and ``audio_path`` is set. ``audio_path`` is a downloaded voice note (any
    codec the voice package accepts); the channel deletes it once the handler returns.
    """

    channel: ChannelName
    sender_id: str
    operator_id: str
    message_id: str
    text: str | None = None
    audio_path: Path | None = None

    @property
    def is_voice(self) -> bool:
        return self.audio_path is not None


@dataclass(frozen=True, slots=True)
class Reply:
    """What goes back: the text (always), optionally what was heard, a voice note and a document.

    ``transcript`` is sent first as its own message so the operator sees what the engine understood
    before the answer; ``voice_ogg`` is an OGG/Opus voice note; ``document`` is a file (a report).
    """

    text: str
    transcript: str | None = None
    voice_ogg: bytes | None = None
    voice_duration_s: float | None = None
    document: Path | None = None
    document_caption: str | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """A message that was dropped without reply; the engine writes it to the audit log."""

    channel: ChannelName
    sender_id: str
    reason: Literal["unknown_sender", "bad_signature", "unsupported_message"]
    detail: str = ""


Handler = Callable[[Inbound], Awaitable[Reply | None]]
AuditHook = Callable[[Refusal], Awaitable[None] | None]


async def notify(hook: AuditHook | None, refusal: Refusal) -> None:
    """Call the audit hook (sync or async); a failing hook is logged, never fatal to the channel."""
    log.warning("channel %s refused %s: %s %s", refusal.channel, refusal.sender_id, refusal.reason, refusal.detail)
    if hook is None:
        return
    try:
        result = hook(refusal)
        if inspect.isawaitable(result):
            await result
    except Exception:  # an audit sink outage must not take the channel down
        log.exception("audit hook failed for %s refusal", refusal.channel)


def lookup_operator(allowed: Mapping[str, str], sender_id: str) -> str | None:
    """Map a sender (Telegram user id, WhatsApp phone number) to an operator, or None if not allowed.

    Phone numbers are compared by digits only, so "+49 170 1234567" and "491701234567" match.
    """
    if sender_id in allowed:
        return allowed[sender_id]
    digits = "".join(ch for ch in sender_id if ch.isdigit())
    for key, operator in allowed.items():
        if digits and "".join(ch for ch in key if ch.isdigit()) == digits:
            return operator
    return None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry a messaging API call before giving up.

    Outbound messages are retried, not dropped: a flood limit (Telegram ``retry_after``, WhatsApp
    rate-limit codes) waits the time the API asks for; server errors and network failures back off
    exponentially with jitter. ``max_wait_s`` caps any single wait so a hostile ``retry_after`` cannot
    park a sender for an hour.
    """

    attempts: int = 5
    base_delay_s: float = 0.5
    max_wait_s: float = 60.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False)

    def backoff(self, attempt: int) -> float:
        delay = self.base_delay_s * float(2**attempt)
        return min(self.max_wait_s, delay * (0.5 + random.random() / 2))


async def download_bounded(
    http: Any,
    url: str,
    *,
    retry: RetryPolicy,
    max_bytes: int,
    service: str,
    noun: str,
    headers: Mapping[str, str] | None = None,
    retry_statuses: frozenset[int] = frozenset(),
) -> bytes:
    """Stream a download, refusing it past ``max_bytes``; 5xx (and ``retry_statuses``) and network errors
    back off and retry, anything else non-200 is one sentence naming ``service`` and ``noun``."""
    import httpx

    for attempt in range(retry.attempts):
        try:
            async with http.stream("GET", url, headers=headers, timeout=60.0) as resp:
                if resp.status_code >= 500 or resp.status_code in retry_statuses:
                    await retry.sleep(retry.backoff(attempt))
                    continue
                if resp.status_code != 200:
                    raise ChannelError(
                        f"{service} refused the {noun} download (HTTP {resp.status_code}).", status=resp.status_code
                    )
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise ChannelError(f"The {noun} is larger than {max_bytes // (1024 * 1024)} MB.")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.TransportError:
            await retry.sleep(retry.backoff(attempt))
    raise ChannelError(f"{service} {noun} download kept failing; gave up.", retryable=True)


class SeenIds:
    """A bounded memory of message ids, so a webhook redelivery or a replayed update is handled once."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def add(self, message_id: str) -> bool:
        """Remember ``message_id``; return False if it was already seen."""
        if message_id in self._ids:
            return False
        self._ids[message_id] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True


Send = Callable[[], Awaitable[object]]


@dataclass
class _Pending:
    label: str
    send: Send
    created: float
    attempts: int = 0


class Outbox:
    """Outbound messages that could not be delivered yet, retried later in order per recipient.

    A reply is several sends (transcript, voice note, text, document). Each is tried at once; when
    the API stays unavailable past the client's own retries, that send and everything after it for
    the same recipient wait here, so the operator later gets all of them, in order, once each. Sends
    the API refused outright (bad request, blocked bot) are dropped with a log line: retrying cannot
    help them. Memory only: a crash loses what is queued, which the engine's audit log still shows.
    """

    def __init__(self, *, max_age_s: float = 24 * 3600.0, clock: Callable[[], float] | None = None) -> None:
        self._queues: dict[str, list[_Pending]] = {}
        self._max_age = max_age_s
        self._clock = clock or (lambda: asyncio.get_running_loop().time())
        self._lock = asyncio.Lock()

    def pending(self, key: str | None = None) -> int:
        if key is not None:
            return len(self._queues.get(key, []))
        return sum(len(q) for q in self._queues.values())

    async def submit(self, key: str, label: str, send: Send) -> bool:
        """Send now, or queue behind earlier undelivered sends for ``key``; True if nothing is left waiting."""
        async with self._lock:
            queue = self._queues.setdefault(key, [])
            queue.append(_Pending(label, send, self._clock()))
            if len(queue) > 1:
                return False
            return await self._drain(key)

    async def flush(self) -> int:
        """Retry every recipient's queue once, in order; return how many sends went out."""
        async with self._lock:
            before = self.pending()
            for key in list(self._queues):
                await self._drain(key)
            return before - self.pending()

    async def run(self, stop: asyncio.Event, interval_s: float = 30.0) -> None:
        """Flush every ``interval_s`` until ``stop`` is set (the engine runs one per channel)."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
            except TimeoutError:
                await self.flush()

    async def _drain(self, key: str) -> bool:
        queue = self._queues.get(key, [])
        while queue:
            item = queue[0]
            if self._clock() - item.created > self._max_age:
                log.error("dropping %s for %s: undeliverable for too long", item.label, key)
                queue.pop(0)
                continue
            item.attempts += 1
            try:
                await item.send()
            except ChannelError as exc:
                if exc.retryable:
                    log.warning("queued %s for %s (attempt %d): %s", item.label, key, item.attempts, exc)
                    return False
                log.error("dropping %s for %s: %s", item.label, key, exc)
            queue.pop(0)
        self._queues.pop(key, None)
        return True
