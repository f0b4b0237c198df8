"""Domain: the transition table, regions, the catalog and selectors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.domain import (
    PLANS,
    REGIONS,
    TRANSITIONS,
    InstanceState,
    Provider,
    Selector,
    Tier,
    can_transition,
    check_transition,
    parse_region,
    plan_for,
)
from engine.errors import IllegalTransition, InputError

S = InstanceState


def test_states_are_exactly_the_contract() -> None:
    assert [s.value for s in S] == [
        "REQUESTED",
        "CREATING",
        "BOOTSTRAPPING",
        "ACTIVE",
        "DEGRADED",
        "HEALING",
        "FAILED",
        "STANDBY_PROMOTING",
        "DRAINING",
        "ARCHIVING",
        "DELETED",
        "ERROR",
    ]
    assert set(TRANSITIONS) == set(S)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (S.REQUESTED, S.CREATING),
        (S.CREATING, S.BOOTSTRAPPING),
        (S.BOOTSTRAPPING, S.ACTIVE),
        (S.ACTIVE, S.DEGRADED),
        (S.DEGRADED, S.HEALING),
        (S.HEALING, S.ACTIVE),
        (S.ACTIVE, S.STANDBY_PROMOTING),
        (S.STANDBY_PROMOTING, S.ACTIVE),
        (S.ACTIVE, S.FAILED),
        (S.FAILED, S.ARCHIVING),
        (S.ARCHIVING, S.DELETED),
    ],
)
def test_lifecycle_and_failover_moves_are_legal(start: InstanceState, end: InstanceState) -> None:
    check_transition(start, end)


@pytest.mark.parametrize(
    ("start", "end"),
    [(S.DELETED, S.ACTIVE), (S.REQUESTED, S.ACTIVE), (S.ARCHIVING, S.ACTIVE), (S.STANDBY_PROMOTING, S.DEGRADED)],
)
def test_impossible_moves_raise_with_the_allowed_ones(start: InstanceState, end: InstanceState) -> None:
    with pytest.raises(IllegalTransition, match=f"cannot go from {start} to {end}"):
        check_transition(start, end)


@given(st.lists(st.sampled_from(list(S)), min_size=1, max_size=30))
def test_random_walks_only_follow_the_table(path: list[InstanceState]) -> None:
    """Any sequence of moves either follows the table at every step or raises at the first bad one."""
    current = S.REQUESTED
    for nxt in path:
        if can_transition(current, nxt):
            check_transition(current, nxt)
            current = nxt
        else:
            with pytest.raises(IllegalTransition):
                check_transition(current, nxt)
    assert current == S.REQUESTED or current in {t for ts in TRANSITIONS.values() for t in ts}


def test_deleted_is_terminal() -> None:
    assert TRANSITIONS[S.DELETED] == frozenset()


def test_regions_follow_the_naming_contract() -> None:
    for name, region in REGIONS.items():
        geo, provider, location = name.split("-", 2)
        assert (geo, provider, location) == (region.geo.value, region.provider.value, region.location)
    assert parse_region("EU-Hetzner-NBG1").city == "Nuremberg"
    with pytest.raises(InputError, match="not a region name"):
        parse_region("nuremberg")
    with pytest.raises(InputError, match="Unknown region"):
        parse_region("eu-hetzner-xyz9")


def test_catalog_covers_every_provider_and_tier() -> None:
    for provider in Provider:
        for tier in Tier:
            plan = plan_for(provider, tier)
            assert plan.monthly > 0 and plan.currency in ("EUR", "USD")
    assert len(PLANS) == len(Provider) * len(Tier)
    assert plan_for(Provider.CONTABO, Tier.STANDARD).hourly is None  # monthly contracts only


def test_selector_parse_is_strict_and_round_trips() -> None:
    sel = Selector.parse({"provider": "Vultr", "state": "degraded", "accounts": ["ACCT-042"]})
    assert sel.provider == Provider.VULTR and sel.state == S.DEGRADED and sel.accounts == ("acct-042",)
    assert Selector.parse(sel.to_dict()) == sel
    assert sel.describe() == "DEGRADED instances of acct-042 on vultr"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"provder": "vultr"}, "Selector key 'provder' is not known"),
        ({"provider": "aws"}, "Selector provider 'aws' is not valid"),
        ({"state": "sleepy"}, "Selector state 'sleepy' is not valid"),
        ({"accounts": ["bob"]}, "'bob' is not a valid id"),
        ({"region": "eu-mars-1"}, "not a known region"),
        ({"finding": "cheap"}, "finding 'cheap' is not known"),
        ("vultr", "must be an object"),
    ],
)
def test_malformed_selectors_say_what_is_wrong(raw: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Selector.parse(raw)  # type: ignore[arg-type]  # malformed on purpose: the parser's refusals are tested
