"""Audit helpers on top of the hash chain (``engine.audit``): query, batched append, anchoring.

* :func:`query` — who did what: filters on actor, action, target and time,
  newest first; what ``clawops audit query`` and the ``audit_query`` tool show.
* :func:`append_many` — many entries in one transaction with one head update;
  the hashes are exactly :func:`engine.audit.entry_hash`'s, so ``verify`` cannot
  tell them from single appends.  For bulk writers (Guardian sweeps, imports).
* :func:`anchor` / :func:`check_anchor` — the chain's head (seq + hash) copied
  *outside* the store, to an append-only file.  Someone who can rewrite the
  database can cut entries off the end and rewrite the head row so that
  ``verify`` still passes; the anchor remembers that entry #N had hash H, so a
  chain that is now shorter, or whose #N differs, is caught.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from engine import audit as _chain
from engine.audit import GENESIS_HASH, AuditProblem, AuditReport, append_rows, canonical, verify
from engine.errors import InputError, PolicyRefusal
from engine.policy import Caller
from engine.store import AuditEntry, AuditHead, Store
from engine.text import default_redactor

__all__ = [
    "ANCHOR_FILE_NAME",
    "Anchor",
    "AuditDraft",
    "AuditRecord",
    "anchor",
    "append_many",
    "audit_query_tool",
    "check_anchor",
    "default_anchor_path",
    "parse_since",
    "query",
    "read_anchors",
    "record_anchor",
    "verify_anchored",
    "verify_with_anchor",
]

ANCHOR_FILE_NAME = "audit.anchor"
MAX_QUERY_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One entry as a query returns it."""

    seq: int
    ts: str
    actor: str
    channel: str
    action: str
    target: str
    outcome: str
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts,
            "actor": self.actor,
            "channel": self.channel,
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
            "detail": self.detail,
        }


_SINCE_RE = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """``30m``, ``24h``, ``7d``, ``2w`` ago, or an ISO date/time (UTC when no zone is given)."""
    value = text.strip()
    match = _SINCE_RE.fullmatch(value)
    if match:
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"'{value[:40]}' is not a time; use e.g. 24h, 7d or 2026-11-01.") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def query(
    store: Store,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
) -> list[AuditRecord]:
    """Entries matching every given filter, newest first.

    ``action`` matches exactly or as a dotted prefix (``refused`` finds
    ``refused.teardown``); ``actor`` matches the operator whether it acted itself
    or through an agent (``guardian@owner``).
    """
    if not 1 <= limit <= MAX_QUERY_LIMIT:
        raise InputError(f"limit must be between 1 and {MAX_QUERY_LIMIT}.")
    stmt = select(AuditEntry).order_by(col(AuditEntry.seq).desc()).limit(limit)
    if actor:
        stmt = stmt.where(
            (col(AuditEntry.actor) == actor)
            | col(AuditEntry.actor).endswith(f"@{actor}", autoescape=True)
            | col(AuditEntry.actor).startswith(f"{actor}@", autoescape=True)
        )
    if action:
        stmt = stmt.where(
            (col(AuditEntry.action) == action)
            | col(AuditEntry.action).startswith(f"{action.rstrip('.')}.", autoescape=True)
        )
    if target:
        stmt = stmt.where(col(AuditEntry.target) == target)
    if since is not None:
        stmt = stmt.where(col(AuditEntry.ts) >= since.astimezone(UTC).isoformat(timespec="microseconds"))
    with store.session() as s:
        rows = s.exec(stmt).all()
    out = []
    for r in rows:
        try:
            detail = json.loads(r.detail) if r.detail else {}
        except ValueError:
            detail = {"raw": r.detail}
        out.append(
            AuditRecord(
                r.seq,
                r.ts,
                r.actor,
                r.channel,
                r.action,
                r.target,
                r.outcome,
                detail if isinstance(detail, dict) else {"value": detail},
            )
        )
    return out


def audit_query_tool(store: Store, caller: Caller, args: Mapping[str, Any]) -> dict[str, Any]:
    """The ``audit_query`` tool's result for ``caller`` (args: actor, action, target, limit; since optional).

    The log spans every tenant, so a tenant-scoped caller is refused (rule 6);
    entries are scrubbed of secrets before they reach a model or a reply.
    """
    if caller.tenant_id is not None:
        raise PolicyRefusal(
            "rule6_tenant_isolation",
            "Refused by rule 6: the audit log spans every tenant, and "
            f"{caller.name} is scoped to {caller.tenant_id}; ask an unscoped operator.",
        )
    since = args.get("since")
    rows = query(
        store,
        actor=args.get("actor") or None,
        action=args.get("action") or None,
        target=args.get("target") or None,
        since=parse_since(str(since)) if since else None,
        limit=int(args.get("limit") or 50),
    )
    entries: list[dict[str, Any]] = default_redactor().scrub_value([r.to_dict() for r in rows])
    return {"count": len(entries), "entries": entries}


# ---------------------------------------------------------------------------- batched append
@dataclass(frozen=True, slots=True)
class AuditDraft:
    """One entry to append with :func:`append_many` (the same fields as ``engine.audit.append``)."""

    actor: str
    action: str
    target: str = ""
    outcome: str = "ok"
    channel: str = "cli"
    detail: Mapping[str, Any] | None = None


def append_many(session: Session, drafts: Iterable[AuditDraft]) -> int:
    """Append ``drafts`` in order inside ``session``'s transaction: one head move, one bulk insert.

    The same linking (and the same head lock and cache) as ``engine.audit.append``; see
    :func:`engine.audit.append_rows`.
    """
    items = [(d.actor, d.channel, d.action, d.target, d.outcome, canonical(dict(d.detail or {}))) for d in drafts]
    return len(append_rows(session, items))


