"""Placement of new pairs steers around outages, status-page incidents and full provider accounts, and says so."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, func, select

from engine.domain import REGIONS, Geo, Provider
from engine.errors import PolicyRefusal
from engine.operations._drafts import (
    PlacementHealth,
    placement,
    placement_health,
)
from engine.providers import ServerSpec
from engine.providers.errors import ProviderQuotaExceeded
from engine.runtime import Engine
from engine.store import Incident, Instance, PlanRecord

PAIRS = 30
EU_PROVISION = {"count": 6, "tier": "standard", "geo": "eu", "primary_provider": "hetzner"}


@pytest.fixture(autouse=True)
def health_only(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about health; Ledger's cost view (tested on its own below) is set aside for them."""
    if "ledger" not in request.node.name:
        monkeypatch.setattr("engine.operations._drafts.ledger_flags", lambda *args, **kwargs: {})


@pytest.fixture
def engine(clawops_home: Path) -> Iterator[Engine]:
    eng = Engine.open(demo_pairs=PAIRS, demo_providers="sim")
    yield eng
    eng.close()


async def _plan(engine: Engine, **args: Any) -> tuple[Any, PlanRecord | None]:
    """A provisioning plan, never run (dry run), and its stored record."""
    outcome = await engine.ops.call(engine.caller(), "provision_pairs", {**EU_PROVISION, **args}, dry_run=True)
    if outcome.plan is None:
        return outcome, None
    with engine.store.session() as s:
        return outcome, s.get(PlanRecord, outcome.plan.id)


def _open_incident(engine: Engine, region: str, *, confirmed: bool = True, instances: int = 40) -> None:
    """What Guardian's sweep records when a region fails (an incident row, shared by every engine)."""
    provider = region.split("-")[1]
    with engine.store.session() as s:
        s.add(
            Incident(
                id=f"inc-{region[-4:]}",
                key=f"incident:{region}",
                provider=provider,
                region=region,
                title=f"{region}: {instances} instances need attention",
                detail={"instances": instances, "confirmed": confirmed},
            )
        )


def test_a_region_with_an_open_incident_is_skipped_and_the_plan_says_why(engine: Engine) -> None:
    _open_incident(engine, "eu-hetzner-nbg1")
    outcome, rec = asyncio.run(_plan(engine))
    assert outcome.status == "planned" and rec is not None
    primaries = {step["primary_region"] for step in rec.steps}
    assert primaries == {"eu-hetzner-fsn1", "eu-hetzner-hel1"}  # round-robin over what is healthy
    assert (
        "Skipped as unhealthy or full: eu-hetzner-nbg1 (open incident inc-nbg1, 40 instances failing, "
        "confirmed by the hetzner status page)"
    ) in rec.summary


def test_an_explicitly_named_region_in_an_outage_is_refused_in_one_sentence(engine: Engine) -> None:
    _open_incident(engine, "eu-hetzner-nbg1", confirmed=False, instances=12)
    outcome, rec = asyncio.run(_plan(engine, region="eu-hetzner-nbg1"))
    assert rec is None and outcome.status == "refused" and outcome.rule == "healthy_placement"
    assert outcome.message == (
        "Refused: eu-hetzner-nbg1 is unhealthy right now (open incident inc-nbg1, 12 instances failing); pick "
        "another region, or name none and healthy hetzner regions are used."
    )


def test_every_primary_region_down_is_refused_and_names_healthy_providers(engine: Engine) -> None:
    for region in ("eu-hetzner-nbg1", "eu-hetzner-fsn1", "eu-hetzner-hel1"):
        _open_incident(engine, region)
    outcome, rec = asyncio.run(_plan(engine))
    assert rec is None and outcome.status == "refused" and outcome.rule == "healthy_placement"
    assert outcome.message.startswith("Refused: every hetzner region in EU is unhealthy right now (")
    assert outcome.message.endswith("pick another primary provider (healthy in EU: digitalocean, vultr, contabo).")


async def _status_page_scenario(engine: Engine) -> dict[str, Any]:
    """A provider-wide DigitalOcean incident and a Hetzner fsn1 outage, read from the emulators' status feeds."""
    drivers = engine.drivers
    try:
        await drivers.ensure("digitalocean")
        await drivers.ensure("hetzner")
        drivers.emulator("digitalocean").state.add_incident("Droplet creation failing in all regions", (), "major")
        drivers.emulator("hetzner").state.region_outage("fsn1", title="Network outage in Falkenstein")
        pages = await engine.ops.status_pages.refresh(drivers, ["hetzner", "digitalocean", "vultr"])
        auto, auto_rec = await _plan(engine)
        named, _ = await _plan(engine, standby_provider="digitalocean")
    finally:
        await drivers.aclose()
    return {"pages": pages, "auto": auto, "auto_rec": auto_rec, "named": named}


