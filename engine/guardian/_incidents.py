"""Incidents and silences in the store: an outage is opened once, updated quietly, closed when it ends.

Grouping (:func:`engine.guardian.group_alerts`) turns 94 failures into one alert per sweep; this module
makes that one alert *one notification*: an incident row is opened the first time its key appears
(audited ``incident.open`` — the start of its timeline), updated while it lasts (audited only when it
grows or the provider confirms it), and closed (``incident.close``) on the first sweep without it.
Silences (``silence_alerts``, maintenance windows) are rows with a selector and an end time.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from engine import audit
from engine.guardian._alerts import Alert, AlertItem
from engine.store import Incident, Silence

__all__ = ["IncidentChanges", "active_silences", "silence_matcher", "track_incidents"]

ACTOR = "guardian"
CHANNEL = "guardian"
KEPT_DETAIL = ("reprovision",)
"""Incident detail keys written outside the sweep (by Guardian's cycle) that an update must keep."""


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def silence_matcher(selectors: Iterable[Mapping[str, Any]]) -> Callable[[AlertItem], bool]:
    """A predicate: does any selector mute this alert item?  Keys as in the contract's selector
    (``accounts``, ``instances``, ``provider``, ``region``, ``geo``, ``role``), combined with AND."""
    rules = [dict(s) for s in selectors]

    def muted(item: AlertItem) -> bool:
        for sel in rules:
            if not sel:
                continue  # an empty selector would mute everything: never by accident
            ok = True
            if "accounts" in sel and item.account_id not in (sel.get("accounts") or ()):
                ok = False
            if "instances" in sel and item.instance_id not in (sel.get("instances") or ()):
                ok = False
            if "provider" in sel and item.provider != sel["provider"]:
                ok = False
            if "region" in sel and item.region != sel["region"]:
                ok = False
            if "geo" in sel and not item.region.startswith(f"{sel['geo']}-"):
                ok = False
            if "role" in sel and item.role != sel["role"]:
                ok = False
            if ok:
                return True
        return False

    return muted


def active_silences(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Selectors of the silences still in force at ``now``."""
    rows = session.execute(select(col(Silence.selector), col(Silence.until))).all()
    return [dict(sel) for sel, until in rows if until is not None and _utc(until) > _utc(now) and isinstance(sel, dict)]


@dataclass
class IncidentChanges:
    """What changed in the incident table this sweep; ``opened`` is what the operator hears about."""

    opened: list[Alert] = field(default_factory=list)
    updated: list[Alert] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    """Keys of incidents that ended."""


def track_incidents(
    session: Session, alerts: Iterable[Alert], now: datetime, *, muted: Iterable[Alert] = ()
) -> IncidentChanges:
    """Open, update and close incident rows to match this sweep's incident alerts (in the caller's transaction).

    ``muted`` incidents (a silence or maintenance window covers them) are neither opened nor announced, but an
    already open one stays open: silencing a region mid-outage must not close its incident, or the operator
    would hear about the same outage again when the silence ends.
    """
    changes = IncidentChanges()
    current = {a.key: a for a in alerts if a.is_incident}
    quiet = {a.key for a in muted if a.is_incident and a.key not in current}
    open_rows = {
        r.key: r for r in session.execute(select(Incident).where(col(Incident.status) == "open")).scalars().all()
    }
    for key, alert in current.items():
        detail = {**alert.detail, "instances": len(alert.instance_ids), "sample": list(alert.instance_ids[:20])}
        row = open_rows.get(key)
        if row is None:
            row = Incident(
                id=f"inc-{secrets.token_hex(4)}",
                key=key,
                provider=alert.provider,
                region=alert.region,
                status="open",
                title=alert.title[:300],
                opened_at=now,
                detail=detail,
            )
            session.add(row)
            audit.append(
                session,
                actor=ACTOR,
                channel=CHANNEL,
                action="incident.open",
                target=row.id,
                outcome="open",
                detail={"key": key, "title": alert.title, **detail},
            )
            changes.opened.append(alert)
            continue
        before = dict(row.detail or {})
        for kept in KEPT_DETAIL:  # what the cycle wrote on the incident (re-provisioning) outlives each update
            if kept in before:
                detail[kept] = before[kept]
        grew = int(detail["instances"]) > int(before.get("instances", 0))
        confirmed = bool(detail.get("confirmed")) and not before.get("confirmed")
        row.title = alert.title[:300]
        row.detail = detail
        session.add(row)
        if grew or confirmed:
            audit.append(
                session,
                actor=ACTOR,
                channel=CHANNEL,
                action="incident.update",
                target=row.id,
                outcome="open",
                detail={
                    "key": key,
                    "title": alert.title,
                    "why": "provider confirmed" if confirmed else "grew",
                    **detail,
                },
            )
            changes.updated.append(alert)
    for key, row in open_rows.items():
        if key in current or key in quiet:
            continue
        row.status = "closed"
        row.closed_at = now
        session.add(row)
        audit.append(
            session,
            actor=ACTOR,
            channel=CHANNEL,
            action="incident.close",
            target=row.id,
            outcome="closed",
            detail={"key": key, "title": row.title},
        )
        changes.closed.append(key)
    session.flush()
    return changes
