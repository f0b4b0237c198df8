"""The operator API's front door for request bodies: sizes, encodings, nesting, and retries.

Everything here runs *before* a turn reaches the engine, so a bad request is refused with one clear
sentence and nothing has run:

* :func:`parse_json_object` — strict UTF-8, at most :data:`MAX_DEPTH` levels of nesting (checked by a linear
  scan before the parser could recurse), no lone surrogates in any string (``"\\ud800"`` escapes would
  otherwise reach the store and fail *after* the action ran);
* :func:`check_text` — a message or session name that is too long or not encodable;
* :class:`IdempotentTurns` — ``Idempotency-Key`` on ``POST /v1/turns``: a retry with the same key gets the
  first answer again (waiting for it if it is still running), never a second run.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.errors import InputError

__all__ = [
    "IDEMPOTENCY_TTL",
    "MAX_DEPTH",
    "MAX_MESSAGE_CHARS",
    "IdempotencyConflict",
    "IdempotentTurns",
    "TooLarge",
    "check_text",
    "parse_json_object",
]

#: Nesting deeper than this is no request a client of ours sends; refusing it keeps the parser's recursion small.
MAX_DEPTH = 32
#: Longest message a turn accepts (the same bound the offline brain reads, with room for a pasted log).
MAX_MESSAGE_CHARS = 20_000
IDEMPOTENCY_TTL = 24 * 3600.0
_MAX_KEYS = 10_000
_KEY_RE = re.compile(r"[\x21-\x7e]{1,200}")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


class TooLarge(InputError):
    """The request is bigger than the API takes (answered 413)."""


class IdempotencyConflict(InputError):
    """An ``Idempotency-Key`` reused for a different request (answered 422)."""


def _depth_exceeds(raw: str, limit: int) -> bool:
    """Whether JSON text nests deeper than ``limit`` (brackets inside strings do not count); linear, no recursion."""
    depth = 0
    in_string = escaped = False
    for ch in raw:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def _has_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE_RE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def parse_json_object(raw: bytes | str) -> dict[str, Any]:
    """A request body as a JSON object, or :class:`InputError` with the one thing to fix."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise InputError(
                f"The request body is not valid UTF-8 (bad byte at offset {err.start}); send UTF-8 encoded JSON."
            ) from None
    else:
        text = raw
    if _SURROGATE_RE.search(text):
        raise InputError("The request body holds a lone UTF-16 surrogate, which is not text; send valid UTF-8.")
    if _depth_exceeds(text, MAX_DEPTH):
        raise InputError(f"The request body nests deeper than {MAX_DEPTH} levels; send a flat JSON object.")
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        raise InputError("The request body is not valid JSON; send a JSON object.") from None
    if not isinstance(body, dict):
        raise InputError("The request body must be a JSON object.")
    if _has_surrogate(body):
        raise InputError(
            "The request holds a lone UTF-16 surrogate (an escape like \\ud800 with no pair), "
            "which is not text; send valid UTF-8."
        )
    return body


def check_text(message: str, what: str = "message", limit: int = MAX_MESSAGE_CHARS) -> str:
    """``message`` if it is text a turn can take; :class:`InputError` (or :class:`TooLarge`) otherwise."""
    if _SURROGATE_RE.search(message):
        raise InputError(
            f"The {what} holds something that is not text (invalid UTF-8 or a lone UTF-16 surrogate); send valid UTF-8."
        )
    if "\x00" in message:
        raise InputError(f"The {what} holds a NUL character; send plain text.")
    if len(message) > limit:
        raise TooLarge(f"The {what} is {len(message):,} characters long; send at most {limit:,} at a time.")
    return message


@dataclass
class _Entry:
    fingerprint: str
    task: asyncio.Future[Any]
    at: float


class IdempotentTurns:
    """Turns keyed by ``(operator, Idempotency-Key)``: the first request runs, every retry gets its answer.

    The key is bound to the turn's task, not to the HTTP request: a client that hangs up and retries waits for
    the same turn (which goes on without it) instead of starting another.  Kept in the daemon's memory for
    :data:`IDEMPOTENCY_TTL` (at most 10,000 keys, oldest dropped first).  A key sent again with a different
    body is refused (:class:`IdempotencyConflict`): it would otherwise answer a question that was not asked.
    """

    def __init__(self, ttl: float = IDEMPOTENCY_TTL, max_keys: int = _MAX_KEYS) -> None:
        self.ttl = ttl
        self.max_keys = max_keys
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    @staticmethod
    def valid_key(header: str) -> str:
        key = header.strip()
        if not _KEY_RE.fullmatch(key):
            raise InputError("The Idempotency-Key header must be 1 to 200 visible ASCII characters, e.g. a UUID.")
        return key

    def _expire(self, now: float) -> None:
        while self._entries:
            first = next(iter(self._entries.values()))
            if now - first.at < self.ttl and len(self._entries) < self.max_keys:
                break
            self._entries.popitem(last=False)

    def start(
        self, operator_id: str, key: str, body: dict[str, Any], turn: Callable[[], asyncio.Future[Any]]
    ) -> tuple[asyncio.Future[Any], bool]:
        """The task answering this request (started by ``turn()`` only the first time), and whether it is a replay."""
        fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
        now = time.monotonic()
        self._expire(now)
        slot = (operator_id, key)
        entry = self._entries.get(slot)
        if entry is not None:
            if entry.fingerprint != fingerprint:
                raise IdempotencyConflict(
                    "This Idempotency-Key was already used for a different request; use a new key for a new request."
                )
            return entry.task, True
        task = turn()
        self._entries[slot] = _Entry(fingerprint, task, now)

        def forget_if_cancelled(done: asyncio.Future[Any]) -> None:
            # A turn cancelled (engine shutting down) gave no answer: a retry may run it.
            if done.cancelled() and self._entries.get(slot) is not None and self._entries[slot].task is done:
                del self._entries[slot]

        task.add_done_callback(forget_if_cancelled)
        return task, False
