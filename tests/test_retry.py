"""Retry policies are data; tenacity computes the waits the hand-written loops used to."""

from __future__ import annotations

import pytest

from engine.api._remote import ENGINE_LINK
from engine.providers._http import RetryPolicy
from engine.retry import Backoff
from engine.webhooks import MAX_ATTEMPTS, WEBHOOK_RETRY


def test_waits_double_up_to_the_cap() -> None:
    assert [round(d, 6) for d, _ in zip(ENGINE_LINK.delays(), range(7), strict=False)] == [
        0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]
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
