"""The auto-heal decision tree: six steps as data, and one pure function that picks the next one.

    1 verify          re-probe the instance; if its provider region looks sick, read the provider's
                      status page first (policy rule 4) instead of blaming the instance
    2 restart gateway restart(component="gateway")
    3 restart docker  restart(component="docker")
    4 reboot VPS      restart(component="vps"), through the provider's API
    5 fail over       failover to the standby, only if it is ACTIVE and healthy
    6 escalate        sessions_send to Commander with what was seen and tried

:func:`decide` is pure: facts + the instance's :class:`HealRecord` + the clock in, a
:class:`HealDecision` out (the next tool call in the contract form, or a wait, or an escalation) with
the updated record.  Nothing here executes anything; the operation layer does, under the policy
engine.  Steps that cannot help are skipped with a reason (no gateway restart through an unreachable
node, no restart at all for a full disk, straight to failover when the provider confirms a region
outage).  Limits keep it from looping: attempts per step with growing back-off, a cap on actions per
instance per hour, flapping detection (healed and sick again too often → escalate), and the standing
approval's per-region budgets for reboots and failovers.  No path returns a delete or teardown
(policy rule 7): :data:`ALLOWED_TOOLS` is checked on every decision.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from engine.domain import InstanceState
from engine.guardian import _thresholds as T
from engine.guardian._score import HealthScore, format_duration

__all__ = [
    "ALLOWED_TOOLS",
    "LADDER",
    "DecisionKind",
    "HealDecision",
    "HealFacts",
    "HealLedger",
    "HealRecord",
    "HealStep",
    "RegionUsage",
    "StandingApproval",
    "StepSpec",
    "Verdict",
    "decide",
    "ladder_markdown",
    "note_result",
    "record_verification",
    "skill_values",
]

S = InstanceState


class HealStep(StrEnum):
    VERIFY = "verify"
    RESTART_GATEWAY = "restart_gateway"
    RESTART_DOCKER = "restart_docker"
    REBOOT_VPS = "reboot_vps"
    FAILOVER = "failover"
    ESCALATE = "escalate"


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One rung: the tool it calls, how often it may be tried, and how long to wait for it to work."""

    step: HealStep
    number: int
    tool: str
    component: str | None
    max_attempts: int
    settle_s: int
    what: str


LADDER: Final[tuple[StepSpec, ...]] = (
    StepSpec(
        HealStep.VERIFY,
        1,
        "instance_diagnose",
        None,
        1,
        60,
        "re-probe the instance; when its region looks sick, check the provider status page first",
    ),
    StepSpec(HealStep.RESTART_GATEWAY, 2, "restart", "gateway", 2, 120, "restart the gateway"),
    StepSpec(HealStep.RESTART_DOCKER, 3, "restart", "docker", 1, 180, "restart docker"),
    StepSpec(HealStep.REBOOT_VPS, 4, "restart", "vps", 1, 300, "reboot the VPS through the provider"),
    StepSpec(HealStep.FAILOVER, 5, "failover", None, 1, 600, "fail over to the standby if it is ACTIVE and healthy"),
    StepSpec(
        HealStep.ESCALATE,
        6,
        "sessions_send",
        None,
        1,
        T.ESCALATION_QUIET_S,
        "escalate to Commander with what was seen and tried",
    ),
)
_SPEC: Final = {s.step: s for s in LADDER}
_CLIMB: Final = (
    HealStep.RESTART_GATEWAY,
    HealStep.RESTART_DOCKER,
    HealStep.REBOOT_VPS,
    HealStep.FAILOVER,
    HealStep.ESCALATE,
)

ALLOWED_TOOLS: Final = frozenset({"instance_diagnose", "provider_health", "restart", "failover", "sessions_send"})
"""Every tool a heal decision may name.  Deleting tools (teardown) are absent on purpose: policy rule 7."""
assert all(s.tool in ALLOWED_TOOLS for s in LADDER)

HEALABLE_STATES: Final = frozenset({S.ACTIVE, S.DEGRADED, S.HEALING, S.FAILED})
_UNREACHABLE_CODES: Final = frozenset({"unreachable"})
"""A merely stale report does not count: a slow node may still run a restart (and a failed one climbs anyway)."""
_NOT_FIXED_BY_RESTART: Final = frozenset({"disk"})
"""Problems no restart fixes: a full disk needs a cleanup or a resize, which is a human's call."""
_SERVER_DOWN_CODES: Final = frozenset({"server_down"})
_PROVIDER_CODES: Final = frozenset({"provider_outage", "provider_degraded"})


