"""Failed logins are throttled: per peer, per key prefix, per chat identity and per channel; audited once a burst.

The clock is injected (a list the test moves forward), so nothing here waits or measures time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine.api._server import create_app
from engine.policy import Caller
from engine.runtime import Engine
from engine.trust import (
    AuthenticationError,
    LoginThrottle,
    TooManyAttempts,
    authenticate,
    link_identity,
    query,
    refusal_auditor,
    resolve_identity,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def throttle(clock: Clock) -> LoginThrottle:
    # 5 failures, then one more every 10 s; a channel takes 8, then one a second.
    return LoginThrottle(hard=(5, 0.1), soft=(5, 0.1), channel=(8, 1.0), clock=clock)


@pytest.fixture
def engine(clawops_home: Path) -> Iterator[Engine]:
    eng = Engine.open(demo_pairs=10, demo_providers="sim")
    yield eng
    eng.close()


def _owner(engine: Engine) -> Caller:
    return engine.caller("owner")


def _actions(engine: Engine, action: str) -> int:
    return len(query(engine.store, action=action, limit=1000))


def _wrong(key: str) -> str:
    return key[:-1] + ("A" if key[-1] != "A" else "B")


# ------------------------------------------------------------------------------------------- the buckets
def test_a_bucket_allows_a_burst_then_refuses_until_it_refills(throttle: LoginThrottle, clock: Clock) -> None:
    for _ in range(5):
        assert throttle.check("hard", "10.0.0.9") is None
        throttle.failed("hard", "10.0.0.9")
    first = throttle.check("hard", "10.0.0.9")
    assert first is not None and first.first and first.bucket == "hard:10.0.0.9"
    assert first.retry_after == pytest.approx(10.0)
    again = throttle.check("hard", "10.0.0.9")
    assert again is not None and not again.first  # the same burst: counted, not announced again
    assert throttle.check("hard", "10.0.0.10") is None  # another source is untouched
    clock.now += 10.0
    assert throttle.check("hard", "10.0.0.9") is None
    throttle.failed("hard", "10.0.0.9")
    nxt = throttle.check("hard", "10.0.0.9")
    assert nxt is not None and nxt.first and nxt.previous_suppressed == 1


def test_buckets_are_bounded(clock: Clock) -> None:
    small = LoginThrottle(max_buckets=50, clock=clock)
    for n in range(500):
        small.failed("hard", f"10.0.{n // 256}.{n % 256}")
        small.failed("soft", f"{n:08x}")
    assert len(small) == 100


# ------------------------------------------------------------------------------------------- API keys
def test_a_peer_that_keeps_failing_is_throttled_and_audited_once_but_a_right_key_still_gets_in(
    engine: Engine, throttle: LoginThrottle, clock: Clock
) -> None:
    good = engine.trust.issue_key(_owner(engine), "owner")
    pepper = engine.trust.pepper()
    for n in range(5):
        with pytest.raises(AuthenticationError) as raised:
            authenticate(engine.store, f"cok_{n:08x}_{'x' * 43}", pepper, source="203.0.113.7", throttle=throttle)
        assert not isinstance(raised.value, TooManyAttempts)
    for n in range(20):  # more wrong keys from the same peer: throttled, audited once for the burst
        with pytest.raises(TooManyAttempts) as raised:
            authenticate(engine.store, f"cok_{n + 100:08x}_{'x' * 43}", pepper, source="203.0.113.7", throttle=throttle)
    assert "Too many failed logins from this address" in str(raised.value) and "try again in 10 s" in str(raised.value)
    assert _actions(engine, "login.failed") == 5 and _actions(engine, "login.throttled") == 1
    (entry,) = query(engine.store, action="login.throttled")
    assert entry.target == "hard:api:203.0.113.7" and entry.detail["retry_after_s"] == 10
    # The owner's right key, from that very peer, is never locked out by somebody else's bad keys.
    assert authenticate(engine.store, good.key, pepper, source="203.0.113.7", throttle=throttle).name == "owner"
    assert authenticate(engine.store, good.key, pepper, source="198.51.100.1", throttle=throttle).name == "owner"
    clock.now += 10
    assert authenticate(engine.store, good.key, pepper, source="203.0.113.7", throttle=throttle).name == "owner"
    logins = [e for e in query(engine.store, action="login", limit=100) if e.action == "login"]
    assert [e.detail["source"] for e in logins] == ["203.0.113.7"]  # one entry per session, not per request


def test_guessing_at_one_key_never_locks_its_owner_out(engine: Engine, throttle: LoginThrottle) -> None:
    good = engine.trust.issue_key(_owner(engine), "owner")
    pepper = engine.trust.pepper()
    for n in range(30):  # from 30 different peers, so only the prefix bucket sees them all
        with pytest.raises(AuthenticationError):
            authenticate(engine.store, _wrong(good.key), pepper, source=f"198.51.100.{n}", throttle=throttle)
    assert _actions(engine, "login.failed") == 5  # the rest were refused without an entry each
    throttled = query(engine.store, action="login.throttled")
    assert [e.target for e in throttled] == [f"soft:{good.prefix}"]
    with pytest.raises(TooManyAttempts, match=f"key prefix {good.prefix}"):
        authenticate(engine.store, _wrong(good.key), pepper, source="192.0.2.1", throttle=throttle)
    assert authenticate(engine.store, good.key, pepper, source="192.0.2.2", throttle=throttle).name == "owner"


def test_the_engines_own_check_throttles_without_a_source_by_prefix(
    engine: Engine, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen = LoginThrottle(clock=clock)  # the default limits, on a clock that does not move
    monkeypatch.setattr(engine.trust, "throttle", frozen)
    good = engine.trust.issue_key(_owner(engine), "owner")
    for _ in range(10):
        with pytest.raises(AuthenticationError):
            engine.trust.authenticate(_wrong(good.key))
    with pytest.raises(TooManyAttempts):
        engine.trust.authenticate(_wrong(good.key))
    assert engine.trust.authenticate(good.key).name == "owner"


# ------------------------------------------------------------------------------------------- chat identities
def test_a_forged_identity_tried_again_and_again_is_throttled(engine: Engine, throttle: LoginThrottle) -> None:
    link_identity(engine.store, _owner(engine), "owner", "telegram", "123456789")
    for _ in range(5):
        with pytest.raises(AuthenticationError) as raised:
            resolve_identity(engine.store, "telegram", "987654321", throttle=throttle)
        assert not isinstance(raised.value, TooManyAttempts)
    for _ in range(10):
        with pytest.raises(TooManyAttempts, match="telegram sender 987654321"):
            resolve_identity(engine.store, "telegram", "987654321", throttle=throttle)
    assert _actions(engine, "login.failed") == 5 and _actions(engine, "login.throttled") == 1
    assert resolve_identity(engine.store, "telegram", "123456789", throttle=throttle).name == "owner"


def test_a_flood_of_unknown_senders_stops_filling_the_log_but_operators_get_through(
    engine: Engine, throttle: LoginThrottle
) -> None:
    link_identity(engine.store, _owner(engine), "owner", "whatsapp", "+491701234567")
    throttled = 0
    for n in range(40):
        with pytest.raises(AuthenticationError) as raised:
            resolve_identity(engine.store, "whatsapp", f"+4917099{n:05d}", throttle=throttle)
        throttled += isinstance(raised.value, TooManyAttempts)
    assert throttled == 40 - 8
    assert _actions(engine, "login.failed") == 8 and _actions(engine, "login.throttled") == 1
    assert resolve_identity(engine.store, "whatsapp", "491701234567", throttle=throttle).name == "owner"


async def test_the_chat_adapters_refusals_are_audited_and_throttled(engine: Engine, throttle: LoginThrottle) -> None:
    """Telegram drops unknown senders before any turn: the trust hook audits them, one burst at a time."""
    from engine.channels.telegram import TelegramChannel

    async def never(inbound: object) -> None:  # pragma: no cover - no known sender writes here
        raise AssertionError("an unknown sender reached the conversation")

    bot = TelegramChannel(
        cast(Any, None), never, {"123456789": "owner"}, audit=refusal_auditor(engine.store, throttle=throttle)
    )
    for n in range(12):
        await bot.handle_update(
            {
                "update_id": n,
                "message": {"message_id": n, "from": {"id": 666}, "chat": {"id": 666}, "text": "I am the owner, go"},
            }
        )
    failed = query(engine.store, action="login.failed", limit=100)
    assert len(failed) == 5 and {e.target for e in failed} == {"telegram:666"}
    assert {e.detail["reason"] for e in failed} == {"unknown_sender"}
    (burst,) = query(engine.store, action="login.throttled")
    assert burst.target == "hard:telegram:666"


# ------------------------------------------------------------------------------------------- the daemon
async def test_the_daemon_answers_429_with_retry_after_and_audits_logins(
    engine: Engine, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen = LoginThrottle(clock=clock)  # the default limits, on a clock that does not move
    monkeypatch.setattr(engine.trust, "throttle", frozen)
    good = engine.trust.issue_key(_owner(engine), "owner")
    client = TestClient(TestServer(create_app(engine)))
    await client.start_server()
    try:
        ok = await client.get("/v1/whoami", headers={"Authorization": f"Bearer {good.key}"})
        assert ok.status == 200 and (await ok.json())["operator"] == "owner"
        statuses = []
        for n in range(11):
            resp = await client.get("/v1/whoami", headers={"Authorization": f"Bearer cok_{n:08x}_{'y' * 43}"})
            statuses.append(resp.status)
        assert statuses == [401] * 10 + [429]
        assert int(resp.headers["Retry-After"]) >= 1
        body = await resp.json()
        assert body["error"].startswith("Too many failed logins from this address; try again in ")
        still = await client.get("/v1/whoami", headers={"Authorization": f"Bearer {good.key}"})
        assert still.status == 200  # the owner's right key is never locked out by the bad ones
    finally:
        await client.close()
    (login,) = [e for e in query(engine.store, action="login", limit=100) if e.action == "login"]
    assert login.actor == "owner" and login.channel == "api" and login.detail["source"] == "127.0.0.1"
    failed = query(engine.store, action="login.failed", limit=100)
    assert len(failed) == 10 and {e.detail["source"] for e in failed} == {"127.0.0.1"}
    assert {e.detail["reason"] for e in failed} == {"unknown key"}
    assert _actions(engine, "login.throttled") == 1
