"""Exposure to a provider region: the numbers behind "what's our exposure?"."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from engine.guardian import FAILED_OVER_PREFIX, HealthReport, exposure, sweep
from engine.store import Account, Instance, Store, Tenant, open_store

R = "eu-hetzner-nbg1"
ELSEWHERE = "us-vultr-ewr"


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    st = open_store(sqlite_url)
    rows = [
        # account, role, region, state, score, reason
        ("a1", "primary", R, "ACTIVE", 95, ""),
        ("a1", "standby", ELSEWHERE, "ACTIVE", 95, ""),
        ("a2", "primary", R, "DEGRADED", 55, "55: gateway latency 2.4 s"),
        ("a2", "standby", ELSEWHERE, "ACTIVE", 90, ""),
        ("a3", "primary", R, "FAILED", 0, "0: unreachable for 3 sweeps (15 min)"),
        ("a3", "standby", ELSEWHERE, "DEGRADED", 60, ""),
        ("a4", "standby", R, "FAILED", 0, f"{FAILED_OVER_PREFIX}; replace or tear down"),
        ("a4", "primary", ELSEWHERE, "ACTIVE", 95, ""),
        ("a4", "standby", "eu-digitalocean-fra1", "REQUESTED", None, ""),
        ("a5", "primary", ELSEWHERE, "ACTIVE", 95, ""),
        ("a5", "standby", R, "ACTIVE", 92, ""),
        ("b1", "primary", ELSEWHERE, "ACTIVE", 95, ""),
        ("b1", "standby", R, "FAILED", 0, "0: unreachable"),
    ]
    with st.session() as s:
        s.add(Tenant(id="t-a", name="A"))
        s.add(Tenant(id="t-b", name="B"))
        s.flush()
        for acct in sorted({r[0] for r in rows}):
            s.add(Account(id=acct, tenant_id="t-b" if acct.startswith("b") else "t-a"))
        s.flush()
        for n, (acct, role, region, state, score, reason) in enumerate(rows):
            s.add(
                Instance(
                    id=f"i-{acct}-{n}",
                    account_id=acct,
                    tenant_id="t-b" if acct.startswith("b") else "t-a",
                    role=role,
                    provider=region.split("-")[1],
                    region=region,
                    tier="standard",
                    state=state,
                    health_score=score,
                    health_reason=reason,
                )
            )
    yield st
    st.dispose()


def test_exposure_of_a_region(store: Store) -> None:
    with store.session() as s:
        e = exposure(s, provider="hetzner", region=R)
    assert (e.primaries, e.standbys, e.users) == (3, 1, 6)
    assert (e.unhealthy_primaries, e.can_fail_over, e.no_healthy_standby) == (2, 1, 1)
    assert e.failed_over == 1  # a4; b1's standby merely failed
    assert (e.without_gateway, e.without_gateway_accounts) == (1, ("a3",))
    assert (e.failed, e.standbys_lost) == (3, 1)  # a3's primary, a4's old primary, b1's standby; b1 lost its fallback
    assert e.describe() == (
        f"{R}: 3 primaries and 1 standbys (6 users); 2 primaries unhealthy; 1 already failed over; "
        "1 standbys lost (those users have no fallback); 1 can fail over now; "
        "1 have no healthy standby; 1 users without an active gateway."
    )
    assert e.to_dict()["without_gateway_accounts"] == ["a3"]


def test_exposure_is_tenant_scoped_and_empty_when_nothing_is_there(store: Store) -> None:
    with store.session() as s:
        assert exposure(s, region=R, tenant_id="t-b").users == 1
        assert exposure(s, region=R, tenant_id="t-a").users == 5
        none = exposure(s, region="ap-vultr-sgp")
    assert none.users == 0 and "0 users without an active gateway" in none.describe()


def test_the_sweep_keeps_the_reason_a_failed_instance_failed(store: Store) -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    old = "i-a4-6"
    with store.session() as s:  # everyone else reported a minute ago: nothing to score for them
        s.execute(update(Instance).values(last_report_at=now - timedelta(minutes=1)))
    report = HealthReport(old, now - timedelta(seconds=5), account_id="a4", gateway_up=True, docker_running=True)
    sweep(store, {old: report}, now)
    with store.session() as s:
        inst = s.get(Instance, old)
        assert inst is not None and inst.state == "FAILED"
        assert inst.health_reason.startswith(FAILED_OVER_PREFIX) and inst.health_score == 100
        assert exposure(s, region=R).failed_over == 1


def test_one_formula_per_region_and_per_provider(store: Store) -> None:
    """provider_health's per-region and per-provider numbers are exposure() itself, read once."""
    from engine.guardian import exposure_by_region

    with store.session() as s:
        regions, providers = exposure_by_region(s)
        assert set(regions) == {R, ELSEWHERE, "eu-digitalocean-fra1"}
        for name, e in regions.items():
            assert e == exposure(s, region=name)
        assert providers["hetzner"] == exposure(s, provider="hetzner")
        assert providers["vultr"] == exposure(s, provider="vultr")
        scoped_regions, _ = exposure_by_region(s, region=R, tenant_id="t-b")
        assert list(scoped_regions) == [R] and scoped_regions[R] == exposure(s, region=R, tenant_id="t-b")
