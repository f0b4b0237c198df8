"""Scoped queries: the only way the operation layer reads instances.

Every query here takes the :class:`~engine.policy.Caller` and adds its tenant
scope in SQL (:func:`engine.tenancy.scoped`, which Ledger shares), so a
tenant-scoped operator cannot even count another tenant's instances (policy
rule 6 is then re-checked on the gathered targets).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from engine.domain import InstanceState, Selector
from engine.errors import NotFound
from engine.ledger import DEFAULT_USD_TO_EUR, finding_filter
from engine.policy import Caller
from engine.store import Account, Instance
from engine.tenancy import scoped

GONE_STATES = (InstanceState.DELETED.value,)


def apply_selector(stmt: Any, selector: Selector, *, usd_to_eur: float = DEFAULT_USD_TO_EUR) -> Any:
    """Turn a :class:`Selector` into WHERE clauses (AND of every key that is set)."""
    if selector.accounts:
        stmt = stmt.where(col(Instance.account_id).in_(selector.accounts))
    if selector.instances:
        stmt = stmt.where(col(Instance.id).in_(selector.instances))
    if selector.provider:
        stmt = stmt.where(col(Instance.provider) == selector.provider.value)
    if selector.region:
        stmt = stmt.where(col(Instance.region) == selector.region)
    if selector.geo:
        stmt = stmt.where(col(Instance.region).like(f"{selector.geo.value}-%"))
    if selector.tier:
        stmt = stmt.where(col(Instance.tier) == selector.tier.value)
    if selector.state:
        stmt = stmt.where(col(Instance.state) == selector.state.value)
    if selector.role:
        stmt = stmt.where(col(Instance.role) == selector.role.value)
    if selector.finding:
        stmt = _apply_finding(stmt, selector.finding, usd_to_eur)
    return stmt


def _apply_finding(stmt: Any, finding: str, usd_to_eur: float) -> Any:
    """Ledger's findings as SQL (the same rules its report uses), so "teardown the idle ones" acts on exactly
    the accounts the report named and can never widen to the whole fleet."""
    return stmt.where(finding_filter(finding, usd_to_eur=usd_to_eur))


def select_instances(
    session: Session,
    caller: Caller,
    selector: Selector,
    *,
    include_gone: bool = False,
    usd_to_eur: float = DEFAULT_USD_TO_EUR,
) -> list[Instance]:
    """Instances matching ``selector`` that ``caller`` may see, in a stable order."""
    stmt = apply_selector(scoped(select(Instance), caller), selector, usd_to_eur=usd_to_eur)
    if not include_gone:
        stmt = stmt.where(col(Instance.state).not_in(GONE_STATES))
    return list(session.exec(stmt.order_by(col(Instance.account_id), col(Instance.role))).all())


def count_by(session: Session, caller: Caller, selector: Selector) -> list[tuple[str, str, int]]:
    """``(provider, state, count)`` rows for the visible, matching, existing instances."""
    stmt = select(Instance.provider, Instance.state, func.count()).where(col(Instance.state).not_in(GONE_STATES))
    stmt = apply_selector(scoped(stmt, caller), selector).group_by(col(Instance.provider), col(Instance.state))
    return [(str(p), str(s), int(n)) for p, s, n in session.exec(stmt).all()]


def count_accounts(session: Session, caller: Caller, selector: Selector) -> int:
    stmt = select(func.count(func.distinct(Instance.account_id))).where(col(Instance.state).not_in(GONE_STATES))
    return int(session.exec(apply_selector(scoped(stmt, caller), selector)).one())


def resolve_target(session: Session, caller: Caller, target: str) -> tuple[Account, list[Instance]]:
    """An account id or instance id → the account and its instances (pair first, primary first).

    An id outside the caller's tenant is reported exactly like an unknown id, so
    a scoped operator learns nothing about other tenants.
    """
    key = target.strip().lower()
    account_id = key
    if key.startswith("i-"):
        inst = session.get(Instance, key)
        if inst is None or (caller.tenant_id is not None and inst.tenant_id != caller.tenant_id):
            raise NotFound(f"No instance {target} is visible to you; check the id (instances look like i-acct-042-p).")
        account_id = inst.account_id
    elif not key.startswith("acct-"):
        raise NotFound(f"'{target}' is not an account or instance id; use an id like acct-042 or i-acct-042-p.")
    account = session.get(Account, account_id)
    if account is None or (caller.tenant_id is not None and account.tenant_id != caller.tenant_id):
        raise NotFound(f"No account {target} is visible to you; check the id (accounts look like acct-042).")
    instances = list(
        session.exec(
            select(Instance)
            .where(col(Instance.account_id) == account.id)
            .order_by(col(Instance.role), col(Instance.created_at))
        ).all()
    )
    return account, instances
