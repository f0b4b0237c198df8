"""The auto-heal decision tree: every step, its limits, and that no path ever deletes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.guardian import (
    ALLOWED_TOOLS,
    LADDER,
    Band,
    DecisionKind,
    HealDecision,
    HealFacts,
    HealLedger,
    HealRecord,
    HealStep,
    HealthReport,
    HealthScore,
    ProviderSignal,
    Reason,
    RegionUsage,
    StandingApproval,
    Verdict,
    decide,
    ladder_markdown,
    note_result,
    record_verification,
    score,
)
from engine.guardian import _thresholds as T
from engine.guardian._heal import _checked

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
IID, ACCT = "i-acct-042-p", "acct-042"


def health(**kw: Any) -> HealthScore:
    base: dict[str, Any] = dict(
        instance_id=IID,
        received_at=NOW,
        cpu_percent=20.0,
        mem_percent=40.0,
        disk_percent=40.0,
        gateway_up=True,
        docker_running=True,
        gateway_latency_ms=30.0,
        uptime_s=86400.0,
        gateway_restarts_10m=0,
    )
    missed = kw.pop("missed", 0)
    base.update(kw)
    return score(HealthReport(**base), NOW, missed)


GATEWAY_DOWN = health(gateway_up=False)
HEALTHY = health()


def facts(h: HealthScore = GATEWAY_DOWN, **kw: Any) -> HealFacts:
    base: dict[str, Any] = dict(
        instance_id=IID,
        account_id=ACCT,
        role="primary",
        state="DEGRADED",
        provider="hetzner",
        region="eu-hetzner-nbg1",
        health=h,
        standby_id="i-acct-042-s",
        standby_state="ACTIVE",
        standby_score=96,
    )
    base.update(kw)
    return HealFacts(**base)


def verified(**kw: Any) -> HealRecord:
    """A record right after step 1 found the instance itself sick."""
    return HealRecord(IID, step=HealStep.VERIFY, attempts=1, verdict=Verdict.INSTANCE, tried=("verify",), **kw)


def restart(component: str) -> dict[str, Any]:
    return {"tool": "restart", "args": {"selector": {"instances": [IID]}, "component": component}}


# --- the ladder as data ------------------------------------------------------------------------------


def test_the_ladder_is_six_steps_in_order_and_never_names_a_delete() -> None:
    assert [s.step for s in LADDER] == list(HealStep)
    assert [s.number for s in LADDER] == [1, 2, 3, 4, 5, 6]
    assert {s.tool for s in LADDER} <= ALLOWED_TOOLS
    assert "teardown" not in ALLOWED_TOOLS
    md = ladder_markdown()
    assert "| 2 | restart the gateway | restart | gateway | 2 | 2 min |" in md
    assert md.count("\n") == len(LADDER) + 2


# --- step 1: verify -----------------------------------------------------------------------------------


def test_step1_verify_reprobes_before_anything_else() -> None:
    d = decide(facts(), None, NOW)
    assert (d.kind, d.step) == (DecisionKind.ACT, HealStep.VERIFY)
    assert d.action == {"tool": "instance_diagnose", "args": {"target": IID}}
    assert d.record.next_allowed_at == NOW + timedelta(seconds=60)


def test_step1_in_a_sick_region_waits_for_the_status_page_instead_of_blaming_the_instance() -> None:
    d = decide(facts(region_suspect=True), None, NOW)
    assert (d.kind, d.step, d.action) == (DecisionKind.WAIT, HealStep.VERIFY, None)
    assert "status page" in d.reason


def test_step1_without_a_recorded_verdict_the_next_sweep_is_the_reprobe() -> None:
    first = decide(facts(), None, NOW)
    later = decide(facts(), first.record, NOW + timedelta(minutes=5))
    assert later.step is HealStep.RESTART_GATEWAY
    assert later.record.verdict is Verdict.INSTANCE


def test_step1_false_alarm_waits_then_escalates_when_score_and_probe_keep_disagreeing() -> None:
    rec = decide(facts(), None, NOW).record
    t = NOW
    for _ in range(3):
        rec = record_verification(rec, Verdict.FALSE_ALARM, t)
        t += timedelta(minutes=6)
        d = decide(facts(), rec, t)
        if d.kind is DecisionKind.ESCALATE:
            break
        assert d.kind is DecisionKind.WAIT and "re-probe found it healthy" in d.reason
        t += timedelta(minutes=5)
        d = decide(facts(), d.record, t)  # verifies again
        assert d.step is HealStep.VERIFY
        rec = d.record
    assert d.kind is DecisionKind.ESCALATE and "disagree" in d.reason


# --- steps 2-4: restarts -------------------------------------------------------------------------------


def test_step2_restart_gateway_twice_with_backoff_then_climb() -> None:
    d1 = decide(facts(), verified(), NOW)
    assert (d1.kind, d1.step, d1.action) == (DecisionKind.ACT, HealStep.RESTART_GATEWAY, restart("gateway"))
    wait = decide(facts(), d1.record, NOW + timedelta(seconds=30))
    assert wait.kind is DecisionKind.WAIT and "take effect" in wait.reason
    d2 = decide(facts(), d1.record, NOW + timedelta(minutes=3))
    assert (d2.step, d2.record.attempts) == (HealStep.RESTART_GATEWAY, 2)
    assert d2.record.next_allowed_at == NOW + timedelta(minutes=3, seconds=2 * 120)  # doubled back-off
    d3 = decide(facts(), d2.record, NOW + timedelta(minutes=10))
    assert (d3.step, d3.action) == (HealStep.RESTART_DOCKER, restart("docker"))


def test_step3_restart_docker_first_when_docker_is_down() -> None:
    d = decide(facts(health(docker_running=False)), verified(), NOW)
    assert (d.step, d.action) == (HealStep.RESTART_DOCKER, restart("docker"))
    assert "restart the gateway skipped: docker is down" in d.reason


def test_step3_a_crash_looping_gateway_is_not_restarted_again() -> None:
    h = health(gateway_restarts_10m=T.GATEWAY_FLAPPING_RESTARTS, gateway_latency_ms=2500.0)
    d = decide(facts(h), verified(), NOW)
    assert d.step is HealStep.RESTART_DOCKER and "crash-looping" in d.reason


def test_step4_reboot_through_the_provider_when_the_node_is_unreachable() -> None:
    h = health(missed=1)
    assert h.band is Band.CRITICAL
    d = decide(facts(h, missed_sweeps=1), verified(), NOW)
    assert (d.step, d.action) == (HealStep.REBOOT_VPS, restart("vps"))
    assert "node unreachable" in d.reason


def test_a_stale_report_alone_does_not_skip_the_node_restarts() -> None:
    h = health(received_at=NOW - timedelta(minutes=4), gateway_up=False)
    assert "stale" in h.codes
    assert decide(facts(h), verified(), NOW).step is HealStep.RESTART_GATEWAY


def test_step4_after_docker_comes_the_reboot() -> None:
    rec = verified()
    rec = replace(rec, step=HealStep.RESTART_DOCKER, attempts=1)
    assert decide(facts(), rec, NOW).step is HealStep.REBOOT_VPS


# --- step 5: failover ----------------------------------------------------------------------------------


def test_step5_failover_to_an_active_healthy_standby() -> None:
    rec = replace(verified(), step=HealStep.REBOOT_VPS, attempts=1)
    d = decide(facts(), rec, NOW)
    assert (d.kind, d.step) == (DecisionKind.ACT, HealStep.FAILOVER)
    assert d.action == {"tool": "failover", "args": {"selector": {"accounts": [ACCT]}}}


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        ({"standby_state": "DEGRADED", "standby_score": 61}, "is DEGRADED (61)"),
        ({"standby_state": "ACTIVE", "standby_score": T.HEALTHY_MIN - 1}, f"is ACTIVE ({T.HEALTHY_MIN - 1})"),
        ({"standby_id": None, "standby_state": None, "standby_score": None}, "there is no standby"),
    ],
)
def test_step5_never_fails_over_to_an_unhealthy_standby(kw: dict[str, Any], why: str) -> None:
    rec = replace(verified(), step=HealStep.REBOOT_VPS, attempts=1)
    d = decide(facts(**kw), rec, NOW)
    assert d.kind is DecisionKind.ESCALATE and d.action is not None
    assert why in d.action["args"]["message"]


def test_a_provider_outage_goes_straight_to_failover_for_primaries() -> None:
    d = decide(facts(provider_status="outage"), None, NOW)
    assert (d.kind, d.step) == (DecisionKind.ACT, HealStep.FAILOVER)
    assert d.record.verdict is Verdict.PROVIDER
    standby = decide(facts(role="standby", standby_id=None, provider_status="outage"), None, NOW)
    assert standby.kind is DecisionKind.WAIT and standby.action is None


def test_an_outage_failover_is_tried_once_then_escalated() -> None:
    first = decide(facts(provider_status="outage"), None, NOW)
    assert first.step is HealStep.FAILOVER
    again = decide(facts(provider_status="outage"), first.record, NOW + timedelta(minutes=11))
    assert again.kind is DecisionKind.ESCALATE and "did not restore service" in again.reason


def test_a_status_page_alone_does_not_move_a_user_off_a_working_gateway() -> None:
    h = score(
        HealthReport(IID, NOW, gateway_up=True, docker_running=True), NOW, provider_signal=ProviderSignal("outage")
    )
    assert h.band is not Band.HEALTHY
    d = decide(facts(h, provider_status="outage"), None, NOW)
    assert d.kind is DecisionKind.WAIT and d.action is None and "reports fine" in d.reason


def test_a_recorded_provider_verdict_also_skips_the_restarts() -> None:
    rec = record_verification(decide(facts(region_suspect=True), None, NOW).record, Verdict.PROVIDER, NOW)
    d = decide(facts(region_suspect=True, provider_status="unknown"), rec, NOW + timedelta(minutes=1))
    assert d.step is HealStep.FAILOVER


# --- step 6: escalate ----------------------------------------------------------------------------------


def test_step6_escalate_to_commander_then_stay_quiet() -> None:
    rec = replace(verified(), step=HealStep.FAILOVER, attempts=1, tried=("verify", "restart the gateway"))
    d = decide(facts(), rec, NOW)
    assert (d.kind, d.step) == (DecisionKind.ESCALATE, HealStep.ESCALATE) and d.needs_human
    assert d.action is not None and d.action["tool"] == "sessions_send"
    args = d.action["args"]
    assert args["agent"] == "commander" and args["wait"] is False
    assert IID in args["message"] and "restart the gateway" in args["message"] and "40: gateway down" in args["message"]
    quiet = decide(facts(), d.record, NOW + timedelta(minutes=30))
    assert quiet.kind is DecisionKind.WAIT and "waiting for a human" in quiet.reason
    reminder = decide(facts(), d.record, NOW + timedelta(seconds=T.ESCALATION_QUIET_S + 1))
    assert reminder.kind is DecisionKind.ESCALATE and "still unhealthy" in reminder.reason


def test_a_full_disk_is_escalated_not_restarted() -> None:
    d = decide(facts(health(disk_percent=97.0)), verified(), NOW)
    assert d.kind is DecisionKind.ESCALATE and "cleanup or a resize" in d.reason


@pytest.mark.parametrize(("status", "expect"), [("planned", "wants a human"), ("refused", "refused: rule7")])
def test_a_step_the_policy_engine_stops_is_escalated(status: str, expect: str) -> None:
    d = decide(facts(), verified(), NOW)
    rec = note_result(d.record, status, "rule7")
    nxt = decide(facts(), rec, NOW + timedelta(minutes=10))
    assert nxt.kind is DecisionKind.ESCALATE and expect in nxt.reason
    assert note_result(d.record, "done") == d.record


# --- flapping and limits -------------------------------------------------------------------------------


def test_a_flapping_instance_is_escalated_not_restarted_forever() -> None:
    ledger = HealLedger()
    t = NOW
    restarts = 0
    escalation: HealDecision | None = None
    for _ in range(10):  # sick → verify → restart → healthy, again and again
        for _ in range(2):
            d = ledger.decide(facts(), t)
            t += timedelta(minutes=5)
            restarts += d.kind is DecisionKind.ACT and d.step is HealStep.RESTART_GATEWAY
            if d.kind is DecisionKind.ESCALATE:
                escalation = d
                break
        if escalation:
            break
        assert ledger.decide(facts(HEALTHY, state="ACTIVE"), t).kind is DecisionKind.NONE
        t += timedelta(minutes=5)
    assert escalation is not None and "flapping: healed 3x" in escalation.reason
    assert restarts == T.FLAP_MAX_RECOVERIES
    for _ in range(6):  # and it stays hands-off while a human looks
        t += timedelta(minutes=5)
        assert ledger.decide(facts(), t).kind is DecisionKind.WAIT
    rec = ledger.records[IID]
    assert rec.pruned(t + timedelta(seconds=T.FLAP_WINDOW_S + 1)).recoveries == ()


def test_per_instance_action_cap() -> None:
    recent = tuple(NOW - timedelta(minutes=m) for m in range(1, T.INSTANCE_MAX_HEAL_ACTIONS + 1))
    d = decide(facts(), verified(actions=recent), NOW)
    assert d.kind is DecisionKind.ESCALATE and "did not hold" in d.reason


def test_standing_approval_caps_failovers_per_region_then_guardian_asks() -> None:
    rec = replace(verified(), step=HealStep.REBOOT_VPS, attempts=1)
    full = RegionUsage(failovers=T.MAX_FAILOVERS_PER_REGION_PER_HOUR)
    d = decide(facts(), rec, NOW, usage=full)
    assert d.kind is DecisionKind.ESCALATE and "stop and ask" in d.reason
    assert d.proposed == {"tool": "failover", "args": {"selector": {"accounts": [ACCT]}}}
    # a provider-confirmed outage has the larger incident budget
    assert decide(facts(provider_status="outage"), None, NOW, usage=full).step is HealStep.FAILOVER
    spent = RegionUsage(failovers=T.MAX_INCIDENT_FAILOVERS_PER_REGION_PER_HOUR)
    assert decide(facts(provider_status="outage"), None, NOW, usage=spent).kind is DecisionKind.ESCALATE


def test_standing_approval_caps_reboots_and_can_be_revoked() -> None:
    rec = replace(verified(), step=HealStep.RESTART_DOCKER, attempts=1)
    d = decide(facts(), rec, NOW, usage=RegionUsage(reboots=T.MAX_REBOOTS_PER_REGION_PER_HOUR))
    assert d.kind is DecisionKind.ESCALATE and d.proposed == restart("vps")
    off = decide(facts(), verified(), NOW, approval=StandingApproval(enabled=False))
    assert (
        off.kind is DecisionKind.ESCALATE and "standing approval" in off.reason and off.proposed == restart("gateway")
    )


def test_the_ledger_counts_failovers_per_region_within_the_hour() -> None:
    ledger = HealLedger(approval=StandingApproval(max_incident_failovers_per_region_per_hour=2))
    kinds = []
    for n in range(3):
        f = facts(instance_id=f"i-{n}", account_id=f"acct-{n}", provider_status="outage")
        kinds.append(ledger.decide(f, NOW).kind)
    assert kinds == [DecisionKind.ACT, DecisionKind.ACT, DecisionKind.ESCALATE]
    assert ledger.usage("eu-hetzner-nbg1", NOW).failovers == 2
    assert ledger.usage("eu-hetzner-nbg1", NOW + timedelta(hours=1, seconds=1)).failovers == 0
    assert ledger.usage("us-vultr-ewr", NOW).failovers == 0


# --- states ---------------------------------------------------------------------------------------------


def test_healthy_means_nothing_to_do_and_closes_the_episode() -> None:
    assert decide(facts(HEALTHY, state="ACTIVE"), None, NOW).kind is DecisionKind.NONE
    rec = decide(facts(), verified(), NOW).record
    done = decide(facts(HEALTHY, state="ACTIVE"), rec, NOW + timedelta(minutes=5))
    assert done.kind is DecisionKind.NONE and done.record.step is None and len(done.record.recoveries) == 1


@pytest.mark.parametrize(
    "state",
    [
        "REQUESTED",
        "CREATING",
        "BOOTSTRAPPING",
        "STANDBY_PROMOTING",
        "DRAINING",
        "ARCHIVING",
        "DELETED",
        "ERROR",
        "nonsense",
    ],
)
def test_states_guardian_does_not_heal(state: str) -> None:
    assert decide(facts(state=state), None, NOW).kind is DecisionKind.NONE


def test_a_failed_standby_waits_for_its_replacement_or_is_escalated_once() -> None:
    sb: dict[str, Any] = dict(
        role="standby", state="FAILED", standby_id=None, standby_state=None, standby_score=None, health=health(missed=3)
    )
    assert decide(facts(**sb, replacement_pending=True), None, NOW).kind is DecisionKind.NONE
    d = decide(facts(**sb), None, NOW)
    assert d.kind is DecisionKind.ESCALATE and "no standby" in d.reason
    assert decide(facts(**sb), d.record, NOW + timedelta(minutes=5)).kind is DecisionKind.WAIT  # once, not every sweep


def test_a_failed_silent_primary_with_a_healthy_standby_fails_over_on_the_first_sweep() -> None:
    """Its user is down now: serving them from the verified standby comes before rebooting a dead box."""
    ledger = HealLedger()
    d = ledger.decide(facts(health(missed=3), state="FAILED", missed_sweeps=3), NOW)
    assert d.kind is DecisionKind.ACT and d.step is HealStep.FAILOVER
    assert d.action == {"tool": "failover", "args": {"selector": {"accounts": [ACCT]}}}
    assert any("silent for 3 sweeps" in step for step in d.record.tried)


def test_a_failed_primary_without_a_ready_standby_climbs_to_reboot_then_escalates() -> None:
    ledger = HealLedger()
    f = facts(health(missed=3), state="FAILED", missed_sweeps=3, standby_state="DEGRADED", standby_score=55)
    seen = []
    t = NOW
    for _ in range(4):
        d = ledger.decide(f, t)
        seen.append((d.kind, d.step))
        t += timedelta(minutes=6)
    assert [s for k, s in seen if k is DecisionKind.ACT] == [HealStep.VERIFY, HealStep.REBOOT_VPS]
    assert any(k is DecisionKind.ESCALATE for k, _ in seen)  # no failover without a healthy standby: a human


# --- never deletes -------------------------------------------------------------------------------------


def test_the_last_gate_turns_a_delete_into_an_escalation() -> None:
    bad = HealDecision(
        IID,
        DecisionKind.ACT,
        HealStep.REBOOT_VPS,
        "oops",
        HealRecord(IID),
        {"tool": "teardown", "args": {"selector": {"instances": [IID]}}},
    )
    d = _checked(bad)
    assert d.kind is DecisionKind.ESCALATE and d.action is None and "rule 7" in d.reason


_codes = st.sampled_from(
    [
        "gateway_down",
        "docker_down",
        "latency",
        "gateway_restarts",
        "gateway_crash_loop",
        "disk",
        "memory",
        "cpu",
        "load",
        "stale",
        "unreachable",
        "missing",
        "provider_outage",
        "server_down",
        "rebooted",
    ]
)
_health = st.builds(
    lambda value, missed, codes: HealthScore(
        0 if missed >= 3 else value,
        Band.FAILED
        if missed >= 3
        else (Band.HEALTHY if value >= 80 else Band.DEGRADED if value >= 50 else Band.CRITICAL),
        tuple(Reason(c, c, 5 * (i + 1)) for i, c in enumerate(codes)),
    ),
    st.integers(0, 100),
    st.integers(0, 4),
    st.lists(_codes, max_size=4, unique=True),
)
_facts = st.builds(
    HealFacts,
    instance_id=st.just(IID),
    account_id=st.just(ACCT),
    role=st.sampled_from(["primary", "standby"]),
    state=st.sampled_from(["ACTIVE", "DEGRADED", "HEALING", "FAILED", "CREATING", "DELETED"]),
    provider=st.just("hetzner"),
    region=st.just("eu-hetzner-nbg1"),
    health=_health,
    missed_sweeps=st.integers(0, 4),
    standby_id=st.sampled_from([None, "i-acct-042-s"]),
    standby_state=st.sampled_from([None, "ACTIVE", "DEGRADED"]),
    standby_score=st.one_of(st.none(), st.integers(0, 100)),
    replacement_pending=st.booleans(),
    region_suspect=st.booleans(),
    provider_status=st.sampled_from([None, "operational", "outage", "unknown"]),
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    seq=st.lists(
        st.tuples(
            _facts, st.integers(0, 4000), st.sampled_from([None, "done", "planned", "refused", "error", "verdict"])
        ),
        min_size=1,
        max_size=25,
    ),
    enabled=st.booleans(),
)
def test_no_sequence_of_sweeps_ever_yields_a_delete(
    seq: list[tuple[HealFacts, int, str | None]], enabled: bool
) -> None:
    ledger = HealLedger(approval=StandingApproval(enabled=enabled))
    t = NOW
    for f, gap, outcome in seq:
        t += timedelta(seconds=gap)
        d = ledger.decide(f, t)
        for act in (d.action, d.proposed):
            if act is not None:
                assert act["tool"] in ALLOWED_TOOLS and act["tool"] != "teardown"
                assert act["args"].get("component") in (None, "gateway", "docker", "vps")
        if d.kind is DecisionKind.ACT:
            assert d.action is not None and d.step is not None
        if outcome == "verdict":
            ledger.verified(IID, Verdict.INSTANCE, t)
        elif outcome:
            ledger.result(IID, outcome, "x")