class DecisionKind(StrEnum):
    ACT = "act"
    WAIT = "wait"
    ESCALATE = "escalate"
    NONE = "none"


class Verdict(StrEnum):
    """What step 1 (verify) found."""

    INSTANCE = "instance"
    """The instance itself is sick: climb the ladder."""
    PROVIDER = "provider"
    """The provider region is failing: restarts are pointless, fail over."""
    FALSE_ALARM = "false_alarm"
    """The re-probe found it healthy: wait a sweep and look again."""


@dataclass(frozen=True, slots=True)
class HealRecord:
    """Guardian's memory of one instance's heal episode (kept between sweeps by :class:`HealLedger`)."""

    instance_id: str
    step: HealStep | None = None
    attempts: int = 0
    """Attempts at ``step`` in this episode."""
    verdict: Verdict | None = None
    next_allowed_at: datetime | None = None
    tried: tuple[str, ...] = ()
    """Steps taken this episode, in order, for the escalation message."""
    actions: tuple[datetime, ...] = ()
    """Every mutating heal action in the last FLAP_WINDOW_S (per-instance limit)."""
    recoveries: tuple[datetime, ...] = ()
    """Times an episode ended healthy in the last FLAP_WINDOW_S (flapping detection)."""
    false_alarms: int = 0
    acted: bool = False
    """A mutating step ran this episode (so ending healthy counts as a recovery)."""
    escalated_at: datetime | None = None
    blocked: str | None = None
    """Why the last action could not run (refused by policy, or planned for a human): escalate next."""

    @property
    def in_episode(self) -> bool:
        return self.step is not None

    def pruned(self, now: datetime) -> HealRecord:
        cutoff = now - timedelta(seconds=T.FLAP_WINDOW_S)
        actions = tuple(t for t in self.actions if t > cutoff)
        recoveries = tuple(t for t in self.recoveries if t > cutoff)
        if actions == self.actions and recoveries == self.recoveries:
            return self
        return replace(self, actions=actions, recoveries=recoveries)


@dataclass(frozen=True, slots=True)
class HealFacts:
    """What :func:`decide` may look at for one instance (the sweep gathers it from the store)."""

    instance_id: str
    account_id: str
    role: str
    state: str
    provider: str
    region: str
    health: HealthScore
    missed_sweeps: int = 0
    standby_id: str | None = None
    standby_state: str | None = None
    standby_score: int | None = None
    replacement_pending: bool = False
    """For a standby: the account already has another standby on the way (after a failover)."""
    region_suspect: bool = False
    """Many instances in this provider region are unhealthy at once (from the sweep)."""
    provider_status: str | None = None
    """The provider's status page for this region: operational | degraded | outage | unknown; None = not read."""

    @property
    def standby_ready(self) -> bool:
        return (
            self.standby_id is not None
            and self.standby_state == S.ACTIVE.value
            and (self.standby_score or 0) >= T.HEALTHY_MIN
        )


@dataclass(frozen=True, slots=True)
class StandingApproval:
    """The operator's once-given approval for autonomous heal steps, and its limits (ARCHITECTURE §3)."""

    enabled: bool = True
    max_failovers_per_region_per_hour: int = T.MAX_FAILOVERS_PER_REGION_PER_HOUR
    max_incident_failovers_per_region_per_hour: int = T.MAX_INCIDENT_FAILOVERS_PER_REGION_PER_HOUR
    max_reboots_per_region_per_hour: int = T.MAX_REBOOTS_PER_REGION_PER_HOUR


@dataclass(frozen=True, slots=True)
class RegionUsage:
    """How much of the standing approval this region used in the last hour."""

    failovers: int = 0
    reboots: int = 0


@dataclass(frozen=True, slots=True)
class HealDecision:
    """The next move for one instance.  ``action`` is a tool call in the contract form."""

    instance_id: str
    kind: DecisionKind
    step: HealStep | None
    reason: str
    record: HealRecord
    action: dict[str, Any] | None = None
    proposed: dict[str, Any] | None = None
    """For an escalation caused by a limit: the action Guardian would have taken."""

    @property
    def needs_human(self) -> bool:
        return self.kind is DecisionKind.ESCALATE

    def to_dict(self) -> dict[str, Any]:
        return {
            "instance": self.instance_id,
            "kind": self.kind.value,
            "step": self.step.value if self.step else None,
            "reason": self.reason,
            "action": self.action,
            "proposed": self.proposed,
        }


