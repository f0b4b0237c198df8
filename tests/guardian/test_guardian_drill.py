"""The issue-6 incident drill: eu-hetzner-nbg1 goes down with ~100 primaries in it.

Real operation layer, policy engine, jobs and provider drivers against the loopback vendor emulators
(time-scaled); simulated node reports.  Passes when every affected pair ends up served by its standby,
no user is left without an active gateway, the operator hears about ONE incident (not one alert per
instance), nothing was deleted, and "Hetzner Nuremberg looks down. What's our exposure?" answers with
the numbers in the store.  No timing assertions: bench/bench_guardian.py reports the times.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from engine import audit
from engine.guardian import ALLOWED_TOOLS, FAILED_OVER_PREFIX
from engine.guardian import _thresholds as T
from engine.guardian._drill import DrillReport, run_drill
from engine.runtime import Engine
from engine.store import AuditEntry, Incident, Instance, Silence

REGION = "eu-hetzner-nbg1"
QUESTION = "Hetzner Nuremberg looks down. What's our exposure?"


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, DrillReport, Any]]:
    home = tmp_path_factory.mktemp("drill-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("CLAWOPS_HOME", str(home))
    for var in ("ANTHROPIC_API_KEY", "CLAWOPS_ANTHROPIC_API_KEY", "CLAWOPS_ENGINE_URL"):
        mp.delenv(var, raising=False)
    engine = Engine.open(demo=True, demo_pairs=1200, demo_providers="emulated")
    try:
        report, turn = asyncio.run(run_drill(engine, REGION, ask=QUESTION))
        yield engine, report, turn
    finally:
        engine.close()
        mp.undo()


def test_the_region_holds_about_a_hundred_primaries(drill: tuple[Engine, DrillReport, Any]) -> None:
    _, report, _ = drill
    assert 90 <= report.primaries <= 110 and report.standbys > 0


def test_every_affected_pair_is_served_by_its_standby(drill: tuple[Engine, DrillReport, Any]) -> None:
    engine, report, _ = drill
    assert report.failovers == report.primaries
    assert report.served_pairs == report.primaries
    assert report.cycles_to_served == 1  # the first sweep after the outage read the status page and moved them
    assert report.exposure_end is not None and report.exposure_end.without_gateway == 0
    assert report.exposure_down is not None and report.exposure_down.without_gateway == 0
    assert report.exposure_down.failed_over == report.primaries
    with engine.store.session() as s:
        old = (
            s.execute(
                select(Instance).where(
                    col(Instance.region) == REGION, col(Instance.health_reason).startswith(FAILED_OVER_PREFIX)
                )
            )
            .scalars()
            .all()
        )
        assert len(old) == report.primaries
        assert {i.state for i in old} == {"FAILED"} and {i.role for i in old} == {"standby"}
        # each of those accounts has a new primary elsewhere and a replacement standby on neither provider
        for inst in old:
            pair = (
                s.execute(
                    select(Instance).where(col(Instance.account_id) == inst.account_id, col(Instance.state) == "ACTIVE")
                )
                .scalars()
                .all()
            )
            primary = [p for p in pair if p.role == "primary"]
            standby = [p for p in pair if p.role == "standby"]
            assert len(primary) == 1 and primary[0].region != REGION
            assert standby and all(sb.provider not in ("hetzner", primary[0].provider) for sb in standby)


def test_the_operator_hears_about_one_incident_not_one_alert_per_instance(
    drill: tuple[Engine, DrillReport, Any],
) -> None:
    engine, report, _ = drill
    assert report.incidents_notified == 1
    assert report.instance_alerts_notified == 0
    assert not any(c.escalations for c in report.cycles)
    incident_lines = [m for m in report.messages if "Incident:" in m]
    assert len(incident_lines) == 1 and REGION in incident_lines[0] and "status page: outage" in incident_lines[0]
    with engine.store.session() as s:
        rows = s.execute(select(Incident).where(col(Incident.key) == f"incident:{REGION}")).scalars().all()
        assert len(rows) == 1 and rows[0].status == "closed"  # opened once, closed when the region came back
        silence = s.execute(select(Silence).where(col(Silence.created_by) == "guardian")).scalars().one()
        assert silence.selector == {"region": REGION}
        assert round((silence.until - silence.created_at).total_seconds()) == T.REGION_SILENCE_S


def test_no_path_deletes_and_every_action_is_a_heal_tool(drill: tuple[Engine, DrillReport, Any]) -> None:
    engine, report, _ = drill
    assert report.delete_calls == 0
    assert report.heal_tools == {"failover"} and report.heal_tools <= ALLOWED_TOOLS
    with engine.store.session() as s:
        actions = {a for (a,) in s.execute(select(col(AuditEntry.action)).distinct()).all()}
    assert not {a for a in actions if "teardown" in a or "delete" in a}
    assert audit.verify(engine.store).ok


def test_the_incident_timeline_is_in_the_audit_log(drill: tuple[Engine, DrillReport, Any]) -> None:
    engine, _, _ = drill
    with engine.store.session() as s:
        actions = [a for (a,) in s.execute(select(col(AuditEntry.action)).order_by(col(AuditEntry.seq))).all()]
    at = {
        a: actions.index(a)
        for a in (
            "incident.open",
            "guardian.heal.failover",
            "plan.failover",
            "guardian.silence",
            "guardian.reprovision.armed",
            "guardian.reprovision.due",
            "incident.close",
        )
    }
    # the sweep audits its failover decisions, the incident opens once, the jobs run, then the region is
    # silenced and re-provisioning armed; when it is back, the proposal goes out and the incident closes
    assert at["guardian.heal.failover"] < at["plan.failover"] < at["guardian.silence"]
    assert at["incident.open"] < at["guardian.silence"] < at["guardian.reprovision.armed"]
    assert at["guardian.reprovision.armed"] < min(at["guardian.reprovision.due"], at["incident.close"])
    assert actions.count("incident.open") == 1 and actions.count("incident.close") == 1


def test_recovery_fires_the_armed_re_provisioning_once(drill: tuple[Engine, DrillReport, Any]) -> None:
    _, report, _ = drill
    assert len(report.reprovision) == 1
    (proposal,) = report.reprovision
    assert proposal["region"] == REGION
    assert len(proposal["lost_standbys"]) == report.standbys  # every standby there was lost with the region
    assert len(proposal["failed_over_old"]) == report.primaries
    assert proposal["action"]["tool"] == "sessions_send" and proposal["action"]["args"]["agent"] == "commander"
    assert any("is back" in m for m in report.messages)


def test_whats_our_exposure_answers_with_the_drill_numbers(drill: tuple[Engine, DrillReport, Any]) -> None:
    engine, report, turn = drill
    assert turn is not None
    (call,) = [c for c in turn.tool_calls if c.tool == "provider_health"]
    assert call.status == "done" and call.args == {"provider": "hetzner", "region": REGION}
    hetzner = call.result["providers"]["hetzner"]
    assert hetzner["status"]["indicator"] == "outage"
    nbg1 = hetzner["regions"][REGION]
    down = report.exposure_down
    assert down is not None
    assert (
        nbg1["primaries"],
        nbg1["standbys"],
        nbg1["failed"],
        nbg1["failed_over"],
        nbg1["users_without_gateway"],
    ) == (down.primaries, down.standbys, down.failed, down.failed_over, down.without_gateway)
    assert (nbg1["failed_over"], nbg1["standbys_lost"], nbg1["users_without_gateway"]) == (
        report.primaries,
        report.standbys,
        0,
    )
    assert nbg1["users"] == report.primaries + report.standbys
    reply = turn.reply
    assert "[Guardian]" in reply and "outage" in reply
    assert f"{REGION}: {down.primaries} primaries, {down.standbys} standbys, {down.failed} failed, " in reply
    assert re.search(rf"\b{down.failed} FAILED \({down.failed_over} failed over\)", reply)


def test_the_drill_refuses_a_fleet_that_is_not_the_demo(clawops_home: Path) -> None:
    from engine.errors import InputError

    engine = Engine.open(demo=True, demo_pairs=5, demo_providers="sim")
    try:
        with pytest.raises(InputError, match="only on the DEMO fleet"):
            asyncio.run(run_drill(engine))
    finally:
        engine.close()
