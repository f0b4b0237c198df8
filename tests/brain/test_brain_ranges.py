"""Account ranges ("acct-001 through acct-010") name every account in between, never just the two ends."""

from __future__ import annotations

import re

import pytest

from engine.brain._lexicon import MAX_ACCOUNT_RANGE, prepare


@pytest.mark.parametrize(
    ("said", "first", "last"),
    [
        ("tear down acct-001 through acct-010", 1, 10),
        ("restart accounts 5 to 8", 5, 8),
        ("failover acct-020..acct-024", 20, 24),
        ("resize acct-100 - 105 to performance", 100, 105),
    ],
)
def test_a_range_names_every_account_in_it(said: str, first: int, last: int) -> None:
    ids = re.findall(r"acct-\d+", prepare(said).text)
    assert ids == [f"acct-{n:03d}" for n in range(first, last + 1)]


@pytest.mark.parametrize("said", ["acct-010 to acct-003", f"acct-001 to acct-{MAX_ACCOUNT_RANGE + 5}"])
def test_a_backwards_or_huge_range_is_left_as_said(said: str) -> None:
    assert len(re.findall(r"acct-\d+", prepare(said).text)) == 2


def test_a_move_to_somewhere_is_not_a_range() -> None:
    assert prepare("move acct-001 to performance").text == "move acct-001 to performance"