def _when(t: datetime) -> str:
    return t.strftime("%H:%M UTC")


def _action(step: HealStep, facts: HealFacts) -> dict[str, Any]:
    spec = _SPEC[step]
    if step is HealStep.FAILOVER:
        return {"tool": "failover", "args": {"selector": {"accounts": [facts.account_id]}}}
    return {"tool": spec.tool, "args": {"selector": {"instances": [facts.instance_id]}, "component": spec.component}}


def _checked(decision: HealDecision) -> HealDecision:
    """The last gate: a decision naming a tool outside ALLOWED_TOOLS becomes an escalation (rule 7)."""
    for act in (decision.action, decision.proposed):
        if act is not None and act.get("tool") not in ALLOWED_TOOLS:
            rec = replace(decision.record, escalated_at=None)
            return HealDecision(
                decision.instance_id,
                DecisionKind.ESCALATE,
                HealStep.ESCALATE,
                f"refused {act.get('tool')}: auto-heal never deletes (rule 7)",
                rec,
            )
    return decision


def decide(
    facts: HealFacts,
    record: HealRecord | None,
    now: datetime,
    *,
    approval: StandingApproval | None = None,
    usage: RegionUsage | None = None,
) -> HealDecision:
    """The next heal move for one instance.  Pure: the returned record replaces the one passed in."""
    return _checked(
        _decide(
            facts, record or HealRecord(facts.instance_id), now, approval or StandingApproval(), usage or RegionUsage()
        )
    )