# ---------------------------------------------------------------------------- anchoring
@dataclass(frozen=True, slots=True)
class Anchor:
    seq: int
    hash: str
    at: str


def anchor(store: Store, path: Path) -> Anchor:
    """Append the current head to ``path`` (one JSON line per anchor; created 0600)."""
    with store.session() as s:
        head = s.get(AuditHead, 1)
    record = Anchor(
        head.seq if head else 0, head.hash if head else GENESIS_HASH, datetime.now(UTC).isoformat(timespec="seconds")
    )
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps({"seq": record.seq, "hash": record.hash, "at": record.at}) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return record


def read_anchors(path: Path) -> list[Anchor]:
    """Every anchor in the file; unreadable lines are skipped (a torn last write must not block verify)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            data = json.loads(line)
            out.append(Anchor(int(data["seq"]), str(data["hash"]), str(data.get("at", ""))))
        except (ValueError, KeyError, TypeError):
            continue
    return out


def check_anchor(store: Store, path: Path) -> AuditProblem | None:
    """Compare the chain with the latest anchor: shorter than anchored, or a different hash at that seq."""
    anchors = read_anchors(path)
    if not anchors:
        return None
    last = max(anchors, key=lambda a: a.seq)
    if last.seq == 0:
        return None
    with store.session() as s:
        entry = s.get(AuditEntry, last.seq)
        head = s.get(AuditHead, 1)
    head_seq = head.seq if head else 0
    if entry is None or head_seq < last.seq:
        return AuditProblem(
            min(head_seq + 1, last.seq),
            f"The audit chain ends at #{head_seq} but was anchored at #{last.seq} on {last.at}: entries were cut off.",
        )
    if entry.hash != last.hash:
        return AuditProblem(
            last.seq, f"Audit entry #{last.seq} differs from the copy anchored on {last.at}: the chain was rewritten."
        )
    return None


def verify_with_anchor(store: Store, path: Path | None) -> AuditReport:
    """``engine.audit.verify`` plus the anchor check (the anchor finds truncation verify alone cannot)."""
    report = verify(store)
    if report.problem is not None or path is None:
        return report
    problem = check_anchor(store, path)
    return report if problem is None else AuditReport(report.entries, report.head_hash, problem)


ANCHOR_ACTION = "audit.anchor"
"""The chain's own record of each anchoring: after the first, a missing anchor file is a loud failure."""


def default_anchor_path(store_url: str) -> Path:
    """Where a store's anchor lives by default: the user's *state* directory, one file per store.

    Never inside ``$CLAWOPS_HOME`` beside the database, where one ``rm -r`` (or one stolen backup rewritten and
    restored) takes both; ``CLAWOPS_AUDIT_ANCHOR`` puts it anywhere else (another disk, a mounted WORM share).
    """
    import platformdirs

    where = store_url
    if where.startswith("sqlite:///"):
        where = "sqlite:///" + str(Path(where.removeprefix("sqlite:///")).expanduser().resolve())
    digest = hashlib.sha256(where.encode()).hexdigest()[:16]
    return Path(platformdirs.user_state_dir("clawops", appauthor=False)) / "anchors" / f"{digest}.anchor"


def record_anchor(store: Store, path: Path, *, actor: str = "system", channel: str = "audit") -> Anchor:
    """Anchor the head at ``path`` *and* say so in the chain (so the file can never silently go missing)."""
    with store.session() as s:
        _chain.append(s, actor=actor, channel=channel, action=ANCHOR_ACTION, target=str(path)[:500])
    return anchor(store, path)


def _last_recorded_anchor(store: Store) -> AuditRecord | None:
    rows = query(store, action=ANCHOR_ACTION, limit=1)
    return rows[0] if rows else None


def verify_anchored(store: Store, path: Path) -> AuditReport:
    """What ``audit verify`` (CLI and HTTP) answers: the chain, and the anchor outside the store.

    Fails when the chain is broken, when the anchor disagrees with it (cut off or rewritten), when the anchor
    file is missing although the chain says it was anchored, or when the file is older than the chain's last
    record of an anchoring (replaced or rolled back).  A chain never anchored is anchored now (first use).
    """
    report = verify(store)
    if not report.ok:
        return report
    anchors = read_anchors(path)
    recorded = _last_recorded_anchor(store)
    if not anchors:
        if recorded is not None:
            where = "there" if recorded.target == str(path)[:500] else f"at {recorded.target}"
            return AuditReport(
                report.entries,
                report.head_hash,
                AuditProblem(
                    recorded.seq,
                    f"The audit anchor {path} is missing, though the chain was anchored {where} "
                    f"(#{recorded.seq}, {recorded.ts[:19]}): restore the file or set "
                    "CLAWOPS_AUDIT_ANCHOR to where it is; until then a cut-off tail cannot be ruled out.",
                ),
            )
        if report.entries == 0:
            return report
        record_anchor(store, path)
        return verify(store)
    problem = check_anchor(store, path)
    if problem is not None:
        return AuditReport(report.entries, report.head_hash, problem)
    newest = max(a.seq for a in anchors)
    if recorded is not None and newest < recorded.seq:
        return AuditReport(
            report.entries,
            report.head_hash,
            AuditProblem(
                recorded.seq,
                f"The audit anchor {path} knows the chain only up to #{newest}, but it was anchored at "
                f"#{recorded.seq} on {recorded.ts[:19]}: the file was replaced or rolled back.",
            ),
        )
    return report
