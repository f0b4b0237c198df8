"""The store: SQLModel tables on SQLite (default) or PostgreSQL, migrated by Alembic."""

from engine.store._db import HEAD_REVISION, Store, open_store, upgrade
from engine.store._models import (
    Account,
    AuditEntry,
    AuditHead,
    ConversationSession,
    Instance,
    JobRecord,
    JobStep,
    Operator,
    PlanRecord,
    Tenant,
    utcnow,
)

__all__ = [
    "HEAD_REVISION",
    "Account",
    "AuditEntry",
    "AuditHead",
    "ConversationSession",
    "Instance",
    "JobRecord",
    "JobStep",
    "Operator",
    "PlanRecord",
    "Store",
    "Tenant",
    "open_store",
    "upgrade",
    "utcnow",
]
