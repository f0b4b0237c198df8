"""The redactor: known values in any encoding, API-key shapes, nested results, and every log record."""

from __future__ import annotations

import base64
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.trust import MASK, RedactingFilter, Redactor, install_log_redaction

CANARY = "canary-7Hq2-Zx9p/Wv+Lm=3"
KEY = "cok_0a1b2c3d_" + "Zq3_x-Y" * 6


def test_values_are_masked_in_their_common_encodings() -> None:
    red = Redactor([CANARY])
    for text in (
        f"token={CANARY}",
        json.dumps({"t": CANARY}),
        f"https://x/?t={quote(CANARY, safe='')}",
        base64.b64encode(CANARY.encode()).decode(),
    ):
        out = red.scrub(text)
        assert CANARY not in out and MASK in out, text
    assert red.scrub("nothing here") == "nothing here"


def test_api_keys_are_masked_by_shape_even_when_unknown() -> None:
    assert Redactor().scrub(f"Authorization: Bearer {KEY} ok") == f"Authorization: Bearer {MASK} ok"


def test_short_values_are_not_registered_and_longest_wins() -> None:
    red = Redactor(["abc", "secret-one", "secret-one-longer"])
    assert red.scrub("abc") == "abc"
    assert red.scrub("x secret-one-longer y") == f"x {MASK} y"


@dataclass(frozen=True)
class Inner:
    note: str


@dataclass
class Outer:
    reply: str
    calls: list[dict[str, object]] = field(default_factory=list)
    inner: Inner | None = None


def test_nested_results_are_scrubbed_without_mutating_the_original() -> None:
    red = Redactor([CANARY])
    original = Outer(f"r {CANARY}", [{"args": {"t": CANARY}, "n": 1, CANARY: (CANARY,)}], Inner(CANARY))
    clean = red.scrub_value(original)
    assert CANARY not in repr(clean) and CANARY in repr(original)
    assert clean.calls[0]["n"] == 1 and isinstance(clean.inner, Inner)


def test_logging_filter_and_global_install() -> None:
    red = Redactor([CANARY])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(red))
    log = logging.getLogger("clawops.test.redact")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        log.warning("provider said %s", CANARY)
        try:
            raise RuntimeError(f"bad token {CANARY}")
        except RuntimeError:
            log.exception("call failed with %r", {"token": CANARY})
    finally:
        log.removeHandler(handler)
    assert CANARY not in stream.getvalue() and stream.getvalue().count(MASK) >= 3

    undo = install_log_redaction(red)  # records are clean from birth, for handlers added later too
    later = io.StringIO()
    child = logging.getLogger("clawops.test.redact.child")
    late_handler = logging.StreamHandler(later)
    child.addHandler(late_handler)
    try:
        child.error("leaking %s and %s", CANARY, KEY)
    finally:
        child.removeHandler(late_handler)
        undo()
    assert CANARY not in later.getvalue() and KEY not in later.getvalue()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(alphabet="abcdefXYZ0123-_/+", min_size=6, max_size=14), min_size=1, max_size=6, unique=True),
    st.lists(st.text(alphabet="abcdefXYZ0123 -_/+=", max_size=12), min_size=1, max_size=8),
)
def test_many_secrets_scan_masks_like_the_regex(values: list[str], fillers: list[str]) -> None:
    small = Redactor(values)
    big = Redactor(values)
    for i in range(80):  # push the big one past the regex limit with unrelated values
        big.add(f"unrelated-padding-{i:04d}")
    text = "".join(f + values[i % len(values)] for i, f in enumerate(fillers))
    for red in (small, big):
        out = red.scrub(text)
        assert MASK in out
        assert not any(v in out.replace(MASK, "\x00") for v in values if len(v) >= 6 and "\x00" not in v)


def test_credentials_in_the_engines_environment_are_masked_from_the_start(tmp_path: Path, sqlite_url: str) -> None:
    from engine.store import open_store
    from engine.trust import Trust

    environ = {
        "CLAWOPS_HETZNER_TOKEN": "hz-env-token-5f4e3d2c1b",
        "CLAWOPS_CONTABO_PASSWORD": "contabo-pw-77",
        "CLAWOPS_DATABASE_URL": "postgresql://ops:db%40pass-991@db.internal/clawops",
        "CLAWOPS_API_HOST": "127.0.0.1",  # not a credential
        "POSTGRES_PASSWORD": "postgres",  # not the engine's: left alone
    }
    red = Redactor()
    store = open_store(sqlite_url)
    Trust(store, tmp_path, environ=environ, redactor=red)
    text = (
        "vendor said: bad token hz-env-token-5f4e3d2c1b; login contabo-pw-77 failed; "
        "db db@pass-991 refused; listening on 127.0.0.1; postgres is up"
    )
    assert red.scrub(text) == (
        f"vendor said: bad token {MASK}; login {MASK} failed; db {MASK} refused; listening on 127.0.0.1; postgres is up"
    )
    store.dispose()
