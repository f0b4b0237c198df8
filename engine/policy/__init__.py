"""The policy engine: seven named rules and operator roles, below every agent.

Nothing here trusts a prompt.  Each rule is a plain function over facts the
operation layer gathered from the store; it either passes, asks for a human
(``needs_human``) or raises :class:`~engine.errors.PolicyRefusal` naming itself.
The operation layer calls :func:`evaluate` for every tool call, read or write, and weighs each operator
turn as one decision with :func:`judge` (blast radius per turn and rolling window, who proposed it, whether
it can be undone) — see ``engine.policy._decision`` and the decision gate in ``engine.operations``.
"""

from engine.policy._decision import (
    AMENDED,
    Proposal,
    Verdict,
    WindowUse,
    WordScope,
    blast_radius,
    grounded,
    is_destructive,
    judge,
    model_initiated,
    scope_of,
)
from engine.policy._rules import (
    MAX_CONFIG_BATCH,
    RULES,
    Caller,
    PolicyCheck,
    PolicyFacts,
    Role,
    TargetFacts,
    evaluate,
    require_role,
    rule1_standby_before_teardown,
    rule2_rolling_config_push,
    rule3_audit_before_delete,
    rule4_status_page_before_incident,
    rule5_confirm_above_threshold,
    rule6_tenant_isolation,
    rule7_autoheal_never_deletes,
)

__all__ = [
    "AMENDED",
    "MAX_CONFIG_BATCH",
    "RULES",
    "Caller",
    "PolicyCheck",
    "PolicyFacts",
    "Proposal",
    "Role",
    "TargetFacts",
    "Verdict",
    "WindowUse",
    "WordScope",
    "blast_radius",
    "evaluate",
    "grounded",
    "is_destructive",
    "judge",
    "model_initiated",
    "require_role",
    "rule1_standby_before_teardown",
    "rule2_rolling_config_push",
    "rule3_audit_before_delete",
    "rule4_status_page_before_incident",
    "rule5_confirm_above_threshold",
    "rule6_tenant_isolation",
    "rule7_autoheal_never_deletes",
    "scope_of",
]
