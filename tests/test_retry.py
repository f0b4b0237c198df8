"""Retry policies are data; tenacity computes the waits the hand-written loops used to."""

from __future__ import annotations

import pytest

from engine.api._remote import ENGINE_LINK
from engine.providers._http import RetryPolicy
from engine.retry import Backoff
from engine.webhooks import MAX_ATTEMPTS, WEBHOOK_RETRY


def test_waits_double_up_to_the_cap() -> None:
    assert [round(d, 6) for d, _ in zip(ENGINE_LINK.delays(), range(7), strict=False)] == [
        0.2,
        0.4,
        0.8,
        1.6,
        2.0,
        2.0,
        2.0,
    ]
    assert list(WEBHOOK_RETRY.delays()) == [30.0 * 2**n for n in range(MAX_ATTEMPTS - 1)]


def test_provider_jitter_stays_within_its_bound() -> None:
    policy = RetryPolicy(initial=0.5, maximum=4.0, jitter=0.5)
    for failed, base in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)):
        wait = policy.backoff().wait(failed)
        assert base <= wait <= base + 0.5
    assert policy.backoff(purchase=True).attempts == policy.purchase_attempts


async def test_retrying_retries_only_the_listed_errors() -> None:
    policy = Backoff(initial=0.0, maximum=0.0, attempts=3, retry_on=(ConnectionError,))
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("down")
        return "up"

    async for attempt in policy.retrying():
        with attempt:
            assert await flaky() == "up"
    assert len(calls) == 3

    with pytest.raises(ValueError):
        async for attempt in policy.retrying():
            with attempt:
                raise ValueError("not a network error")


class _Clock:
    """The waits a policy asked for, without waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_channel_policy_honours_retry_after_caps_it_and_backs_off_otherwise() -> None:
    from engine.channels import CHANNEL_RETRY, ChannelError
    from engine.channels import RetryPolicy as ChannelRetry

    assert set(CHANNEL_RETRY) == {"telegram", "whatsapp"}  # one policy per service, as data
    clock = _Clock()
    policy = ChannelRetry(attempts=4, base_delay_s=0.5, max_wait_s=30.0, sleep=clock)
    failures = [
        ChannelError("flood", status=429, retryable=True, retry_after=7),
        ChannelError("flood", status=429, retryable=True, retry_after=3600),  # hostile: capped
        ChannelError("server error", status=502, retryable=True),
    ]

    async def once() -> str:
        if failures:
            raise failures.pop(0)
        return "sent"

    assert await policy.run(once, lambda last: f"gave up: {last}") == "sent"
    assert clock.waits[:2] == [7.0, 30.0]
    assert 2.0 <= clock.waits[2] <= 2.5  # third failure: 0.5 · 2² plus at most 0.5 of jitter


async def test_channel_policy_stops_at_once_on_a_refusal_and_says_when_it_gave_up() -> None:
    from engine.channels import ChannelError
    from engine.channels import RetryPolicy as ChannelRetry

    clock = _Clock()
    policy = ChannelRetry(attempts=3, base_delay_s=0.0, sleep=clock)
    tries: list[int] = []

    async def refused() -> None:
        tries.append(1)
        raise ChannelError("Telegram refused sendMessage: chat not found.", status=400)

    with pytest.raises(ChannelError, match="chat not found") as no:
        await policy.run(refused, lambda last: "unused")
    assert len(tries) == 1 and clock.waits == [] and not no.value.retryable

    async def down() -> None:
        tries.append(1)
        raise ChannelError("Telegram is unreachable (ConnectError).", retryable=True)

    with pytest.raises(ChannelError) as out:
        await policy.run(down, lambda last: f"{str(last).rstrip('.')} (gave up after {policy.attempts} attempts).")
    assert str(out.value) == "Telegram is unreachable (ConnectError) (gave up after 3 attempts)."
    assert out.value.retryable and len(tries) == 4 and len(clock.waits) == 2
