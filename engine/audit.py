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

import functools
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from sqlmodel import Session

from engine.errors import StoreError
from engine.store import AuditEntry, AuditHead, Store
from engine.text import default_redactor

__all__ = [
    "GENESIS_HASH",
    "Appended",
    "AuditProblem",
    "AuditReport",
    "append",
    "append_rows",
    "canonical",
    "entry_hash",
    "forget_head",
    "iter_entries",
    "verify",
]

GENESIS_HASH = "0" * 64
_COLUMNS = ("seq", "ts", "actor", "channel", "action", "target", "outcome", "detail", "prev_hash", "hash")


# One encoder, built once: ``json.dumps`` with options builds a new one per call (a fifth of verify's time).
# Same options, so the same text as ``json.dumps(value, sort_keys=True, separators=(",", ":"), ...)``.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical(value: Any) -> str:
    """The exact text an entry's ``detail`` is stored (and hashed) as."""
    return _ENCODER.encode(value)


_canonical = canonical  # the name older callers import


def entry_hash(
    prev_hash: str, seq: int, ts: str, actor: str, channel: str, action: str, target: str, outcome: str, detail: str
) -> str:
    """The hash of one entry given its predecessor's hash."""
    body = _canonical([seq, ts, actor, channel, action, target, outcome, detail])
    return hashlib.sha256(f"{prev_hash}|{body}".encode()).hexdigest()


# ---------------------------------------------------------------------------- the head hint
# Why a hint: reading the head before every append costs a round trip and, on SQLite, most of an append's
# time.  The hint is ``Store.audit_head``: the last (seq, hash) this process wrote through that store (the
# store's sessions carry it: ``session.info["store"]``).  The head row is moved with a compare-and-set
# (``UPDATE ... WHERE seq = hint AND hash = hint``), so a stale hint (another engine appended, the caller's
# transaction rolled back, someone edited the table) matches no row, and that append falls back to reading
# the head under a lock, exactly as without a hint.  The CAS UPDATE itself takes the same lock the
# ``SELECT ... FOR UPDATE`` took (the head row on PostgreSQL, the database write lock on SQLite), so
# concurrent engines still append strictly one after the other.


def forget_head(store: Store) -> None:
    """Drop ``store``'s head hint: its next append reads the head row again.

    Never needed for correctness (a stale head only costs a re-read); tests use it to exercise the slow path.
    """
    store.audit_head = None


def _store_of(session: Session) -> Store | None:
    """The store whose ``session()`` made ``session`` (None for a session made some other way: no hint)."""
    store = session.info.get("store")
    return store if isinstance(store, Store) else None


@dataclass(frozen=True, slots=True)
class _Sql:
    lock_head: str | None
    read_head: str
    ensure_head: str
    move_head: str
    cas_head: str
    insert_entry: str


def _sql(conn: Connection) -> _Sql:
    """Hand-written driver SQL for the hot path (compiling Core statements per call is most of its cost)."""
    return _statements(conn.dialect.name, conn.dialect.paramstyle)


@functools.cache
def _statements(dialect: str, paramstyle: str) -> _Sql:
    """The statements for one driver.  Cached as an immutable result of a pure function of its arguments (two
    dialects at most), so no engine's state lives here."""
    if dialect == "sqlite" or paramstyle == "named":
        mark = ":{}"
    elif paramstyle == "pyformat":
        mark = "%({})s"
    else:  # pragma: no cover - the store supports SQLite and psycopg, both above
        raise StoreError(f"The audit log does not support the {dialect} driver's parameter style.")
    lock = "" if dialect == "sqlite" else " FOR UPDATE"
    new_head = f"seq = {mark.format('new_seq')}, hash = {mark.format('new_hash')}"
    return _Sql(
        # SQLite has no FOR UPDATE and reads outside a write transaction: a no-op UPDATE takes the write
        # lock first, so no other process can move the head between our read and our write.
        lock_head="UPDATE audit_head SET id = id WHERE id = 1" if dialect == "sqlite" else None,
        read_head=f"SELECT seq, hash FROM audit_head WHERE id = 1{lock}",
        # The first append ever: every engine may race to create the head row; all but one do nothing.
        ensure_head=f"INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '{GENESIS_HASH}') "
        "ON CONFLICT (id) DO NOTHING",
        move_head=f"UPDATE audit_head SET {new_head} WHERE id = 1",
        cas_head=(
            f"UPDATE audit_head SET {new_head} "
            f"WHERE id = 1 AND seq = {mark.format('old_seq')} AND hash = {mark.format('old_hash')}"
        ),
        insert_entry=(
            f"INSERT INTO audit_entries ({', '.join(_COLUMNS)}) VALUES ({', '.join(mark.format(c) for c in _COLUMNS)})"
        ),
    )


Fields = tuple[str, str, str, str, str, str]
"""``(actor, channel, action, target, outcome, detail_text)`` of one entry to append."""


