"""The briefing greets the operator for the time of day where they are ("brief me now" comes at any hour)."""

from __future__ import annotations

import pytest

from engine.briefer._compose import greeting


@pytest.mark.parametrize(
    ("hour", "said"),
    [
        (6, "Good morning"),
        (11, "Good morning"),
        (13, "Good afternoon"),
        (19, "Good evening"),
        (23, "Good evening"),
        (2, "Good evening"),
    ],
)
def test_the_greeting_follows_the_operators_clock(hour: int, said: str) -> None:
    assert greeting(hour) == said