def _decide(
    facts: HealFacts, rec: HealRecord, now: datetime, approval: StandingApproval, usage: RegionUsage
) -> HealDecision:
    rec = rec.pruned(now)
    iid = facts.instance_id

    def none(reason: str, record: HealRecord = rec) -> HealDecision:
        return HealDecision(iid, DecisionKind.NONE, None, reason, record)

    def wait(reason: str, record: HealRecord = rec) -> HealDecision:
        return HealDecision(iid, DecisionKind.WAIT, record.step, reason, record)

    try:
        state = S(facts.state)
    except ValueError:
        return none(f"unknown state {facts.state!r}")
    if state not in HEALABLE_STATES:
        return none(f"{state} is not Guardian's to heal")
    health = facts.health
    if health.healthy:
        if rec.in_episode or rec.verdict is not None:
            recoveries = rec.recoveries + ((now,) if rec.acted else ())
            return none(
                "healthy again",
                HealRecord(iid, actions=rec.actions, recoveries=recoveries, escalated_at=rec.escalated_at),
            )
        return none("healthy")
    provider_outage = facts.provider_status == "outage"
    own = {r.code for r in health.reasons if r.penalty > 0} - _PROVIDER_CODES
    if not own and state is not S.FAILED:
        # Only the status page is unhappy; the box itself reports fine.  Moving a user off a working
        # gateway because of a notice is churn: watch, and act when the instance itself suffers.
        return wait(f"{facts.provider} reports trouble in {facts.region} but this instance reports fine; watching")
    if state is S.FAILED and facts.role != "primary" and facts.replacement_pending:
        return none("failed standby; a replacement standby is already queued")
    if facts.role != "primary" and (provider_outage or facts.region_suspect):
        return wait(
            f"{facts.region} looks down as a whole; this standby waits for the region (its user is still "
            "served by the primary) and the incident covers it"
        )
    if rec.escalated_at is not None and (now - rec.escalated_at).total_seconds() < T.ESCALATION_QUIET_S:
        return wait(f"escalated to Commander at {_when(rec.escalated_at)}; waiting for a human")
    if state is S.FAILED and facts.role != "primary":
        return _escalate(facts, rec, now, "the standby failed and no replacement is queued: the pair has no standby")
    if rec.blocked:
        return _escalate(facts, rec, now, rec.blocked)
    if len(rec.recoveries) >= T.FLAP_MAX_RECOVERIES:
        return _escalate(
            facts,
            rec,
            now,
            f"flapping: healed {len(rec.recoveries)}x in the last {format_duration(T.FLAP_WINDOW_S)} and sick again",
        )
    if len(rec.actions) >= T.INSTANCE_MAX_HEAL_ACTIONS:
        return _escalate(
            facts,
            rec,
            now,
            f"{len(rec.actions)} heal actions in the last {format_duration(T.FLAP_WINDOW_S)} did not hold",
        )
    if rec.next_allowed_at is not None and now < rec.next_allowed_at:
        doing = _SPEC[rec.step].what if rec.step else "the last step"
        return wait(f"giving '{doing}' until {_when(rec.next_allowed_at)} to take effect")

    # --- step 1: verify -------------------------------------------------------------------------------
    if rec.verdict is None:
        if facts.region_suspect and facts.provider_status is None and not provider_outage:
            # One status-page read serves the whole region (the sweep issues it as a region check, and
            # Guardian's cycle sweeps again at once with the answer, so no settle time is set here);
            # blaming each instance first would restart boxes that only share a broken datacentre.
            if rec.step is None:
                rec = replace(rec, step=HealStep.VERIFY, attempts=1, tried=(*rec.tried, "verify"))
            return HealDecision(
                iid,
                DecisionKind.WAIT,
                HealStep.VERIFY,
                f"many instances in {facts.region} are unhealthy: waiting for {facts.provider}'s "
                "status page before blaming the instance",
                rec,
            )
        if rec.step is not None:
            # The probe was sent and nobody recorded a verdict (or the record was rebuilt from the audit
            # log after a restart): the fresh sweep is the re-probe, and the climb continues where it was.
            verdict = Verdict.PROVIDER if provider_outage else Verdict.INSTANCE
            rec = replace(rec, verdict=verdict)
        elif provider_outage:
            rec = replace(
                rec,
                verdict=Verdict.PROVIDER,
                step=HealStep.VERIFY,
                attempts=1,
                tried=(*rec.tried, "verify: provider reports an outage"),
            )
        elif state is S.FAILED and facts.role == "primary" and facts.standby_ready and facts.missed_sweeps > 0:
            # Already judged dead over earlier sweeps and still silent: the silence is the verification.
            rec = replace(
                rec,
                verdict=Verdict.INSTANCE,
                step=HealStep.VERIFY,
                attempts=1,
                tried=(*rec.tried, f"verify: silent for {facts.missed_sweeps} sweeps"),
            )
        else:
            rec = replace(
                rec,
                step=HealStep.VERIFY,
                attempts=1,
                tried=(*rec.tried, "verify"),
                next_allowed_at=now + timedelta(seconds=_SPEC[HealStep.VERIFY].settle_s),
            )
            action = {"tool": "instance_diagnose", "args": {"target": iid}}
            return HealDecision(
                iid, DecisionKind.ACT, HealStep.VERIFY, f"verifying before acting: {health.explain()}", rec, action
            )
    if rec.verdict is Verdict.FALSE_ALARM:
        if rec.false_alarms >= 3:
            return _escalate(facts, rec, now, "the score and the re-probe disagree 3 times running")
        return wait(
            "the re-probe found it healthy; looking again next sweep", replace(rec, verdict=None, step=None, attempts=0)
        )

    # --- provider-level failure: restarts cannot help ------------------------------------------------
    if rec.verdict is Verdict.PROVIDER or provider_outage:
        if rec.step is HealStep.FAILOVER and rec.attempts >= _SPEC[HealStep.FAILOVER].max_attempts:
            return _escalate(
                facts, rec, now, f"{facts.provider} {facts.region} is down and the failover did not restore service"
            )
        if rec.step is HealStep.ESCALATE:
            return _escalate(facts, rec, now, "still unhealthy after the last escalation")
        return _climb_from(HealStep.FAILOVER, facts, rec, now, approval, usage, incident=True)

    # --- instance-level failure: climb --------------------------------------------------------------------
    if state is S.FAILED and facts.role == "primary" and facts.standby_ready and rec.step is not HealStep.ESCALATE:
        # The user is down now and a verified healthy standby is ready: serve them from it first (restarts and
        # reboots of a dead primary only delay that; the old box is replaced as a standby afterwards).
        return _climb_from(HealStep.FAILOVER, facts, rec, now, approval, usage, incident=False)
    costly = {r.code for r in health.reasons if r.penalty > 0}
    if costly and costly <= _NOT_FIXED_BY_RESTART:
        return _escalate(
            facts, rec, now, f"{health.explain()}: restarts will not fix this; it needs a cleanup or a resize"
        )
    if rec.step is HealStep.ESCALATE:
        return _escalate(facts, rec, now, "still unhealthy after the last escalation")
    start = HealStep.RESTART_GATEWAY
    if rec.step in _CLIMB:
        assert rec.step is not None
        spec = _SPEC[rec.step]
        start = rec.step if rec.attempts < spec.max_attempts else _CLIMB[_CLIMB.index(rec.step) + 1]
    return _climb_from(start, facts, rec, now, approval, usage, incident=False)


