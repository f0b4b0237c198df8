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
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from tenacity import retry_if_exception

from engine.errors import ClawOpsError
from engine.retry import Backoff

__all__ = [
    "CHANNEL_RETRY",
    "AuditHook",
    "ChannelError",
    "Handler",
    "Inbound",
    "Outbox",
    "Refusal",
    "Reply",
    "RetryPolicy",
    "SeenIds",
    "Senders",
    "SendStatus",
    "SpeakLater",
    "Strangers",
    "TURN_CRASHED",
    "MediaTooLarge",
    "deliver_reply",
]

log = logging.getLogger("clawops.channels")
T = TypeVar("T")

ChannelName = Literal["telegram", "whatsapp"]


class ChannelError(ClawOpsError):
    """A messaging API refused a call or stayed unreachable after the retries.

    ``retryable``: another try may succeed (a flood limit, a server error, no connection); ``retry_after``: how
    long the API asked us to wait first (Telegram's ``retry_after``), which the retry policy honours.
    """

    def __init__(
        self, message: str, *, status: int | None = None, retryable: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


class MediaTooLarge(ChannelError):
    """A download refused because it is over the size limit: the sender's file, not the API, is the problem."""


@dataclass(frozen=True, slots=True)
class Inbound:
    """One operator message as the engine sees it, whichever app it came through.

    Exactly one of ``text`` and ``audio_path`` is set. ``audio_path`` is a downloaded voice note (any
    codec the voice package accepts); the channel deletes it once the handler returns. A chat's messages are
    handled one after the other; ``release()`` (idempotent) is the handler saying it will now wait a long time (a
    job it started is running): the chat's next messages are then handled meanwhile — "stop that" must not
    wait for the very job it stops — and this message's reply still goes out when it is ready.
    """

    channel: ChannelName
    sender_id: str
    operator_id: str
    message_id: str
    text: str | None = None
    audio_path: Path | None = None
    release: Callable[[], None] | None = field(default=None, compare=False, repr=False)

    @property
    def is_voice(self) -> bool:
        return self.audio_path is not None


SpeakLater = Callable[[], Awaitable["tuple[bytes, float | None] | None"]]
"""Synthesises the spoken reply on demand: (OGG/Opus bytes, duration) or None when nothing can be said."""


@dataclass(frozen=True, slots=True)
class Reply:
    """What goes back: the text (always), optionally what was heard, a voice note and documents.

    Parts go out in this order: ``transcript`` ("Heard: …", so the operator sees what the engine
    understood), the ``text`` answer, then the voice note — ``voice_ogg`` when it is already made, or
    ``speak()`` run only after the text is on its way, so the text never waits for speech synthesis —
    then ``document`` and ``documents`` (reports, charts).
    """

    text: str
    transcript: str | None = None
    voice_ogg: bytes | None = None
    voice_duration_s: float | None = None
    document: Path | None = None
    document_caption: str | None = None
    speak: SpeakLater | None = None
    documents: tuple[Path, ...] = ()

    @property
    def all_documents(self) -> tuple[Path, ...]:
        return ((self.document,) if self.document is not None else ()) + self.documents


@dataclass(frozen=True, slots=True)
class Refusal:
    """A message that was dropped without reply; the engine writes it to the audit log."""

    channel: ChannelName
    sender_id: str
    reason: Literal["unknown_sender", "bad_signature", "unsupported_message"]
    detail: str = ""


Handler = Callable[[Inbound], Awaitable[Reply | None]]
AuditHook = Callable[[Refusal], Awaitable[None] | None]
Senders = Mapping[str, str] | Callable[[str], str | None]
"""Who may talk: a fixed map sender id → operator id, or a lookup asked on every message (so an identity
linked or revoked while the engine runs counts from its next message)."""
SendStatus = Literal["sent", "queued", "failed"]
"""What became of one outbound part: on the wire, waiting in the Outbox for the API to come back, or dropped."""


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


def lookup_operator(allowed: Senders, sender_id: str) -> str | None:
    """Map a sender (Telegram user id, WhatsApp phone number) to an operator, or None if not allowed.

    Phone numbers are compared by digits only, so "+49 170 1234567" and "491701234567" match.
    """
    if callable(allowed):
        return allowed(sender_id)
    if sender_id in allowed:
        return allowed[sender_id]
    digits = "".join(ch for ch in sender_id if ch.isdigit())
    for key, operator in allowed.items():
        if digits and "".join(ch for ch in key if ch.isdigit()) == digits:
            return operator
    return None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry a messaging API call before giving up: data, run by tenacity
    (:class:`engine.retry.Backoff`), one policy per service in :data:`CHANNEL_RETRY`.

    Outbound messages are retried, not dropped: a flood limit (Telegram ``retry_after``, WhatsApp
    rate-limit codes) waits the time the API asks for; server errors and network failures back off
    exponentially (``base_delay_s · 2ⁿ``) plus up to ``base_delay_s`` of jitter. ``max_wait_s`` caps any
    single wait so a hostile ``retry_after`` cannot park a sender for an hour.  ``sleep`` is the waiting
    itself (a test passes a recorder).
    """

    attempts: int = 5
    base_delay_s: float = 0.5
    max_wait_s: float = 60.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False)

    @property
    def backoff(self) -> Backoff:
        """The tries and waits as the engine's one retry policy type."""
        return Backoff(
            initial=self.base_delay_s,
            maximum=self.max_wait_s,
            attempts=self.attempts,
            jitter=self.base_delay_s,
            retry_on=(ChannelError,),
        )

    async def run(self, once: Callable[[], Awaitable[T]], gave_up: Callable[[ChannelError], str]) -> T:
        """``once()`` until it succeeds, raises a :class:`ChannelError` that is not ``retryable``, or the tries run
        out; then the last error again, its sentence from ``gave_up`` (which says so)."""
        backoff = self.backoff
        retrying = backoff.retrying(
            sleep=self.sleep,
            wait=backoff.asked_or_own(),
            retry=retry_if_exception(lambda e: isinstance(e, ChannelError) and e.retryable),
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await once()
        except ChannelError as err:
            if not err.retryable:
                raise
            raise ChannelError(gave_up(err), status=err.status, retryable=True) from None
        raise AssertionError("unreachable")  # pragma: no cover  (tenacity re-raises the last failure)


CHANNEL_RETRY: dict[str, RetryPolicy] = {
    "telegram": RetryPolicy(),
    "whatsapp": RetryPolicy(),
}
"""Each messaging service's retry policy (the clients' default; a deployment or a test passes its own)."""


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

    async def once() -> bytes:
        try:
            async with http.stream("GET", url, headers=headers, timeout=60.0) as resp:
                if resp.status_code >= 500 or resp.status_code in retry_statuses:
                    raise ChannelError(
                        f"{service} could not serve the {noun} (HTTP {resp.status_code}).",
                        status=resp.status_code,
                        retryable=True,
                    )
                if resp.status_code != 200:
                    raise ChannelError(
                        f"{service} refused the {noun} download (HTTP {resp.status_code}).", status=resp.status_code
                    )
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise MediaTooLarge(f"The {noun} is larger than {max_bytes // (1024 * 1024)} MB.")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.TransportError as exc:
            raise ChannelError(f"{service} is unreachable ({type(exc).__name__}).", retryable=True) from None

    return await retry.run(once, lambda _last: f"{service} {noun} download kept failing; gave up.")


TURN_CRASHED = (
    'Sorry, something went wrong on my side handling that; say "job status" to see what is running '
    "before you send it again."
)
"""The last-resort reply when handling a message failed unexpectedly: it may have set something going, so the
operator is pointed at what runs before sending it again (never a bare "try again")."""

STRANGER_REPLY = (
    "I only talk to linked operators. If you run this fleet, ask its owner to link you: "
    "clawops operator link NAME {channel} {sender}"
)


class ChatTurns:
    """Each chat's (or sender's) messages in arrival order, chats side by side: ``run(chat, handle)`` starts
    ``handle(release)`` once the chat's earlier messages are done or have called their ``release()``."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def run(self, chat: str, handle: Callable[[Callable[[], None]], Awaitable[None]]) -> None:
        lock = self._locks.setdefault(chat, asyncio.Lock())

        async def in_turn() -> None:
            await lock.acquire()  # asyncio.Lock is fair: this chat's messages start in arrival order
            held = True

            def release() -> None:
                nonlocal held
                if held:
                    held = False
                    lock.release()

            try:
                await handle(release)
            finally:
                release()
                if not lock.locked() and self._locks.get(chat) is lock:
                    self._locks.pop(chat, None)

        task = asyncio.create_task(in_turn())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        """Wait for every message still being handled."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


class Strangers:
    """Who gets the one short refusal: each unknown sender once per ``window_s``, so a stranger who keeps
    writing is not answered again and again, and at most ``per_minute`` refusals a minute in all, so a flood of
    new senders can neither make the bot a spammer nor spend the flood limit its operators' replies need (the
    audit hook throttles its side)."""

    def __init__(
        self,
        window_s: float = 3600.0,
        capacity: int = 10_000,
        clock: Callable[[], float] | None = None,
        per_minute: int = 20,
    ) -> None:
        self._last: OrderedDict[str, float] = OrderedDict()
        self._window = window_s
        self._capacity = capacity
        self._clock = clock or time.monotonic
        self._per_minute = per_minute
        self._recent: list[float] = []

    def answer(self, sender_id: str) -> bool:
        """True the first time ``sender_id`` writes within the window, while the minute's budget lasts."""
        now = self._clock()
        last = self._last.get(sender_id)
        if last is not None and now - last < self._window:
            return False
        self._recent = [t for t in self._recent if now - t < 60.0]
        if len(self._recent) >= self._per_minute:
            return False  # not remembered: once the flood is over, this sender still gets its one answer
        self._recent.append(now)
        self._last[sender_id] = now
        self._last.move_to_end(sender_id)
        while len(self._last) > self._capacity:
            self._last.popitem(last=False)
        return True


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
    state: SendStatus = "queued"
    held: bool = False
    """Its sender was told "queued": when it goes out later, that is said too (``on_late_send``)."""


class Outbox:
    """Outbound messages that could not be delivered yet, retried later in order per recipient.

    A reply is several sends (transcript, voice note, text, document). Each is tried at once; when
    the API stays unavailable past the client's own retries, that send and everything after it for
    the same recipient wait here, so the operator later gets all of them, in order, once each. Sends
    the API refused outright (bad request, blocked bot) are dropped with a log line: retrying cannot
    help them. Recipients are independent: one chat's flood wait never holds up another's messages.
    :meth:`run` retries what waits soon after it was queued (2 s, then twice as long each time up to its
    interval), and :meth:`nudge` retries at once (the API was seen answering again). Memory only: a crash
    loses what is queued, which the engine's audit log still shows.
    """

    def __init__(
        self,
        *,
        max_age_s: float = 24 * 3600.0,
        clock: Callable[[], float] | None = None,
        on_failure: Callable[[str, str, str], None] | None = None,
        first_retry_s: float = 2.0,
        on_late_send: Callable[[str, str, int], None] | None = None,
    ) -> None:
        self._queues: dict[str, list[_Pending]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._max_age = max_age_s
        self._clock = clock or (lambda: asyncio.get_running_loop().time())
        self._on_failure = on_failure
        self._on_late_send = on_late_send
        self._first_retry = first_retry_s
        self._wake: asyncio.Event | None = None
        self._failures: dict[str, str] = {}

    def pending(self, key: str | None = None) -> int:
        if key is not None:
            return len(self._queues.get(key, []))
        return sum(len(q) for q in self._queues.values())

    def failure(self, key: str) -> str | None:
        """Why the last send to ``key`` that was given up on failed (the API's own words), or None."""
        return self._failures.get(key)

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def _event(self) -> asyncio.Event:
        if self._wake is None:
            self._wake = asyncio.Event()
        return self._wake

    def nudge(self) -> None:
        """Retry what waits now rather than at the next interval (the messaging API answered again)."""
        if self.pending():
            self._event().set()

    async def submit(self, key: str, label: str, send: Send) -> bool:
        """Send now, or queue behind earlier undelivered sends for ``key``; True if nothing is left waiting."""
        return await self.send(key, label, send) != "queued"

    async def send(self, key: str, label: str, send: Send) -> SendStatus:
        """Like :meth:`submit`, but says truthfully what became of this send: sent, queued or failed."""
        async with self._lock(key):
            queue = self._queues.setdefault(key, [])
            item = _Pending(label, send, self._clock())
            queue.append(item)
            if len(queue) == 1:
                await self._drain(key)
            if item.state == "queued":
                item.held = True
                self._event().set()  # run() retries it soon
            return item.state

    async def flush(self) -> int:
        """Retry every recipient's queue once, in order; return how many sends went out (or were dropped)."""
        before = self.pending()
        for key in list(self._queues):
            async with self._lock(key):
                await self._drain(key)
        return before - self.pending()

    async def run(self, stop: asyncio.Event, interval_s: float = 30.0) -> None:
        """Until ``stop`` is set, retry what waits: soon after it was queued, then backing off to ``interval_s``
        while the API stays down (the engine runs one per channel)."""
        wake = self._event()
        delay = self._first_retry
        while not stop.is_set():
            if not self.pending():
                delay = self._first_retry
                await _first(stop.wait(), wake.wait(), timeout=interval_s)
                wake.clear()
                continue
            await _first(stop.wait(), wake.wait(), timeout=delay)
            nudged = wake.is_set()
            wake.clear()
            if stop.is_set():
                break
            try:
                await self.flush()
            except Exception:  # the retry loop itself must outlive anything one send does
                log.exception("outbox flush failed")
            delay = self._first_retry if nudged or not self.pending() else min(interval_s, delay * 2)

    async def _drain(self, key: str) -> bool:
        queue = self._queues.get(key, [])
        while queue:
            item = queue[0]
            if self._clock() - item.created > self._max_age:
                log.error("dropping %s for %s: undeliverable for too long", item.label, key)
                queue.pop(0)
                self._fail(key, item, "undeliverable for too long")
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
                self._fail(key, item, str(exc))
                continue
            except Exception as exc:  # e.g. a report file gone before it was sent: retrying cannot help
                log.exception("dropping %s for %s", item.label, key)
                queue.pop(0)
                self._fail(key, item, f"{type(exc).__name__}: {exc}")
                continue
            item.state = "sent"
            queue.pop(0)
            if item.held:
                self._late(key, item)
        self._queues.pop(key, None)
        return True

    def _late(self, key: str, item: _Pending) -> None:
        log.info("sent %s for %s after it waited (%d attempts)", item.label, key, item.attempts)
        if self._on_late_send is not None:
            try:
                self._on_late_send(key, item.label, item.attempts)
            except Exception:  # an audit outage must not stop the queue
                log.exception("outbox late-send hook failed")

    def _fail(self, key: str, item: _Pending, why: str) -> None:
        item.state = "failed"
        self._failures[key] = why
        if self._on_failure is not None:
            try:
                self._on_failure(key, item.label, why)
            except Exception:  # an audit outage must not stop the queue
                log.exception("outbox failure hook failed")


async def _first(*waits: Awaitable[object], timeout: float) -> None:
    """Return when the first of ``waits`` is done or after ``timeout`` seconds; the others are cancelled."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def worst(statuses: list[SendStatus]) -> SendStatus:
    """One status for several parts: failed if any failed, else queued if any wait, else sent."""
    for status in ("failed", "queued"):
        if status in statuses:
            return status
    return "sent"


async def deliver_reply(
    outbox: Outbox,
    key: str,
    reply: Reply,
    *,
    text: Callable[[str], Awaitable[object]],
    voice: Callable[[bytes, float | None], Awaitable[object]],
    document: Callable[[bytes, str, str | None], Awaitable[object]],
) -> SendStatus:
    """Send a reply's parts through ``outbox`` in order: "Heard: …", the text, the voice note, documents.

    The text is on its way before a deferred voice note (``reply.speak``) is even synthesised; a voice note
    that cannot be made is logged and the rest still goes.
    """
    statuses: list[SendStatus] = []
    if reply.transcript:
        heard = f"Heard: “{reply.transcript}”"
        statuses.append(await outbox.send(key, "transcript", lambda: text(heard)))
    if reply.text.strip():
        answer = reply.text
        statuses.append(await outbox.send(key, "text", lambda: text(answer)))
    ogg, duration = reply.voice_ogg, reply.voice_duration_s
    if ogg is None and reply.speak is not None:
        try:
            made = await reply.speak()
        except Exception:  # speech is a bonus on top of the text that already went
            log.exception("could not speak the reply")
            made = None
        if made is not None:
            ogg, duration = made
    if ogg:
        note = ogg
        statuses.append(await outbox.send(key, "voice", lambda: voice(note, duration)))
    caption = reply.document_caption

    def sender(path: Path) -> Send:
        return lambda: document(path.read_bytes(), path.name, caption)

    for path in reply.all_documents:
        statuses.append(await outbox.send(key, "document", sender(path)))
    return worst(statuses)
