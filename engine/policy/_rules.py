"""The rules themselves (ARCHITECTURE §3, contract): one function each, one name each."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from engine.errors import PolicyRefusal

MAX_CONFIG_BATCH = 100


class Role(StrEnum):
    """Operator roles, weakest first."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    OWNER = "owner"


_ROLE_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.OWNER: 2}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: an operator on a channel, or an agent acting for one.

    ``autonomous`` is true for Guardian's self-healing (no operator in the loop);
    ``agent`` names the agent that proposed the call, if any.
    """

    operator_id: str
    name: str
    role: Role
    tenant_id: str | None = None
    channel: str = "cli"
    agent: str | None = None
    autonomous: bool = False

    @property
    def actor(self) -> str:
        return f"{self.agent}@{self.name}" if self.agent else self.name


@dataclass(frozen=True, slots=True)
class PolicyCheck:
    """One rule's verdict on a plan, shown to the operator with the plan."""

    rule: str
    passed: bool
    needs_human: bool = False
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"rule": self.rule, "passed": self.passed, "needs_human": self.needs_human, "note": self.note}


@dataclass(frozen=True, slots=True)
class TargetFacts:
    """What the policy needs to know about one targeted instance."""

    instance_id: str
    account_id: str
    tenant_id: str
    role: str
    state: str
    standby_state: str | None = None
    standby_healthy: bool | None = None


@dataclass(frozen=True, slots=True)
class PolicyFacts:
    """Everything a rule may look at for one proposed tool call."""

    tool: str
    kind: str  # "read" | "mutate"
    targets: Sequence[TargetFacts] = ()
    affected_users: int = 0
    confirm_threshold: int = 10
    deletes_servers: bool = False
    batch_size: int | None = None
    config_targets: int = 0
    declares_incident: bool = False
    status_page_checked: bool = False
    extra: dict[str, object] = field(default_factory=dict)


def require_role(caller: Caller, needed: Role, tool: str) -> PolicyCheck:
    """Roles are checked on every operation: viewers read, operators act, owners administer."""
    if _ROLE_RANK[caller.role] < _ROLE_RANK[needed]:
        raise PolicyRefusal(
            "role",
            f"{caller.name} is {'an' if caller.role.value[0] in 'aeiou' else 'a'} {caller.role} and {tool} "
            f"needs the {needed} role; ask an owner to grant it.",
        )
    return PolicyCheck("role", True, note=f"{caller.role} may call {tool}")


def rule1_standby_before_teardown(caller: Caller, facts: PolicyFacts) -> PolicyCheck:
    """Rule 1: never tear down an ACTIVE primary unless its standby is ACTIVE and healthy."""
    name = "rule1_standby_before_teardown"
    if facts.tool != "teardown":
        return PolicyCheck(name, True, note="not a teardown")
    for t in facts.targets:
        if t.role == "primary" and t.state == "ACTIVE":
            teardown_whole_pair = any(o.account_id == t.account_id and o.role == "standby" for o in facts.targets)
            if teardown_whole_pair:
                continue  # the whole pair goes (account offboarding): nothing is left to protect
            if t.standby_state != "ACTIVE" or not t.standby_healthy:
                raise PolicyRefusal(
                    name,
                    f"Refused by rule 1: {t.instance_id} is an ACTIVE primary and its standby is "
                    f"{t.standby_state or 'missing'}{'' if t.standby_healthy else ' or unhealthy'}; "
                    "fail over or repair the standby first.",
                )
    return PolicyCheck(name, True, note="every ACTIVE primary keeps a healthy standby")


def rule2_rolling_config_push(caller: Caller, facts: PolicyFacts) -> PolicyCheck:
    """Rule 2: config to more than 100 instances only in validated rolling batches of at most 100."""
    name = "rule2_rolling_config_push"
    if facts.tool != "config_push":
        return PolicyCheck(name, True, note="not a config push")
    batch = facts.batch_size or facts.config_targets
    if facts.config_targets > MAX_CONFIG_BATCH and batch > MAX_CONFIG_BATCH:
        raise PolicyRefusal(
            name,
            f"Refused by rule 2: a config push to {facts.config_targets} instances must roll out in batches "
            f"of at most {MAX_CONFIG_BATCH}; set batch_size.",
        )
    return PolicyCheck(name, True, note=f"rolling batches of {min(batch, MAX_CONFIG_BATCH)}, health re-checked")


