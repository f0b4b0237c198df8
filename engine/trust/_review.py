"""Findings for the ``security-audit`` skill: pure reads that return lists, never act.

Each function answers one question an owner asks in a security review, with
thresholds as arguments (defaults are the usual 90-day rotation / 30-day idle
practice) and ``now`` injectable so tests and reports agree on the clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select

from engine.store import ApiKey, AuditEntry, HealthReportRecord, Operator, SecretRecord, Store, utcnow

__all__ = [
    "DueSecret",
    "InactiveOperator",
    "OutdatedNode",
    "StaleKey",
    "inactive_operators",
    "outdated_nodes",
    "secrets_due_for_rotation",
    "security_findings",
    "stale_keys",
]


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _days(delta: timedelta) -> int:
    return int(delta.total_seconds() // 86400)


@dataclass(frozen=True, slots=True)
class StaleKey:
    key_id: str
    operator: str
    reason: str  # "never used" | "idle" | "old"
    age_days: int
    idle_days: int


def stale_keys(
    store: Store, *, now: datetime | None = None, max_age_days: int = 90, idle_days: int = 30
) -> list[StaleKey]:
    """Active keys that were never used, have been idle ``idle_days``, or are older than ``max_age_days``."""
    now = now or utcnow()
    with store.session() as s:
        rows = s.exec(
            select(ApiKey, Operator.name)
            .join(Operator, col(Operator.id) == col(ApiKey.operator_id))
            .where(col(ApiKey.revoked_at).is_(None), col(Operator.revoked_at).is_(None))
        ).all()
    out = []
    for key, name in rows:
        created = _aware(key.created_at)
        used = _aware(key.last_used_at) if key.last_used_at else None
        age, idle = _days(now - created), _days(now - (used or created))
        if used is None and idle >= idle_days:
            reason = "never used"
        elif idle >= idle_days:
            reason = "idle"
        elif age >= max_age_days:
            reason = "old"
        else:
            continue
        out.append(StaleKey(key.id, name, reason, age, idle))
    return sorted(out, key=lambda k: (-k.idle_days, k.key_id))


@dataclass(frozen=True, slots=True)
class InactiveOperator:
    name: str
    role: str
    last_seen: datetime | None
    """Latest audit entry by this operator (directly or via an agent) or key use; None = never."""


def inactive_operators(store: Store, *, now: datetime | None = None, days: int = 30) -> list[InactiveOperator]:
    """Active operators with no audited activity and no key use in the last ``days`` days."""
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    with store.session() as s:
        ops = s.exec(select(Operator).where(col(Operator.revoked_at).is_(None))).all()
        by_actor = s.exec(select(AuditEntry.actor, func.max(AuditEntry.ts)).group_by(col(AuditEntry.actor))).all()
        key_use = s.exec(
            select(ApiKey.operator_id, func.max(ApiKey.last_used_at)).group_by(col(ApiKey.operator_id))
        ).all()
    seen: dict[str, datetime] = {}
    for actor, ts in by_actor:
        name = str(actor).rsplit("@", 1)[-1]
        when = _aware(datetime.fromisoformat(str(ts)))
        if name not in seen or when > seen[name]:
            seen[name] = when
    used = {op_id: _aware(when) for op_id, when in key_use if when is not None}
    out = []
    for op in ops:
        candidates = [t for t in (seen.get(op.name), used.get(op.id)) if t is not None]
        last = max(candidates) if candidates else None
        if last is None:
            if _aware(op.created_at) <= cutoff:
                out.append(InactiveOperator(op.name, op.role, None))
        elif last <= cutoff:
            out.append(InactiveOperator(op.name, op.role, last))
    return sorted(out, key=lambda o: o.name)


@dataclass(frozen=True, slots=True)
class DueSecret:
    name: str
    key_version: int
    age_days: int
    reason: str  # "old" | "old key version"


def secrets_due_for_rotation(
    store: Store, *, now: datetime | None = None, max_age_days: int = 90, current_key_version: int | None = None
) -> list[DueSecret]:
    """Secrets not set or re-encrypted for ``max_age_days``, or still under an older key version."""
    now = now or utcnow()
    with store.session() as s:
        rows = s.exec(select(SecretRecord).order_by(col(SecretRecord.name))).all()
    out = []
    for r in rows:
        age = _days(now - _aware(r.rotated_at or r.created_at))
        if current_key_version is not None and r.key_version != current_key_version:
            out.append(DueSecret(r.name, r.key_version, age, "old key version"))
        elif age >= max_age_days:
            out.append(DueSecret(r.name, r.key_version, age, "old"))
    return out


@dataclass(frozen=True, slots=True)
class OutdatedNode:
    instance_id: str
    version: str


def _version_tuple(text: str) -> tuple[int, ...] | None:
    parts = re.findall(r"\d+", text)
    return tuple(int(p) for p in parts[:3]) if parts else None


def outdated_nodes(store: Store, minimum: str) -> list[OutdatedNode]:
    """Instances whose latest health report names a clawnode version below ``minimum``.

    Reads ``version`` (or ``node_version``) from the report payload; reports
    without a version are not listed (nothing to say about them).
    """
    floor = _version_tuple(minimum)
    if floor is None:
        return []
    with store.session() as s:
        rows = s.exec(select(HealthReportRecord)).all()
    out = []
    for r in rows:
        raw = r.payload.get("version") or r.payload.get("node_version")
        found = _version_tuple(str(raw)) if raw else None
        if found is not None and found < floor:
            out.append(OutdatedNode(r.instance_id, str(raw)))
    return sorted(out, key=lambda n: n.instance_id)


def security_findings(
    store: Store,
    *,
    now: datetime | None = None,
    current_key_version: int | None = None,
    min_node_version: str | None = None,
) -> dict[str, list[dict[str, object]]]:
    """All findings as one JSON-able object (what a ``security-audit`` tool call returns)."""
    now = now or utcnow()

    def iso(dt: datetime | None) -> str | None:
        return dt.isoformat() if dt else None

    return {
        "stale_keys": [
            {
                "key": k.key_id,
                "operator": k.operator,
                "reason": k.reason,
                "age_days": k.age_days,
                "idle_days": k.idle_days,
            }
            for k in stale_keys(store, now=now)
        ],
        "inactive_operators": [
            {"operator": o.name, "role": o.role, "last_seen": iso(o.last_seen)}
            for o in inactive_operators(store, now=now)
        ],
        "secrets_due_for_rotation": [
            {"secret": d.name, "key_version": d.key_version, "age_days": d.age_days, "reason": d.reason}
            for d in secrets_due_for_rotation(store, now=now, current_key_version=current_key_version)
        ],
        "outdated_nodes": [
            {"instance": n.instance_id, "version": n.version}
            for n in (outdated_nodes(store, min_node_version) if min_node_version else [])
        ],
    }
