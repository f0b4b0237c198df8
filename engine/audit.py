"""The tamper-evident audit log: a SHA-256 hash chain over every decision.

Each entry's hash covers its own fields *and* the previous entry's hash, so
editing, deleting, inserting or reordering any entry breaks the chain at that
point, and :func:`verify` names the first bad entry.  A one-row head table
holds the latest link, so cutting entries off the end is detected too (unless
the head is rewritten as well — anchoring the head outside the store, issue
on trust, closes that gap).

Appends happen inside the caller's transaction: an action and its audit entry
commit together or not at all.  Policy rule 3 relies on this: the entry for a
provider delete is committed *before* the delete is sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlmodel import Session, col

from engine.store import AuditEntry, AuditHead, Store

__all__ = ["GENESIS_HASH", "AuditProblem", "AuditReport", "append", "entry_hash", "iter_entries", "verify"]

GENESIS_HASH = "0" * 64


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(
    prev_hash: str, seq: int, ts: str, actor: str, channel: str, action: str, target: str, outcome: str, detail: str
) -> str:
    """The hash of one entry given its predecessor's hash."""
    body = _canonical([seq, ts, actor, channel, action, target, outcome, detail])
    return hashlib.sha256(f"{prev_hash}|{body}".encode()).hexdigest()


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str = "",
    outcome: str = "ok",
    channel: str = "cli",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one entry to the chain inside ``session``'s transaction.

    The head row is read ``FOR UPDATE`` (PostgreSQL) so concurrent engines
    append one after the other; on SQLite the write lock does the same.  Plain
    SQL statements, not ORM objects: this runs for every decision the engine makes.
    """
    head = session.execute(
        select(col(AuditHead.seq), col(AuditHead.hash)).where(col(AuditHead.id) == 1).with_for_update()
    ).first()
    prev_seq, prev_hash = (int(head[0]), str(head[1])) if head is not None else (0, GENESIS_HASH)
    seq = prev_seq + 1
    ts = datetime.now(UTC).isoformat(timespec="microseconds")
    detail_text = _canonical(detail or {})
    digest = entry_hash(prev_hash, seq, ts, actor, channel, action, target, outcome, detail_text)
    values: dict[str, Any] = {"seq": seq, "ts": ts, "actor": actor, "channel": channel, "action": action, "target": target,
              "outcome": outcome, "detail": detail_text, "prev_hash": prev_hash, "hash": digest}
    session.execute(insert(AuditEntry).values(**values))
    if head is None:
        session.execute(insert(AuditHead).values(id=1, seq=seq, hash=digest))
    else:
        session.execute(update(AuditHead).where(col(AuditHead.id) == 1).values(seq=seq, hash=digest))
    return AuditEntry(**values)


@dataclass(frozen=True, slots=True)
class AuditProblem:
    """The first place the chain breaks, in words an operator can act on."""

    seq: int
    message: str


@dataclass(frozen=True, slots=True)
class AuditReport:
    entries: int
    head_hash: str
    problem: AuditProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def iter_entries(store: Store, batch: int = 5000) -> Iterator[tuple[int, str, str, str, str, str, str, str, str, str]]:
    """All entries in chain order, streamed in batches (a million entries must not load at once)."""
    last = 0
    columns: tuple[Any, ...] = (
        AuditEntry.seq, AuditEntry.ts, AuditEntry.actor, AuditEntry.channel, AuditEntry.action,
        AuditEntry.target, AuditEntry.outcome, AuditEntry.detail, AuditEntry.prev_hash, AuditEntry.hash,
    )
    with store.engine.connect() as conn:
        while True:
            rows = conn.execute(
                select(*columns).where(col(AuditEntry.seq) > last).order_by(col(AuditEntry.seq)).limit(batch)
            ).all()
            if not rows:
                return
            for row in rows:
                yield tuple(row)
            last = rows[-1][0]


def verify(store: Store) -> AuditReport:
    """Walk the whole chain; report the first entry that was edited, removed, inserted or moved."""
    expected_seq = 1
    prev = GENESIS_HASH
    count = 0
    for seq, ts, actor, channel, action, target, outcome, detail, prev_hash, stored in iter_entries(store):
        label = f"#{seq} ({action} by {actor} at {ts})"
        if seq != expected_seq:
            if seq > expected_seq:
                missing = f"#{expected_seq}" if seq == expected_seq + 1 else f"#{expected_seq}–#{seq - 1}"
                return AuditReport(count, prev, AuditProblem(expected_seq, f"Audit entry {missing} is missing: the chain jumps to {label}."))
            return AuditReport(count, prev, AuditProblem(seq, f"Audit entry {label} is out of order."))
        if prev_hash != prev:
            return AuditReport(
                count, prev,
                AuditProblem(seq, f"Audit entry {label} does not follow the entry before it (inserted, removed or reordered)."),
            )
        if entry_hash(prev, seq, ts, actor, channel, action, target, outcome, detail) != stored:
            return AuditReport(count, prev, AuditProblem(seq, f"Audit entry {label} was edited: its contents no longer match its hash."))
        prev = stored
        expected_seq += 1
        count += 1
    with store.session() as session:
        head = session.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    if head_seq != count or head_hash != prev:
        if head_seq > count:
            return AuditReport(
                count, prev,
                AuditProblem(count + 1, f"Audit entries after #{count} are missing: the chain head says #{head_seq}."),
            )
        return AuditReport(count, prev, AuditProblem(head_seq, "The audit chain head does not match the last entry."))
    return AuditReport(count, prev, None)