def rule3_audit_before_delete(caller: Caller, facts: PolicyFacts) -> PolicyCheck:
    """Rule 3: a provider delete/cancel is sent only after its audit entry is committed.

    The job runner enforces the order (audit commit, then the call); this check
    records the promise in the plan so the operator sees it.
    """
    name = "rule3_audit_before_delete"
    if not facts.deletes_servers:
        return PolicyCheck(name, True, note="no provider delete")
    if facts.extra.get("audit_written") is False:
        raise PolicyRefusal(name, "Refused by rule 3: the audit entry for this delete was not written; retry.")
    return PolicyCheck(name, True, note="each delete is audited before the provider is called")


def rule4_status_page_before_incident(caller: Caller, facts: PolicyFacts) -> PolicyCheck:
    """Rule 4: before declaring a widespread incident, check the provider's status page."""
    name = "rule4_status_page_before_incident"
    if facts.declares_incident and not facts.status_page_checked:
        raise PolicyRefusal(
            name, "Refused by rule 4: check the provider's status page before declaring a widespread incident."
        )
    return PolicyCheck(
        name, True, note="no incident declared" if not facts.declares_incident else "status page checked"
    )


def rule5_confirm_above_threshold(caller: Caller, facts: PolicyFacts) -> PolicyCheck:
    """Rule 5: an action affecting more than the threshold (never above 10) needs the operator's go."""
    name = "rule5_confirm_above_threshold"
    threshold = min(facts.confirm_threshold, 10)
    if facts.kind != "mutate":
        return PolicyCheck(name, True, note="read only")
    if facts.affected_users > threshold:
        return PolicyCheck(
            name,
            True,
            needs_human=True,
            note=f"affects {facts.affected_users} users (> {threshold}): needs your confirmation",
        )
    return PolicyCheck(name, True, note=f"affects {facts.affected_users} users (≤ {threshold})")


def rule6_tenant_isolation(caller: Caller, facts: PolicyFacts) -> PolicyCheck:
    """Rule 6: a tenant-scoped caller never reads or touches another tenant's instances.

    The store queries are already scoped; this is the second lock on the door,
    checked against the targets actually gathered.
    """
    name = "rule6_tenant_isolation"
    if caller.tenant_id is None:
        return PolicyCheck(name, True, note="unscoped operator")
    foreign = [t for t in facts.targets if t.tenant_id != caller.tenant_id]
    if foreign:
        raise PolicyRefusal(
            name,
            f"Refused by rule 6: {foreign[0].account_id} is outside your tenant ({caller.tenant_id}).",
        )
    return PolicyCheck(name, True, note=f"all targets in tenant {caller.tenant_id}")


def rule7_autoheal_never_deletes(caller: Caller, facts: PolicyFacts) -> PolicyCheck:
    """Rule 7: self-healing never deletes a VPS; it escalates to Commander instead."""
    name = "rule7_autoheal_never_deletes"
    if caller.autonomous and (facts.deletes_servers or facts.tool == "teardown"):
        raise PolicyRefusal(name, "Refused by rule 7: auto-heal never deletes a VPS; escalating to Commander instead.")
    return PolicyCheck(name, True, note="not an autonomous delete")


RULES = (
    rule1_standby_before_teardown,
    rule2_rolling_config_push,
    rule3_audit_before_delete,
    rule4_status_page_before_incident,
    rule5_confirm_above_threshold,
    rule6_tenant_isolation,
    rule7_autoheal_never_deletes,
)


def evaluate(caller: Caller, facts: PolicyFacts, min_role: Role) -> list[PolicyCheck]:
    """Run the role check and all seven rules; raise on the first refusal."""
    checks = [require_role(caller, min_role, facts.tool)]
    checks.extend(rule(caller, facts) for rule in RULES)
    return checks


def needs_human(checks: Iterable[PolicyCheck]) -> bool:
    return any(c.needs_human for c in checks)
