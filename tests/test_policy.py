"""The policy engine: every rule is a named check, and each test tries to break one."""

from __future__ import annotations

import pytest

from engine.errors import PolicyRefusal
from engine.policy import (
    Caller,
    PolicyFacts,
    Role,
    evaluate,
    require_role,
    rule1_standby_before_teardown,
    rule2_rolling_config_push,
    rule4_status_page_before_incident,
    rule5_confirm_above_threshold,
    rule6_tenant_isolation,
    rule7_autoheal_never_deletes,
)
from engine.policy._rules import TargetFacts

OWNER = Caller("op-owner", "owner", Role.OWNER)
ACME = Caller("op-acme", "acme-ops", Role.OPERATOR, tenant_id="demo-acme")
VIEWER = Caller("op-v", "globex-viewer", Role.VIEWER, tenant_id="demo-globex")
GUARDIAN = Caller("op-owner", "owner", Role.OPERATOR, agent="guardian", autonomous=True)


def _targets(n: int, tenant: str = "demo-acme") -> list[TargetFacts]:
    return [TargetFacts(f"i-acct-{i:03d}-p", f"acct-{i:03d}", tenant, "primary", "DEGRADED") for i in range(n)]


@pytest.mark.parametrize(("users", "needs_human"), [(1, False), (10, False), (11, True), (500, True)])
def test_rule5_confirmation_above_ten_users(users: int, needs_human: bool) -> None:
    check = rule5_confirm_above_threshold(OWNER, PolicyFacts("restart", "mutate", affected_users=users))
    assert check.needs_human is needs_human


def test_rule5_threshold_cannot_be_raised_above_ten_even_if_asked() -> None:
    facts = PolicyFacts("restart", "mutate", affected_users=11, confirm_threshold=1000)
    assert rule5_confirm_above_threshold(OWNER, facts).needs_human


def test_rule5_stricter_threshold_applies() -> None:
    facts = PolicyFacts("restart", "mutate", affected_users=3, confirm_threshold=2)
    assert rule5_confirm_above_threshold(OWNER, facts).needs_human


def test_rule5_reads_never_need_confirmation() -> None:
    assert not rule5_confirm_above_threshold(OWNER, PolicyFacts("fleet_status", "read", affected_users=850)).needs_human


def test_rule6_scoped_operator_cannot_touch_another_tenant() -> None:
    facts = PolicyFacts("restart", "mutate", targets=[*_targets(2), *_targets(1, tenant="demo-globex")])
    with pytest.raises(PolicyRefusal) as info:
        rule6_tenant_isolation(ACME, facts)
    assert info.value.rule == "rule6_tenant_isolation" and "outside your tenant" in str(info.value)


def test_rule6_own_tenant_and_unscoped_owner_pass() -> None:
    assert rule6_tenant_isolation(ACME, PolicyFacts("restart", "mutate", targets=_targets(3))).passed
    mixed = PolicyFacts("restart", "mutate", targets=[*_targets(1), *_targets(1, "demo-globex")])
    assert rule6_tenant_isolation(OWNER, mixed).passed


def test_roles_viewer_cannot_mutate() -> None:
    with pytest.raises(PolicyRefusal, match="viewer and restart needs the operator role") as info:
        evaluate(VIEWER, PolicyFacts("restart", "mutate"), Role.OPERATOR)
    assert info.value.rule == "role"
    assert require_role(VIEWER, Role.VIEWER, "fleet_status").passed


def test_rule1_active_primary_with_bad_standby_cannot_be_torn_down() -> None:
    target = TargetFacts(
        "i-acct-001-p", "acct-001", "demo-acme", "primary", "ACTIVE", standby_state="FAILED", standby_healthy=False
    )
    with pytest.raises(PolicyRefusal, match="rule 1") as info:
        rule1_standby_before_teardown(OWNER, PolicyFacts("teardown", "mutate", targets=[target]))
    assert info.value.rule == "rule1_standby_before_teardown"
    healthy = TargetFacts(
        "i-acct-001-p", "acct-001", "demo-acme", "primary", "ACTIVE", standby_state="ACTIVE", standby_healthy=True
    )
    assert rule1_standby_before_teardown(OWNER, PolicyFacts("teardown", "mutate", targets=[healthy])).passed


def test_rule2_big_config_push_needs_small_batches() -> None:
    with pytest.raises(PolicyRefusal, match="rule 2"):
        rule2_rolling_config_push(OWNER, PolicyFacts("config_push", "mutate", config_targets=500))
    with pytest.raises(PolicyRefusal, match="rule 2"):
        rule2_rolling_config_push(OWNER, PolicyFacts("config_push", "mutate", config_targets=500, batch_size=250))
    assert rule2_rolling_config_push(
        OWNER, PolicyFacts("config_push", "mutate", config_targets=500, batch_size=50)
    ).passed


def test_rule4_incident_needs_the_status_page() -> None:
    with pytest.raises(PolicyRefusal, match="status page"):
        rule4_status_page_before_incident(OWNER, PolicyFacts("provider_health", "read", declares_incident=True))
    checked = PolicyFacts("provider_health", "read", declares_incident=True, status_page_checked=True)
    assert rule4_status_page_before_incident(OWNER, checked).passed


def test_rule7_autoheal_never_deletes() -> None:
    with pytest.raises(PolicyRefusal, match="auto-heal never deletes") as info:
        rule7_autoheal_never_deletes(GUARDIAN, PolicyFacts("teardown", "mutate", deletes_servers=True))
    assert info.value.rule == "rule7_autoheal_never_deletes"
    assert rule7_autoheal_never_deletes(GUARDIAN, PolicyFacts("restart", "mutate")).passed


def test_evaluate_runs_every_rule_and_reports_them() -> None:
    checks = evaluate(OWNER, PolicyFacts("restart", "mutate", affected_users=12, targets=_targets(12)), Role.OPERATOR)
    names = [c.rule for c in checks]
    assert names[0] == "role" and len([n for n in names if n.startswith("rule")]) == 7
    assert any(c.needs_human for c in checks)