def test_status_page_incidents_move_standbys_and_skip_regions(clawops_home: Path) -> None:
    engine = Engine.open(demo_pairs=5, demo_providers="emulated")
    try:
        result = asyncio.run(_status_page_scenario(engine))
    finally:
        engine.close()
    assert result["pages"]["digitalocean"].indicator == "outage" and result["pages"]["vultr"].ok
    rec = result["auto_rec"]
    assert result["auto"].status == "planned" and rec is not None
    assert rec.args["standby_provider"] == "vultr"  # DigitalOcean would be the EU default
    assert {step["primary_region"] for step in rec.steps} == {"eu-hetzner-nbg1", "eu-hetzner-hel1"}
    assert all(step["standby_region"].startswith("eu-vultr-") for step in rec.steps)
    assert (
        "digitalocean for standbys (digitalocean status page: Droplet creation failing in all regions)" in rec.summary
    )
    assert "eu-hetzner-fsn1 (hetzner status page: Network outage in Falkenstein)" in rec.summary
    named = result["named"]
    assert named.status == "refused" and named.rule == "healthy_placement"
    assert named.message.startswith(
        "Refused: the standby provider digitalocean is unhealthy right now "
        "(digitalocean status page: Droplet creation failing in all regions)"
    )


def test_status_pages_are_each_engines_own(clawops_home: Path) -> None:
    """Two engines in one process: a page one engine read never steers the other's placement."""
    from engine.providers.status import ProviderStatus

    first = Engine.open(demo_pairs=5, demo_providers="sim")
    second = Engine.open(demo_pairs=5, demo_providers="sim")
    try:
        first.ops.status_pages.note(ProviderStatus(provider="digitalocean", indicator="outage", description="down"))
        assert set(first.ops.status_pages.known()) == {"digitalocean"}
        assert second.ops.status_pages.known() == {}
    finally:
        first.close()
        second.close()


def test_a_full_provider_account_is_refused_as_primary_and_passed_over_as_standby(clawops_home: Path) -> None:
    probe = Engine.open(demo_pairs=PAIRS, demo_providers="sim")
    with probe.store.session() as s:
        used = dict(
            s.exec(
                select(Instance.provider, func.count())
                .where(col(Instance.state) != "DELETED")
                .group_by(col(Instance.provider))
            ).all()
        )
    probe.close()
    limits = {"hetzner": used["hetzner"] + 4, "digitalocean": used.get("digitalocean", 0) + 1}
    engine = Engine.open(demo_pairs=PAIRS, demo_providers="sim", provider_server_limits=limits)
    try:
        too_many, _ = asyncio.run(_plan(engine))
        fits, rec = asyncio.run(_plan(engine, count=3))
    finally:
        engine.close()
    assert too_many.status == "refused" and too_many.rule == "healthy_placement"
    assert too_many.message == (
        f"Refused: hetzner has room for 4 more servers under its limit of {limits['hetzner']} ({used['hetzner']} in "
        "use), not 6; ask for fewer pairs, raise provider_server_limits.hetzner, or pick another primary provider."
    )
    assert rec is not None and rec.args["standby_provider"] == "vultr"
    assert (
        f"digitalocean for standbys (room for 1 more servers under its limit of {limits['digitalocean']}" in rec.summary
    )


def test_a_recent_quota_refusal_steers_standbys_away_and_warns_an_explicit_choice(engine: Engine) -> None:
    real_create = engine.drivers.sim.create_server

    async def out_of_droplets(spec: ServerSpec) -> Any:
        if spec.instance_id.endswith("-s"):  # the standby, on DigitalOcean
            raise ProviderQuotaExceeded(
                "digitalocean",
                "create_server",
                status=422,
                code="resource_limit_exceeded",
                vendor_message="You have reached your droplet limit",
            )
        return await real_create(spec)

    engine.drivers.sim.create_server = out_of_droplets
    first = asyncio.run(
        engine.ask_tool("provision_pairs", {**EU_PROVISION, "count": 1, "standby_provider": "digitalocean"}, yes=True)
    )
    assert first.job is not None and first.job.status == "failed"  # the real job step hit the quota
    auto, auto_rec = asyncio.run(_plan(engine))
    explicit, explicit_rec = asyncio.run(_plan(engine, standby_provider="digitalocean"))
    assert auto_rec is not None and auto_rec.args["standby_provider"] == "vultr"
    assert "digitalocean for standbys (it refused a create for quota at " in auto_rec.summary
    assert explicit.status == "planned" and explicit_rec is not None
    assert explicit_rec.args["standby_provider"] == "digitalocean"
    assert "Warning: digitalocean: it refused a create for quota at " in explicit_rec.summary