def _link(prev_seq: int, prev_hash: str, items: Sequence[Fields], ts: Sequence[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    seq, prev = prev_seq, prev_hash
    for (actor, channel, action, target, outcome, detail), stamp in zip(items, ts, strict=True):
        seq += 1
        digest = entry_hash(prev, seq, stamp, actor, channel, action, target, outcome, detail)
        rows.append(
            {
                "seq": seq,
                "ts": stamp,
                "actor": actor,
                "channel": channel,
                "action": action,
                "target": target,
                "outcome": outcome,
                "detail": detail,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    return rows


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _redacted(items: Sequence[Fields]) -> list[Fields]:
    """No secret is ever written into the chain, whoever appends: actor, target and detail text are scrubbed
    (any letter case) before the entry is hashed.  The detail is JSON text here, so it is matched as written."""
    red = default_redactor()
    return [
        (red.scrub_text(actor), channel, action, red.scrub_text(target), outcome, red.scrub_text(detail))
        for actor, channel, action, target, outcome, detail in items
    ]


def _locked_head(cursor: Any, sql: _Sql) -> tuple[Any, ...] | None:
    """The head row, read under its lock (None before the first append)."""
    if sql.lock_head is not None:
        cursor.execute(sql.lock_head)
    cursor.execute(sql.read_head)
    row: tuple[Any, ...] | None = cursor.fetchone()
    return row


def append_rows(session: Session, items: Sequence[Fields]) -> list[dict[str, Any]]:
    """Link ``items`` onto the chain inside ``session``'s transaction; returns the rows written.

    Common path (this process wrote the head last): one CAS UPDATE of the head and one INSERT.  Otherwise
    the head is read under its lock (``FOR UPDATE`` on PostgreSQL, the write lock on SQLite), and the
    entries are linked to what was read.
    """
    if not items:
        return []
    items = _redacted(items)
    conn = session.connection()
    sql = _sql(conn)
    store = _store_of(session)
    cached = store.audit_head if store is not None else None
    # The driver's own cursor on the transaction's connection: the statements are fixed, and going through
    # SQLAlchemy's execution context for each was a third of an append's CPU time.
    cursor = conn.connection.cursor()
    try:
        rows: list[dict[str, Any]] | None = None
        if cached is not None:
            rows = _link(cached[0], cached[1], items, [_now() for _ in items])
            cursor.execute(
                sql.cas_head,
                {"old_seq": cached[0], "old_hash": cached[1], "new_seq": rows[-1]["seq"], "new_hash": rows[-1]["hash"]},
            )
            if cursor.rowcount != 1:
                rows = None
        if rows is None:
            head = _locked_head(cursor, sql)
            if head is None:
                cursor.execute(sql.ensure_head)
                head = _locked_head(cursor, sql)
            prev_seq, prev_hash = (int(head[0]), str(head[1])) if head is not None else (0, GENESIS_HASH)
            rows = _link(prev_seq, prev_hash, items, [_now() for _ in items])  # stamped under the lock
            cursor.execute(sql.move_head, {"new_seq": rows[-1]["seq"], "new_hash": rows[-1]["hash"]})
        if len(rows) == 1:
            cursor.execute(sql.insert_entry, rows[0])
    finally:
        cursor.close()
    if len(rows) > 1:
        conn.execute(AuditEntry.__table__.insert(), rows)  # type: ignore[attr-defined]
    if store is not None:
        store.audit_head = (rows[-1]["seq"], rows[-1]["hash"])  # one assignment of an immutable pair: atomic
    return rows


@dataclass(frozen=True, slots=True)
class Appended:
    """Where an entry landed in the chain (not an ORM object: building one per append cost a quarter of it)."""

    seq: int
    ts: str
    hash: str


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str = "",
    outcome: str = "ok",
    channel: str = "cli",
    detail: dict[str, Any] | None = None,
) -> Appended:
    """Add one entry to the chain inside ``session``'s transaction; returns where it landed.

    Concurrent engines append one after the other: the head row is locked (PostgreSQL) or the write lock
    taken (SQLite) before the entry is linked, see :func:`append_rows`.  Plain driver SQL, not ORM objects:
    this runs for every decision the engine makes.
    """
    if detail:
        detail = default_redactor().scrub_value(
            detail
        )  # values seen through disguise (case, zero-width) before hashing
    (row,) = append_rows(session, [(actor, channel, action, target, outcome, _canonical(detail or {}))])
    return Appended(row["seq"], row["ts"], row["hash"])


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
    """All entries in chain order, streamed in batches (a million entries must not load at once).

    The driver's cursor, not SQLAlchemy result objects: verify reads every entry ever written.
    """
    last = 0
    with store.engine.connect() as conn:
        cursor = conn.connection.cursor()
        try:
            while True:
                # ``last`` is an int this loop read itself, so formatting it in is safe (and dialect-neutral).
                cursor.execute(
                    f"SELECT {', '.join(_COLUMNS)} FROM audit_entries WHERE seq > {int(last)} "
                    f"ORDER BY seq LIMIT {int(batch)}"
                )
                rows = cursor.fetchall()
                if not rows:
                    return
                for row in rows:
                    yield tuple(row)
                last = rows[-1][0]
        finally:
            cursor.close()


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
                return AuditReport(
                    count,
                    prev,
                    AuditProblem(expected_seq, f"Audit entry {missing} is missing: the chain jumps to {label}."),
                )
            return AuditReport(count, prev, AuditProblem(seq, f"Audit entry {label} is out of order."))
        if prev_hash != prev:
            return AuditReport(
                count,
                prev,
                AuditProblem(
                    seq, f"Audit entry {label} does not follow the entry before it (inserted, removed or reordered)."
                ),
            )
        if entry_hash(prev, seq, ts, actor, channel, action, target, outcome, detail) != stored:
            return AuditReport(
                count,
                prev,
                AuditProblem(seq, f"Audit entry {label} was edited: its contents no longer match its hash."),
            )
        prev = stored
        expected_seq += 1
        count += 1
    with store.session() as session:
        head = session.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    if head_seq != count or head_hash != prev:
        if head_seq > count:
            return AuditReport(
                count,
                prev,
                AuditProblem(count + 1, f"Audit entries after #{count} are missing: the chain head says #{head_seq}."),
            )
        return AuditReport(count, prev, AuditProblem(head_seq, "The audit chain head does not match the last entry."))
    return AuditReport(count, prev, None)
