"""The tenant scope of a query: where policy rule 6 becomes SQL.

Every read of instances adds the caller's tenant scope in the query itself, so a
tenant-scoped operator cannot even count another tenant's instances.  The
operation layer (``engine.operations``) and Ledger's cost analysis
(``engine.ledger``) both read that way; the scope lives here, below both, so that
neither needs the other for it (Ledger's findings are read by the operation
layer, never the reverse).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from engine.policy import Caller
from engine.store import Instance, Tenant

__all__ = ["is_demo", "scoped"]


def scoped(stmt: Any, caller: Caller) -> Any:
    """Add the caller's tenant scope to a statement over ``Instance``."""
    if caller.tenant_id is not None:
        stmt = stmt.where(col(Instance.tenant_id) == caller.tenant_id)
    return stmt


def is_demo(session: Session, caller: Caller) -> bool:
    """Whether the fleet the caller sees holds DEMO tenants (every reply about it then says DEMO)."""
    stmt = select(Tenant.is_demo)
    if caller.tenant_id is not None:
        stmt = stmt.where(col(Tenant.id) == caller.tenant_id)
    return any(session.exec(stmt).all())