def test_healthy_fleet_keeps_the_default_placement(engine: Engine) -> None:
    with engine.store.session() as s:
        health = placement_health(s, engine.settings)
    assert health == PlacementHealth()
    placed = placement(Geo.EU, Provider.HETZNER, None, None, 6, health)
    assert placed.standby is Provider.DIGITALOCEAN and placed.skipped == [] and placed.warnings == []
    assert [p.name for p, _ in placed.pairs[:3]] == ["eu-hetzner-nbg1", "eu-hetzner-fsn1", "eu-hetzner-hel1"]


def test_a_provider_wide_outage_of_the_primary_is_refused() -> None:
    health = PlacementHealth(down_providers={"vultr": "vultr status page: API outage"})
    with pytest.raises(PolicyRefusal) as err:
        placement(Geo.US, Provider.VULTR, None, None, 2, health)
    assert str(err.value) == (
        "Refused: vultr is unhealthy right now (vultr status page: API outage); pick another "
        "primary provider (healthy in US: digitalocean, hetzner, contabo)."
    )
    ok = placement(Geo.US, Provider.DIGITALOCEAN, None, REGIONS["us-digitalocean-nyc3"], 2, health)
    assert ok.standby is Provider.HETZNER and "vultr for standbys (vultr status page: API outage)" in ok.skipped


def test_standbys_never_go_where_ledger_flags_them_expensive_and_the_plan_says_why(engine: Engine) -> None:
    """One team, one view: Forge's automatic standby choice follows Ledger's cheaper_elsewhere rule."""
    from engine.domain import Tier, plan_for
    from engine.ledger._model import best_alternative
    from engine.operations._drafts import ledger_flags

    flags = ledger_flags(Tier.STANDARD, Geo.EU, Provider.HETZNER, engine.settings)
    assert "digitalocean" in flags  # the one Ledger calls the expensive standby today
    planned, rec = asyncio.run(_plan(engine))
    assert rec is not None
    chosen = rec.args["standby_provider"]
    assert chosen not in flags
    price = plan_for(Provider(chosen), Tier.STANDARD)
    own = price.monthly if price.currency == "EUR" else price.monthly * engine.settings.usd_to_eur
    better = best_alternative(chosen, "standard", "eu", "hetzner", own, engine.settings.usd_to_eur)
    assert better is None or better.provider == chosen  # at most a longer term there, never another provider
    assert f"Standbys on {chosen}" in rec.summary and "not flagged by Ledger" in rec.summary
    assert "Passed over as expensive: " in rec.summary and "digitalocean (Ledger: " in rec.summary
    told, told_rec = asyncio.run(_plan(engine, standby_provider="digitalocean"))
    assert told_rec is not None and told_rec.args["standby_provider"] == "digitalocean"  # told to: it goes there
    assert "digitalocean as you asked, though Ledger" in told_rec.summary


def test_regions_guardian_calls_suspect_are_avoided_and_the_plan_says_so(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guardian's own rule (many primaries unhealthy in one region at once) steers automatic placement away."""
    monkeypatch.setattr("engine.guardian._thresholds.REGION_FAILURE_MIN_INSTANCES", 1)  # a 30-pair fleet
    with engine.store.session() as s:
        nbg = list(
            s.exec(
                select(Instance).where(col(Instance.region) == "eu-hetzner-nbg1", col(Instance.role) == "primary")
            ).all()
        )
        assert nbg
        for inst in nbg:
            inst.state, inst.health_score = "DEGRADED", 50
            s.add(inst)
    with engine.store.session() as s:
        assert "eu-hetzner-nbg1" in placement_health(s, engine.settings).suspect_regions
    _, rec = asyncio.run(_plan(engine))
    assert rec is not None
    assert all(step["primary_region"] != "eu-hetzner-nbg1" for step in rec.steps)
    assert "eu-hetzner-nbg1 (Guardian: " in rec.summary
    _, named = asyncio.run(_plan(engine, region="eu-hetzner-nbg1"))
    assert named is not None and {step["primary_region"] for step in named.steps} == {"eu-hetzner-nbg1"}  # told to