def _skip_reason(step: HealStep, facts: HealFacts) -> str | None:
    """Why ``step`` cannot help this instance now (None: it can)."""
    codes = facts.health.codes
    unreachable = facts.missed_sweeps > 0 or bool(codes & _UNREACHABLE_CODES) or bool(codes & _SERVER_DOWN_CODES)
    if step is HealStep.RESTART_GATEWAY:
        if unreachable:
            return "node unreachable"
        if "docker_down" in codes:
            return "docker is down"
        if "gateway_crash_loop" in codes:
            return "the gateway is crash-looping"
        return None
    if step is HealStep.RESTART_DOCKER:
        return "node unreachable" if unreachable else None
    if step is HealStep.FAILOVER:
        if facts.role != "primary":
            return "a standby has no standby to fail over to"
        if not facts.standby_ready:
            if facts.standby_id is None:
                return "there is no standby"
            return f"the standby {facts.standby_id} is {facts.standby_state} ({facts.standby_score})"
        return None
    return None


def _climb_from(
    start: HealStep,
    facts: HealFacts,
    rec: HealRecord,
    now: datetime,
    approval: StandingApproval,
    usage: RegionUsage,
    *,
    incident: bool,
) -> HealDecision:
    skipped: list[str] = []
    for step in _CLIMB[_CLIMB.index(start) :]:
        if step is HealStep.ESCALATE:
            break
        why_not = _skip_reason(step, facts)
        if why_not:
            skipped.append(f"{_SPEC[step].what.split(' if ')[0]} skipped: {why_not}")
            continue
        action = _action(step, facts)
        limit = _limit_hit(step, approval, usage, incident)
        if limit:
            return _escalate(facts, rec, now, limit, proposed=action, skipped=skipped)
        attempts = rec.attempts + 1 if rec.step is step else 1
        settle = _SPEC[step].settle_s * (2 ** (attempts - 1))
        new = replace(
            rec,
            step=step,
            attempts=attempts,
            tried=(*rec.tried, _SPEC[step].what.split(" if ")[0]),
            actions=(*rec.actions, now),
            acted=True,
            next_allowed_at=now + timedelta(seconds=settle),
            blocked=None,
        )
        why = f"step {_SPEC[step].number}, {_SPEC[step].what} (attempt {attempts}): {facts.health.explain()}"
        if skipped:
            why += "; " + "; ".join(skipped)
        return HealDecision(facts.instance_id, DecisionKind.ACT, step, why, new, action)
    tried = ", ".join(rec.tried) or "nothing"
    return _escalate(facts, rec, now, f"ladder exhausted (tried: {tried})", skipped=skipped)


def _limit_hit(step: HealStep, approval: StandingApproval, usage: RegionUsage, incident: bool) -> str | None:
    if not approval.enabled:
        return "the standing approval for self-healing is off: asking the operator"
    if step is HealStep.FAILOVER:
        cap = (
            approval.max_incident_failovers_per_region_per_hour
            if incident
            else approval.max_failovers_per_region_per_hour
        )
        if usage.failovers >= cap:
            return (
                f"standing approval limit reached: {usage.failovers} failovers in this region in the last hour "
                f"(limit {cap}); Guardian must stop and ask"
            )
    if step is HealStep.REBOOT_VPS and usage.reboots >= approval.max_reboots_per_region_per_hour:
        return (
            f"standing approval limit reached: {usage.reboots} reboots in this region in the last hour "
            f"(limit {approval.max_reboots_per_region_per_hour}); Guardian must stop and ask"
        )
    return None


