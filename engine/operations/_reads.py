"""Read tools: ``fleet_status`` and ``instance_inspect``."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlmodel import Session, col, select

from engine.domain import InstanceState, Selector
from engine.operations._scope import (
    GONE_STATES,
    apply_selector,
    count_accounts,
    count_by,
    resolve_target,
)
from engine.policy import Caller
from engine.store import Instance
from engine.tenancy import is_demo, scoped

PROBLEM_STATES = tuple(
    s.value
    for s in (
        InstanceState.DEGRADED,
        InstanceState.FAILED,
        InstanceState.HEALING,
        InstanceState.ERROR,
        InstanceState.STANDBY_PROMOTING,
    )
)
STATE_ORDER = [s.value for s in InstanceState]
MAX_LISTED = 50


def instance_view(inst: Instance) -> dict[str, Any]:
    """The JSON shape of one instance in tool results."""
    return {
        "id": inst.id,
        "account": inst.account_id,
        "tenant": inst.tenant_id,
        "role": inst.role,
        "provider": inst.provider,
        "region": inst.region,
        "tier": inst.tier,
        "state": inst.state,
        "health_score": inst.health_score,
        "health_reason": inst.health_reason,
        "ipv4": inst.ipv4,
        "provider_server_id": inst.provider_server_id,
        "monthly_price": inst.monthly_price,
        "currency": inst.currency,
    }


def fleet_status(session: Session, caller: Caller, selector: Selector) -> dict[str, Any]:
    """Counts by state and provider, plus the instances that need attention."""
    by_state: dict[str, int] = defaultdict(int)
    by_provider: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    total = 0
    for provider, state, n in count_by(session, caller, selector):
        by_state[state] += n
        by_provider[provider][state] += n
        by_provider[provider]["total"] += n
        total += n
    problems_stmt = apply_selector(scoped(select(Instance), caller), selector).where(
        col(Instance.state).in_(PROBLEM_STATES)
    )
    if selector.state is not None and selector.state.value not in PROBLEM_STATES:
        problems_stmt = problems_stmt.where(col(Instance.state).not_in(GONE_STATES))
    problems = list(
        session.exec(problems_stmt.order_by(col(Instance.health_score), col(Instance.id)).limit(MAX_LISTED)).all()
    )
    problems_total = sum(n for s, n in by_state.items() if s in PROBLEM_STATES)
    return {
        "demo": is_demo(session, caller),
        "filters": selector.to_dict(),
        "instances": total,
        "accounts": count_accounts(session, caller, selector),
        "by_state": {s: by_state[s] for s in STATE_ORDER if by_state.get(s)},
        "by_provider": {
            p: {"total": c["total"], **{s: c[s] for s in STATE_ORDER if c.get(s)}}
            for p, c in sorted(by_provider.items(), key=lambda kv: -kv[1]["total"])
        },
        "problems": [instance_view(i) for i in problems],
        "problems_total": problems_total,
    }


def instance_inspect(session: Session, caller: Caller, target: str) -> dict[str, Any]:
    """One account's pair (or the pair of the named instance), in full."""
    account, instances = resolve_target(session, caller, target)
    return {
        "demo": is_demo(session, caller),
        "account": {
            "id": account.id,
            "tenant": account.tenant_id,
            "label": account.label,
            "last_session_at": account.last_session_at.isoformat() if account.last_session_at else None,
        },
        "target": target.strip().lower(),
        "instances": [instance_view(i) for i in instances],
    }
