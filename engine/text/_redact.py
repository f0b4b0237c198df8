"""The redaction layer: no secret value or API key leaves the engine in any text.

A :class:`Redactor` knows every secret value the process has seen (the secret
store registers each value it stores or decrypts; settings' ``SecretStr``
fields are added at open) and scrubs them, plus anything *shaped* like a
ClawOps API key, out of any string or nested structure: log records (through
:class:`RedactingFilter` or :func:`install_log_redaction`), transcripts, tool
results, prompts, reports and error messages.

Why both values and a pattern: secret values are known (they are decrypted
here), but an API key is shown once and stored only as a hash, so the engine
cannot know it by value afterwards — its fixed ``cok_…`` shape is what gives it
away.  Values are also matched in their common encodings (JSON-escaped,
URL-quoted, base64) because a token pasted into a JSON tool result or a URL is
still the token.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from engine.text._normalize import normalize

__all__ = [
    "API_KEY_PATTERN",
    "MASK",
    "MIN_SECRET_LENGTH",
    "RedactingFilter",
    "Redactor",
    "default_redactor",
    "install_log_redaction",
    "redact",
]

MASK = "[REDACTED]"
#: Values shorter than this are not scrubbed (masking every "abc" would destroy text and hint at the value).
MIN_SECRET_LENGTH = 6
#: Up to this many value spellings a regex alternation is fastest; past it, a prefix-indexed scan is.
_REGEX_LIMIT = 64
#: Up to this many (ASCII) values, a text is first searched for each lower-cased value as a plain substring.
_PROBE_LIMIT = 256
_API_KEY_PREFIX = "cok_"
API_KEY_PATTERN = re.compile(re.escape(_API_KEY_PREFIX) + r"[0-9a-f]{8}_[A-Za-z0-9_\-]{16,}", re.IGNORECASE)
_ASCII_TWINS = ("\u0130", "\u0131", "\u017f", "\u212a")
"""The only non-ASCII characters a case-blind pattern matches to an ASCII letter (İ and ı to i, ſ to s, the Kelvin
sign to k).  Without them, a text lower-cased keeps its length and holds an ASCII value lower-cased exactly where the
case-blind pattern would find the value."""


def _variants(value: str) -> set[str]:
    out = {value, json.dumps(value, ensure_ascii=False)[1:-1], json.dumps(value)[1:-1], quote(value, safe="")}
    raw = value.encode()
    for enc in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = enc.decode().rstrip("=")
        if len(text) >= 8:
            out.add(text)
    return {v for v in out if len(v) >= MIN_SECRET_LENGTH}


class Redactor:
    """Scrubs known secret values and API-key-shaped tokens from text; thread-safe."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._index: dict[str, list[str]] | None = None
        self._probe: tuple[str, ...] | None = None
        self._probe_ready = False
        self.generation = 0
        """Changes whenever the set of secret values does: a scrubbed copy made at one generation is still
        scrubbed while the generation is the same (what a caller may cache)."""
        for value in values:
            self.add(value)

    def add(self, value: str | None) -> None:
        """Remember one secret value (and its encodings); short or empty values are ignored."""
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        new = _variants(value) - self._values
        if new:
            with self._lock:
                self._values |= new
                self._pattern = self._index = None
                self._probe_ready = False
                self.generation += 1

    def discard(self, value: str) -> None:
        """Forget a value (a deleted secret); its text no longer needs hiding from *new* output."""
        with self._lock:
            self._values -= _variants(value)
            self._pattern = self._index = None
            self._probe_ready = False
            self.generation += 1

    def __len__(self) -> int:
        return len(self._values)

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._values:
                # Longest first, so a value that contains another is masked whole.
                alternatives = "|".join(re.escape(v) for v in sorted(self._values, key=len, reverse=True))
                self._pattern = re.compile(alternatives, re.IGNORECASE)
            return self._pattern

    def _prefix_index(self) -> dict[str, list[str]]:
        with self._lock:
            if self._index is None:
                index: dict[str, list[str]] = {}
                for v in sorted(self._values, key=len, reverse=True):
                    index.setdefault(v[:MIN_SECRET_LENGTH].lower(), []).append(v.lower())
                self._index = index
            return self._index

    def _probe_values(self) -> tuple[str, ...] | None:
        """The values lower-cased, when every one is ASCII and they are few enough to search for one by one."""
        with self._lock:
            if not self._probe_ready:
                values = self._values
                ascii_only = len(values) <= _PROBE_LIMIT and all(v.isascii() for v in values)
                self._probe = tuple(v.lower() for v in values) if ascii_only else None
                self._probe_ready = True
            return self._probe

    def _surely_clean(self, text: str) -> bool:
        """Whether ``text`` holds neither a known value nor an API key's prefix, found by plain substring search.

        Exactly what the case-blind patterns would find, ~20x cheaper: most text holds no secret, and a request's
        13-KB system prompt cost ~0.6 ms of regex a time, twice per request (raw and normal form).
        """
        probe = self._probe_values()
        if probe is None or not text.isascii() and any(twin in text for twin in _ASCII_TWINS):
            return False  # a non-ASCII value, or a look-alike only the patterns see through
        lowered = text.lower()
        return _API_KEY_PREFIX not in lowered and not any(v in lowered for v in probe)

    def _scan(self, text: str) -> str:
        """Linear in the text whatever the number of secrets (a regex alternation is not, past a few dozen)."""
        index = self._prefix_index()
        out: list[str] = []
        start = i = 0
        k = MIN_SECRET_LENGTH
        end = len(text) - k + 1
        while i < end:
            candidates = index.get(text[i : i + k].lower())
            if candidates is not None:
                hit = next((v for v in candidates if text[i : i + len(v)].lower() == v), None)
                if hit is not None:
                    out.append(text[start:i])
                    out.append(MASK)
                    i += len(hit)
                    start = i
                    continue
            i += 1
        out.append(text[start:])
        return "".join(out)

    def scrub(self, text: str) -> str:
        """``text`` with every known secret and every API key replaced by ``[REDACTED]``.

        Matching ignores letter case (a brain that lower-cases a message must not un-mask a secret in it) and
        sees through disguise: when the text's normal form (``engine.trust.normalize``: NFKC, zero-width and
        bidi characters removed) reveals a secret the raw text hides, the normal form is returned, masked.
        """
        if not text:
            return text
        if not text.isascii():
            plain = normalize(text)
            if plain != text:
                masked = self._scrub(plain)
                if masked != plain:
                    return masked
        return self._scrub(text)

    def scrub_text(self, text: str) -> str:
        """Like :meth:`scrub` but never rewrites the text's characters (only masks): for structured text such as
        JSON, where a normal form could change a quote character and break it."""
        return self._scrub(text) if text else text

    def _scrub(self, text: str) -> str:
        if self._surely_clean(text):
            return text
        if len(self._values) > _REGEX_LIMIT:
            text = self._scan(text)
        else:
            pattern = self._compiled()
            if pattern is not None:
                text = pattern.sub(MASK, text)
        return API_KEY_PATTERN.sub(MASK, text)

    def contains_secret(self, text: str) -> bool:
        return self.scrub(text) != text

    def scrub_value(self, value: Any) -> Any:
        """A copy of ``value`` (str, dict, list, tuple, dataclass) with every string scrubbed.

        Dataclasses are rebuilt with :func:`dataclasses.replace`, so frozen ones work too;
        other objects are returned unchanged.
        """
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {self.scrub_value(k): self.scrub_value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub_value(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.scrub_value(v) for v in value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes = {f.name: self.scrub_value(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
            return dataclasses.replace(value, **changes)
        return value


_DEFAULT = Redactor()


def default_redactor() -> Redactor:
    """The process-wide redactor the secret store feeds and the log filter uses."""
    return _DEFAULT


def redact(text: str) -> str:
    """Scrub ``text`` with the process-wide redactor."""
    return _DEFAULT.scrub(text)


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites each record's message (and traceback text) without secrets.

    Attach it to *handlers* (filters on a logger do not see records propagated
    from child loggers); :func:`install_log_redaction` does that for you.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor if redactor is not None else _DEFAULT

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record, self.redactor)
        return True


def scrub_record(record: logging.LogRecord, redactor: Redactor) -> None:
    """Format the record's message now, scrubbed, so no handler ever sees the raw arguments.

    Idempotent: scrubbing an already scrubbed record (by another redactor) only masks more.
    """
    try:
        message = record.getMessage()
    except Exception:  # a bad format string must not hide the record; keep its raw text
        message = str(record.msg)
    record.msg = redactor.scrub(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redactor.scrub(record.exc_text)
        record.exc_info = None
    if record.stack_info:
        record.stack_info = redactor.scrub(record.stack_info)


_active: list[Redactor] = []
_previous_factory: Callable[..., logging.LogRecord] | None = None


def _factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    assert _previous_factory is not None
    record = _previous_factory(*args, **kwargs)
    for red in list(_active):
        scrub_record(record, red)
    return record


def install_log_redaction(redactor: Redactor | None = None) -> Callable[[], None]:
    """Scrub every log record of the process, whatever logger or handler it goes through.

    Wraps the log-record factory (so records are clean from birth, even for
    handlers added later, e.g. by pytest) and adds a :class:`RedactingFilter` to the
    root logger's current handlers.  Installing the same redactor twice is a no-op;
    returns a function that undoes this call.
    """
    global _previous_factory
    red = redactor if redactor is not None else _DEFAULT
    added: list[tuple[logging.Handler, RedactingFilter]] = []
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) and f.redactor is red for f in handler.filters):
            filt = RedactingFilter(red)
            handler.addFilter(filt)
            added.append((handler, filt))
    joined = red not in _active
    if joined:
        _active.append(red)
    if _previous_factory is None:
        _previous_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_factory)

    def uninstall() -> None:
        global _previous_factory
        for handler, filt in added:
            handler.removeFilter(filt)
        if joined and red in _active:
            _active.remove(red)
        if not _active and _previous_factory is not None:
            logging.setLogRecordFactory(_previous_factory)
            _previous_factory = None

    return uninstall