def _escalate(
    facts: HealFacts,
    rec: HealRecord,
    now: datetime,
    why: str,
    *,
    proposed: dict[str, Any] | None = None,
    skipped: list[str] | None = None,
) -> HealDecision:
    tried = ", ".join(rec.tried) if rec.tried else "nothing yet"
    extra = ("; " + "; ".join(skipped)) if skipped else ""
    message = (
        f"{facts.instance_id} ({facts.account_id}, {facts.role} on {facts.provider} {facts.region}, "
        f"{facts.state}): {why}. Health {facts.health.explain()}. Tried: {tried}{extra}."
    )
    action = {"tool": "sessions_send", "args": {"agent": "commander", "message": message, "wait": False}}
    new = replace(
        rec,
        step=HealStep.ESCALATE,
        attempts=1,
        escalated_at=now,
        blocked=None,
        tried=(*rec.tried, "escalate"),
        next_allowed_at=now + timedelta(seconds=_SPEC[HealStep.ESCALATE].settle_s),
    )
    return HealDecision(facts.instance_id, DecisionKind.ESCALATE, HealStep.ESCALATE, why, new, action, proposed)


def record_verification(record: HealRecord, verdict: Verdict, now: datetime) -> HealRecord:
    """Store what step 1 found (the executor calls this after the re-probe / status-page read)."""
    if verdict is Verdict.FALSE_ALARM:
        return replace(
            record,
            verdict=verdict,
            false_alarms=record.false_alarms + 1,
            next_allowed_at=now + timedelta(seconds=T.SWEEP_INTERVAL_S),
        )
    return replace(record, verdict=verdict, next_allowed_at=None, false_alarms=0)


def note_result(record: HealRecord, status: str, detail: str = "") -> HealRecord:
    """Store how the executed action came back (``done | planned | refused | error``).

    ``planned`` means the policy engine wants a human and ``refused`` names a rule: both stop the
    climb, and the next decision escalates with the reason.  ``error`` counts as an attempt.
    """
    if status == "planned":
        return replace(record, blocked=f"the policy engine wants a human for this step ({detail or 'planned'})")
    if status == "refused":
        return replace(record, blocked=f"refused: {detail or 'policy'}")
    return record


@dataclass
class HealLedger:
    """Heal records and standing-approval usage, kept between sweeps by the Guardian service.

    In memory on purpose: the store has no table for it yet, and losing it on restart costs at most
    one extra rung per instance (the audit log keeps the full history).
    """

    approval: StandingApproval = field(default_factory=StandingApproval)
    records: dict[str, HealRecord] = field(default_factory=dict)
    _usage: dict[tuple[str, str], deque[datetime]] = field(default_factory=dict)

    def usage(self, region: str, now: datetime) -> RegionUsage:
        return RegionUsage(failovers=self._count("failover", region, now), reboots=self._count("reboot", region, now))

    def _count(self, kind: str, region: str, now: datetime) -> int:
        q = self._usage.get((kind, region))
        if not q:
            return 0
        cutoff = now - timedelta(hours=1)
        while q and q[0] <= cutoff:
            q.popleft()
        return len(q)

    def decide(self, facts: HealFacts, now: datetime) -> HealDecision:
        """:func:`decide` with this ledger's record and usage; keeps the new record and counts the action."""
        decision = decide(
            facts, self.records.get(facts.instance_id), now, approval=self.approval, usage=self.usage(facts.region, now)
        )
        if decision.record == HealRecord(facts.instance_id):
            self.records.pop(facts.instance_id, None)
        else:
            self.records[facts.instance_id] = decision.record
        if decision.kind is DecisionKind.ACT and decision.step in (HealStep.FAILOVER, HealStep.REBOOT_VPS):
            kind = "failover" if decision.step is HealStep.FAILOVER else "reboot"
            self._usage.setdefault((kind, facts.region), deque()).append(now)
        return decision

    def replay(
        self, instance_id: str, region: str, step: HealStep | None, at: datetime, *, recovered: bool = False
    ) -> None:
        """Re-apply one audited heal event (see :func:`engine.guardian.ledger_from_audit`)."""
        rec = self.records.get(instance_id) or HealRecord(instance_id)
        if recovered:
            rec = HealRecord(
                instance_id, actions=rec.actions, recoveries=(*rec.recoveries, at), escalated_at=rec.escalated_at
            )
        elif step is HealStep.ESCALATE:
            rec = replace(
                rec,
                step=step,
                attempts=1,
                escalated_at=at,
                tried=(*rec.tried, "escalate"),
                next_allowed_at=at + timedelta(seconds=_SPEC[step].settle_s),
            )
        elif step is not None:
            attempts = rec.attempts + 1 if rec.step is step else 1
            settle = _SPEC[step].settle_s * (2 ** (attempts - 1))
            mutating = step in _CLIMB
            rec = replace(
                rec,
                step=step,
                attempts=attempts,
                tried=(*rec.tried, _SPEC[step].what.split(" if ")[0]),
                next_allowed_at=at + timedelta(seconds=settle),
                actions=(*rec.actions, at) if mutating else rec.actions,
                acted=rec.acted or mutating,
            )
            if step in (HealStep.FAILOVER, HealStep.REBOOT_VPS):
                kind = "failover" if step is HealStep.FAILOVER else "reboot"
                self._usage.setdefault((kind, region), deque()).append(at)
        else:
            return
        self.records[instance_id] = rec

    def verified(self, instance_id: str, verdict: Verdict, now: datetime) -> None:
        rec = self.records.get(instance_id)
        if rec is not None:
            self.records[instance_id] = record_verification(rec, verdict, now)

    def result(self, instance_id: str, status: str, detail: str = "") -> None:
        rec = self.records.get(instance_id)
        if rec is not None:
            self.records[instance_id] = note_result(rec, status, detail)


def ladder_markdown() -> str:
    """The ladder as a Markdown table (step | tool | component | attempts | settle), the text skills quote."""
    lines = ["| step | action | tool | component | max attempts | settle |", "|---|---|---|---|---|---|"]
    for s in LADDER:
        lines.append(
            f"| {s.number} | {s.what} | {s.tool} | {s.component or '-'} | {s.max_attempts} | "
            f"{format_duration(s.settle_s)} |"
        )
    return "\n".join(lines) + "\n"


def skill_values() -> dict[str, str]:
    """Guardian's numbers as ``{{placeholder}}`` values for skill text (merge into the content loader's values).

    The auto-heal, failover, incident-response and provider-health skills quote these instead of
    writing numbers in prose, so the text cannot drift from what this package enforces.
    """
    return {
        "guardian_healthy_min": str(T.HEALTHY_MIN),
        "guardian_degraded_min": str(T.DEGRADED_MIN),
        "guardian_recovery_min": str(T.RECOVERY_MIN),
        "guardian_failed_after_missed_sweeps": str(T.FAILED_AFTER_MISSED_SWEEPS),
        "guardian_sweep_interval": format_duration(T.SWEEP_INTERVAL_S),
        "guardian_gateway_flapping_restarts": str(T.GATEWAY_FLAPPING_RESTARTS),
        "guardian_gateway_restart_window": format_duration(T.GATEWAY_RESTART_WINDOW_S),
        "guardian_disk_critical_percent": f"{T.DISK_CRITICAL_PERCENT:g}",
        "guardian_flap_max_recoveries": str(T.FLAP_MAX_RECOVERIES),
        "guardian_flap_window": format_duration(T.FLAP_WINDOW_S),
        "guardian_instance_max_heal_actions": str(T.INSTANCE_MAX_HEAL_ACTIONS),
        "guardian_escalation_quiet": format_duration(T.ESCALATION_QUIET_S),
        "guardian_region_failure_min_instances": str(T.REGION_FAILURE_MIN_INSTANCES),
        "guardian_region_failure_share_percent": f"{T.REGION_FAILURE_SHARE * 100:g}",
        "guardian_max_failovers_per_region_per_hour": str(T.MAX_FAILOVERS_PER_REGION_PER_HOUR),
        "guardian_max_incident_failovers_per_region_per_hour": str(T.MAX_INCIDENT_FAILOVERS_PER_REGION_PER_HOUR),
        "guardian_max_reboots_per_region_per_hour": str(T.MAX_REBOOTS_PER_REGION_PER_HOUR),
        "guardian_gateway_restart_attempts": str(_SPEC[HealStep.RESTART_GATEWAY].max_attempts),
        "guardian_unreachable_cap": str(T.UNREACHABLE_CAP),
        "guardian_heal_concurrency": str(T.HEAL_CONCURRENCY),
        "guardian_region_silence": format_duration(T.REGION_SILENCE_S),
        "guardian_region_silence_minutes": str(T.REGION_SILENCE_S // 60),
        "guardian_thresholds_table": T.thresholds_markdown().rstrip("\n"),
        "guardian_heal_ladder": ladder_markdown().rstrip("\n"),
    }
