"""The Guardian sweep: score every instance, move states, decide heals, group alerts.

One call does one sweep over the whole fleet:

1. read every non-deleted instance (one read, plain columns: 10,000 rows must stay cheap);
2. score each from its latest report (reports that fail the sanity checks are rejected with a logged
   reason and the instance is scored as if that report never came);
3. notice provider regions where many instances are unhealthy at once;
4. move states through the transition table — ACTIVE → DEGRADED below the healthy band, DEGRADED /
   HEALING → ACTIVE at RECOVERY_MIN, → FAILED after FAILED_AFTER_MISSED_SWEEPS silent sweeps — and ask
   the heal tree for the next move of every unhealthy instance;
5. write scores, state moves and their audit entries, one transaction per batch, each move
   conditional on the state read in step 1 (a failover that ran meanwhile wins);
6. group what needs a human into alerts: one incident per sick provider region, not one per instance,
   minus what stored silences mute; keep the incident table in step (opened once, closed when over).

The result is silent (``summary is None``) unless something new needs a human.  Suspect regions come
back as ``region_checks`` (one ``provider_health`` call each, policy rule 4); run them and pass the
answers as ``provider_signals`` to the next sweep (or sweep again at once).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import String, Table, bindparam, select, text, type_coerce, update
from sqlmodel import col

from engine import audit
from engine.domain import InstanceState, check_transition
from engine.errors import IllegalTransition
from engine.guardian import _thresholds as T
from engine.guardian._alerts import Alert, AlertItem, group_alerts, region_suspect
from engine.guardian._heal import DecisionKind, HealDecision, HealFacts, HealLedger, HealStep, StandingApproval
from engine.guardian._incidents import IncidentChanges, active_silences, silence_matcher
from engine.guardian._incidents import track_incidents as _track
from engine.guardian._score import (
    Band,
    HealthReport,
    HealthScore,
    ProviderSignal,
    accept_report,
    missed_sweeps_since,
    score,
)
from engine.store import AuditEntry, Instance, Store

__all__ = ["SweepResult", "Transition", "ledger_from_audit", "sweep"]

log = logging.getLogger("engine.guardian")
S = InstanceState

ACTOR = "guardian"
CHANNEL = "guardian"
#: States whose node is expected to report; silence in these counts as missed sweeps.
REPORTING_STATES = frozenset({S.ACTIVE, S.DEGRADED, S.HEALING})
#: States the sweep may move (FAILED is sticky: bringing a failed box back is a human's or a job's call).
_MOVABLE = frozenset({S.ACTIVE, S.DEGRADED, S.HEALING})
_PENDING_STANDBY = frozenset(
    {S.REQUESTED.value, S.CREATING.value, S.BOOTSTRAPPING.value, S.ACTIVE.value, S.DEGRADED.value, S.HEALING.value}
)


@dataclass(frozen=True, slots=True)
class Transition:
    """One state move the sweep made (or tried: ``applied`` is False if the row moved meanwhile)."""

    instance_id: str
    from_state: str
    to_state: str
    score: int
    reason: str
    applied: bool = True


@dataclass
class SweepResult:
    """What one sweep saw and did."""

    at: datetime
    scored: int = 0
    skipped: int = 0
    bands: dict[str, int] = field(default_factory=dict)
    scores: dict[str, HealthScore] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)
    decisions: list[HealDecision] = field(default_factory=list)
    """Every decision that is not "nothing to do" (acts, waits and escalations)."""
    recovered: list[str] = field(default_factory=list)
    """Instances a heal brought back this sweep (audited; counted for flapping)."""
    rejected: list[tuple[str, str]] = field(default_factory=list)
    """(instance id, why) for every report the sanity checks refused."""
    suspect_regions: list[str] = field(default_factory=list)
    region_checks: list[dict[str, Any]] = field(default_factory=list)
    """One ``provider_health`` call per suspect region whose status page was not read yet (policy rule 4):
    run them and pass the answers as ``provider_signals`` to the next sweep."""
    alerts: list[Alert] = field(default_factory=list)
    """Everything that needs a human now, grouped (an ongoing incident appears every sweep)."""
    muted: list[Alert] = field(default_factory=list)
    """Alerts a silence or maintenance window mutes: Guardian still handles them; an open incident stays open."""
    incidents: IncidentChanges | None = None
    """Incident rows opened, updated and closed (None when the sweep did not track incidents)."""

    @property
    def actions(self) -> list[HealDecision]:
        return [d for d in self.decisions if d.kind is DecisionKind.ACT]

    @property
    def escalations(self) -> list[HealDecision]:
        return [d for d in self.decisions if d.kind is DecisionKind.ESCALATE]

    @property
    def notify(self) -> list[Alert]:
        """What to tell the operator now: new incidents (not every sweep of an ongoing one) and instance alerts."""
        if self.incidents is None:
            return list(self.alerts)
        fresh = {a.key for a in self.incidents.opened}
        return [a for a in self.alerts if not a.is_incident or a.key in fresh]

    @property
    def needs_human(self) -> bool:
        return bool(self.notify)

    @property
    def summary(self) -> str | None:
        """One line for the operator, or None: a sweep where Guardian handled everything stays silent."""
        if not self.needs_human:
            return None
        parts = []
        degraded = self.bands.get(Band.DEGRADED.value, 0) + self.bands.get(Band.CRITICAL.value, 0)
        if degraded:
            parts.append(f"{degraded} degraded")
        failed = self.bands.get(Band.FAILED.value, 0)
        failed_now = sum(1 for t in self.transitions if t.applied and t.to_state == S.FAILED.value)
        if failed:
            parts.append(f"{failed} failed" + (f" ({failed_now} new)" if failed_now and failed_now != failed else ""))
        handling = sum(1 for d in self.decisions if d.kind in (DecisionKind.ACT, DecisionKind.WAIT))
        if handling:
            parts.append(f"Guardian healing {handling} on its own")
        if self.escalations:
            parts.append(f"{len(self.escalations)} escalated to Commander")
        incidents = [a for a in self.notify if a.is_incident]
        lead = "; ".join(a.title for a in incidents[:3])
        counts = ", ".join(parts) or "attention needed"
        return f"Guardian sweep: {counts}." + (f" Incident: {lead}." if lead else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(timespec="seconds"),
            "scored": self.scored,
            "skipped": self.skipped,
            "bands": dict(self.bands),
            "transitions": [asdict(t) for t in self.transitions],
            "decisions": [d.to_dict() for d in self.decisions],
            "rejected": list(self.rejected),
            "suspect_regions": list(self.suspect_regions),
            "region_checks": list(self.region_checks),
            "alerts": [
                {"key": a.key, "severity": a.severity, "title": a.title, "instances": len(a.instance_ids)}
                for a in self.alerts
            ],
            "notify": [a.key for a in self.notify],
            "muted": [a.key for a in self.muted],
            "incidents": None
            if self.incidents is None
            else {
                "opened": [a.key for a in self.incidents.opened],
                "updated": [a.key for a in self.incidents.updated],
                "closed": list(self.incidents.closed),
            },
            "summary": self.summary,
        }


@dataclass(slots=True)
class _Row:
    id: str
    account_id: str
    role: str
    provider: str
    region: str
    state: str
    health_score: int | None
    health_reason: str
    last_report_at: datetime | str | None
    updated_at: datetime | str | None


def _target_state(state: S, health: HealthScore) -> S:
    if state not in _MOVABLE:
        return state
    if health.band is Band.FAILED:
        return S.FAILED
    if state is S.ACTIVE and health.band is not Band.HEALTHY:
        return S.DEGRADED
    if state in (S.DEGRADED, S.HEALING) and health.value >= T.RECOVERY_MIN:
        return S.ACTIVE
    return state


def _utc(value: datetime | str | None) -> datetime | None:
    """A stored timestamp as an aware UTC datetime (the store keeps UTC; SQLite hands back naive text)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _later(t: datetime | None, floor: datetime | None) -> datetime | None:
    if t is None or floor is None:
        return t if t is not None else floor
    return max(t, floor)


def sweep(
    store: Store,
    reports: Mapping[str, HealthReport],
    now: datetime,
    *,
    ledger: HealLedger | None = None,
    provider_signals: Mapping[str, ProviderSignal] | None = None,
    silenced: Collection[str] = (),
    track_incidents: bool = True,
    batch_size: int = 2000,
    watching_since: datetime | None = None,
) -> SweepResult:
    """One sweep over every non-deleted instance (see the module docstring).

    ``reports`` maps instance id → the latest report the engine holds for it; ``provider_signals`` maps
    a region name → what its provider says (status page, usually only for suspect regions);
    ``ledger`` carries heal records and standing-approval usage from one sweep to the next (pass the
    same one every time; without one, it is rebuilt from the last hour of the audit log, so a restarted
    or second engine keeps the limits); ``silenced`` mutes alerts by provider, region, account or instance id, on top
    of the silences stored by ``silence_alerts``.  With ``track_incidents`` the incident table is kept
    in step (opened once, closed when over) and :attr:`SweepResult.notify` holds only what is new.
    ``watching_since`` is when this engine started listening for node reports: silence before it is not
    counted, so an engine that was down for an hour does not find the whole fleet "unreachable" and fail
    it over the moment it comes back.
    """
    now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    ledger = ledger if ledger is not None else ledger_from_audit(store, now)
    signals = provider_signals or {}
    result = SweepResult(at=now)
    floor = _utc(watching_since)

    # 1. read ------------------------------------------------------------------------------------------
    seen_col: Any = Instance.last_report_at
    updated_col: Any = Instance.updated_at
    if store.is_sqlite:
        # Raw ISO text, parsed only where needed: SQLAlchemy's SQLite datetime parsing of 20,000 values
        # costs more than the whole scoring pass.
        seen_col, updated_col = type_coerce(seen_col, String), type_coerce(updated_col, String)
    cols: tuple[Any, ...] = (
        Instance.id,
        Instance.account_id,
        Instance.role,
        Instance.provider,
        Instance.region,
        Instance.state,
        Instance.health_score,
        Instance.health_reason,
        seen_col,
        updated_col,
    )
    stored_silences: list[dict[str, Any]] = []
    with store.session() as s:
        if track_incidents:
            stored_silences = active_silences(s, now)
        raw = s.connection().execute(select(*cols).where(col(Instance.state) != S.DELETED.value)).all()
    rows = [_Row(*r) for r in raw]

    # 2. score -----------------------------------------------------------------------------------------
    scores: dict[str, HealthScore] = {}
    missed_of: dict[str, int] = {}
    fresh: dict[str, datetime] = {}
    region_total: dict[str, int] = defaultdict(int)
    region_bad: dict[str, int] = defaultdict(int)
    for row in rows:
        try:
            state = S(row.state)
        except ValueError:
            result.skipped += 1
            continue
        report = reports.get(row.id)
        if report is not None:
            report = _sane_report(row, report, now, result)
        # A FAILED box is still watched (its heal or failover may be pending); it never moves back by itself.
        expects = state in REPORTING_STATES or state is S.FAILED
        if report is not None:
            missed = missed_sweeps_since(_later(report.received_at, floor), now)
            stored = _utc(row.last_report_at)
            if stored is None or report.received_at > stored:
                fresh[row.id] = report.received_at
        elif not expects:
            result.skipped += 1
            continue
        else:
            seen_at = _utc(row.last_report_at)
            missed = missed_sweeps_since(
                _later(seen_at, floor) if seen_at is not None else None,
                now,
                fallback=_later(_utc(row.updated_at), floor),
            )
            if missed == 0:
                result.skipped += 1  # no readings yet this sweep, and not silent long enough to count
                continue
        health = score(report, now, missed, signals.get(row.region))
        scores[row.id] = health
        missed_of[row.id] = missed
        # Region health counts what serves users: a failed-over old primary (now a FAILED standby) no longer
        # keeps its region "suspect" once its pair has moved.
        if state in REPORTING_STATES or (state is S.FAILED and row.role == "primary"):
            region_total[row.region] += 1
            if health.band is not Band.HEALTHY:
                region_bad[row.region] += 1
    result.scored = len(scores)
    result.scores = scores
    bands: dict[str, int] = defaultdict(int)
    for h in scores.values():
        bands[h.band.value] += 1
    result.bands = dict(bands)
    suspect = {r for r in region_total if region_suspect(region_bad[r], region_total[r])}
    result.suspect_regions = sorted(suspect)
    provider_of = {r.region: r.provider for r in rows}
    result.region_checks = [
        {"tool": "provider_health", "args": {"provider": provider_of[r], "region": r}}
        for r in result.suspect_regions
        if r not in signals
    ]

    # 3. states and decisions --------------------------------------------------------------------------
    by_account: dict[str, list[_Row]] = defaultdict(list)
    for row in rows:
        by_account[row.account_id].append(row)
    new_state: dict[str, str] = {}
    for row in rows:
        scored = scores.get(row.id)
        if scored is None:
            continue
        target = _target_state(S(row.state), scored)
        if target.value != row.state:
            new_state[row.id] = target.value
    alert_items: list[AlertItem] = []
    for row in rows:
        current = scores.get(row.id)
        if current is None:
            continue
        now_state = new_state.get(row.id, row.state)
        if current.healthy and row.id not in ledger.records:
            continue  # the common case: nothing to decide
        facts = _facts(
            row,
            now_state,
            current,
            missed_of[row.id],
            by_account[row.account_id],
            scores,
            new_state,
            row.region in suspect,
            signals.get(row.region),
        )
        before = ledger.records.get(row.id)
        decision = ledger.decide(facts, now)
        if before is not None and before.acted and len(decision.record.recoveries) > len(before.pruned(now).recoveries):
            result.recovered.append(row.id)
        if decision.kind is not DecisionKind.NONE:
            result.decisions.append(decision)
        if decision.kind is DecisionKind.ESCALATE:
            alert_items.append(
                AlertItem(row.id, row.account_id, row.role, row.provider, row.region, "escalated", decision.reason)
            )
        if now_state == S.FAILED.value and row.state != S.FAILED.value:
            alert_items.append(
                AlertItem(row.id, row.account_id, row.role, row.provider, row.region, "failed", current.explain())
            )
    # A suspect region, or one whose provider confirms an outage, is an incident even while Guardian copes with
    # it (and after its pairs failed over, until the provider says it is over): list its unhealthy instances.
    down = suspect | {r for r, sig in signals.items() if sig.region_status == "outage"}
    if down:
        for row in rows:
            hs = scores.get(row.id)
            if row.region in down and hs is not None and not hs.healthy:
                alert_items.append(
                    AlertItem(row.id, row.account_id, row.role, row.provider, row.region, "critical", hs.explain())
                )
    names = frozenset(silenced)
    by_selector = silence_matcher(stored_silences)

    def muted(i: AlertItem) -> bool:
        return bool({i.provider, i.region, i.account_id, i.instance_id} & names) or by_selector(i)

    # Group first, mute after: a silenced incident is still an incident (it must not close and re-open, and
    # notify twice, because a region was silenced while its pairs failed over).
    grouped = group_alerts(
        alert_items, region_totals=region_total, provider_status={r: sig.region_status for r, sig in signals.items()}
    )
    item_of = {i.instance_id: i for i in alert_items}
    quiet = {a.key for a in grouped if all(muted(item_of[iid]) for iid in a.instance_ids if iid in item_of)}
    result.alerts = [a for a in grouped if a.key not in quiet]
    result.muted = [a for a in grouped if a.key in quiet]

    for gone in set(ledger.records) - {r.id for r in rows}:
        del ledger.records[gone]  # deleted instances leave no heal memory behind

    # 4. write -----------------------------------------------------------------------------------------
    _write(store, rows, scores, fresh, new_state, result, now, batch_size)
    if track_incidents:
        with store.session() as s:
            result.incidents = _track(s, result.alerts, now, muted=result.muted)
    if result.summary is not None:
        log.info("%s", result.summary)
    return result


def _sane_report(row: _Row, report: HealthReport, now: datetime, result: SweepResult) -> HealthReport | None:
    if not isinstance(report, HealthReport):
        result.rejected.append((row.id, f"not a health report ({type(report).__name__})"))
        return None
    if report.instance_id != row.id:
        reason = f"a report for {report.instance_id} was filed under {row.id}"
        log.warning("guardian: report rejected: %s", reason)
        result.rejected.append((row.id, reason))
        return None
    verdict = accept_report(None, report, now=now, expected_account=row.account_id)
    if not verdict.accepted:
        result.rejected.append((row.id, verdict.reason))
        return None
    return report


def _facts(
    row: _Row,
    state: str,
    health: HealthScore,
    missed: int,
    pair: list[_Row],
    scores: Mapping[str, HealthScore],
    new_state: Mapping[str, str],
    suspect: bool,
    signal: ProviderSignal | None,
) -> HealFacts:
    standby: _Row | None = None
    replacement = False
    if row.role == "primary":
        others = [o for o in pair if o.id != row.id and o.role == "standby"]
        others.sort(key=lambda o: (new_state.get(o.id, o.state) != S.ACTIVE.value, o.id))
        standby = others[0] if others else None
    else:
        replacement = any(
            o.id != row.id and o.role == "standby" and new_state.get(o.id, o.state) in _PENDING_STANDBY for o in pair
        )
    standby_score: int | None = None
    if standby is not None:
        sb = scores.get(standby.id)
        standby_score = sb.value if sb is not None else standby.health_score
    return HealFacts(
        instance_id=row.id,
        account_id=row.account_id,
        role=row.role,
        state=state,
        provider=row.provider,
        region=row.region,
        health=health,
        missed_sweeps=missed,
        standby_id=standby.id if standby else None,
        standby_state=new_state.get(standby.id, standby.state) if standby else None,
        standby_score=standby_score,
        replacement_pending=replacement,
        region_suspect=suspect,
        provider_status=signal.region_status if signal is not None else None,
    )


def _write(
    store: Store,
    rows: list[_Row],
    scores: Mapping[str, HealthScore],
    fresh: Mapping[str, datetime],
    new_state: Mapping[str, str],
    result: SweepResult,
    now: datetime,
    batch_size: int,
) -> None:
    """Scores, state moves and audit entries, one transaction per batch of rows.

    Audit entries are grouped per provider region and kind of event (``guardian.state`` for moves,
    ``guardian.heal.<step>`` for decisions): each entry's target lists every instance it covers and
    its detail holds each one's score and reason, so the trail stays complete and searchable by id
    while a region outage writes a few dozen entries instead of thousands.
    """
    table: Table = Instance.__table__  # type: ignore[attr-defined]
    score_stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(health_score=bindparam("b_score"), health_reason=bindparam("b_reason"))
    )
    seen_stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(
            health_score=bindparam("b_score"), health_reason=bindparam("b_reason"), last_report_at=bindparam("b_seen")
        )
    )
    move_stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.state == bindparam("b_from"))
        .values(state=bindparam("b_to"), updated_at=bindparam("b_now"))
    )
    decided = {d.instance_id: d for d in result.decisions if d.kind in (DecisionKind.ACT, DecisionKind.ESCALATE)}
    healed = set(result.recovered)
    size = max(1, batch_size)
    for start in range(0, len(rows), size):
        batch = rows[start : start + size]
        changed: list[dict[str, Any]] = []
        seen_rows: list[dict[str, Any]] = []
        moves: list[_Row] = []
        decisions: list[tuple[_Row, HealDecision]] = []
        recovered: list[_Row] = []
        for row in batch:
            health = scores.get(row.id)
            if health is None:
                continue
            reason = (health.explain() if not health.healthy or health.reasons else "")[:500]
            if row.state == S.FAILED.value and row.id not in new_state:
                reason = row.health_reason  # a FAILED box keeps the reason it failed (or was failed over)
            seen = fresh.get(row.id)
            if seen is not None:
                seen_rows.append({"b_id": row.id, "b_score": health.value, "b_reason": reason, "b_seen": seen})
            elif health.value != row.health_score or reason != row.health_reason:
                changed.append({"b_id": row.id, "b_score": health.value, "b_reason": reason})
            if row.id in new_state:
                moves.append(row)
            if row.id in decided:
                decisions.append((row, decided[row.id]))
            if row.id in healed:
                recovered.append(row)
        if not (changed or seen_rows or moves or decisions or recovered):
            continue
        with store.session() as s:
            conn = s.connection()
            if changed:
                _bulk(conn, table, score_stmt, changed)
            if seen_rows:
                _bulk(conn, table, seen_stmt, seen_rows)
            if moves:
                result.transitions.extend(_move_batch(s, conn, table, move_stmt, moves, new_state, scores, now))
            if decisions:
                _audit_decisions(s, decisions)
            if recovered:
                audit.append(
                    s,
                    actor=ACTOR,
                    channel=CHANNEL,
                    action="guardian.heal.recovered",
                    target=",".join(r.id for r in recovered),
                    outcome="recovered",
                    detail={
                        "count": len(recovered),
                        "regions": sorted({r.region for r in recovered}),
                        "instances": {r.id: {"region": r.region, "reason": scores[r.id].explain()} for r in recovered},
                    },
                )


def _bulk(conn: Any, table: Table, stmt: Any, params: list[dict[str, Any]]) -> None:
    """Score updates for many rows, the fast way for each backend (per-row ORM work would dominate the sweep).

    SQLite: one prepared statement run with ``executemany`` straight on the driver, timestamps written
    in the exact text form SQLAlchemy stores (UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``).
    PostgreSQL: one ``UPDATE … FROM unnest(arrays)`` per batch, because thousands of pipelined round
    trips cost more than the whole scoring pass.  Anything else: SQLAlchemy's executemany.
    """
    if conn.dialect.name == "sqlite":
        with_seen = "b_seen" in params[0]
        sql = (
            f'UPDATE "{table.name}" SET health_score = ?, health_reason = ?'
            + (", last_report_at = ?" if with_seen else "")
            + " WHERE id = ?"
        )
        rows: list[tuple[Any, ...]]
        if with_seen:
            rows = [(p["b_score"], p["b_reason"], _sqlite_ts(p["b_seen"]), p["b_id"]) for p in params]
        else:
            rows = [(p["b_score"], p["b_reason"], p["b_id"]) for p in params]
        conn.exec_driver_sql(sql, rows)
        return
    if conn.dialect.name != "postgresql":
        conn.execute(stmt, params)
        return
    with_seen = "b_seen" in params[0]
    seen_set = ", last_report_at = v.seen" if with_seen else ""
    seen_arr = ", CAST(:seen AS timestamptz[])" if with_seen else ""
    seen_col = ", seen" if with_seen else ""
    sql = (
        f'UPDATE "{table.name}" AS i SET health_score = v.score, health_reason = v.reason{seen_set} '
        f"FROM unnest(CAST(:ids AS text[]), CAST(:scores AS integer[]), CAST(:reasons AS text[]){seen_arr}) "
        f"AS v(id, score, reason{seen_col}) WHERE i.id = v.id"
    )
    binds: dict[str, Any] = {
        "ids": [p["b_id"] for p in params],
        "scores": [p["b_score"] for p in params],
        "reasons": [p["b_reason"] for p in params],
    }
    if with_seen:
        binds["seen"] = [p["b_seen"] for p in params]
    conn.execute(text(sql), binds)


def _sqlite_ts(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _move_batch(
    s: Any,
    conn: Any,
    table: Table,
    stmt: Any,
    moves: list[_Row],
    new_state: Mapping[str, str],
    scores: Mapping[str, HealthScore],
    now: datetime,
) -> list[Transition]:
    """Conditional state moves: only rows still in the state the sweep read are moved (row-locked on PostgreSQL)."""
    ids = [r.id for r in moves]
    query = select(table.c.id, table.c.state).where(table.c.id.in_(ids))
    if conn.dialect.name != "sqlite":
        query = query.with_for_update()
    current = dict(conn.execute(query).all())
    out: list[Transition] = []
    params: list[dict[str, Any]] = []
    for row in moves:
        target, health = new_state[row.id], scores[row.id]
        try:
            check_transition(S(row.state), S(target))
        except IllegalTransition as exc:  # the table is the authority; a bug here must not stop the sweep
            log.error("guardian: %s", exc)
            out.append(Transition(row.id, row.state, target, health.value, str(exc), applied=False))
            continue
        applied = current.get(row.id) == row.state
        out.append(Transition(row.id, row.state, target, health.value, health.explain(), applied))
        if applied:
            params.append({"b_id": row.id, "b_from": row.state, "b_to": target, "b_now": now})
    if params:
        conn.execute(stmt, params)
    groups: dict[tuple[str, str, bool], list[Transition]] = defaultdict(list)
    region_of = {r.id: r.region for r in moves}
    for t in out:
        groups[(t.from_state, t.to_state, t.applied)].append(t)
    for (frm, to, applied), items in groups.items():
        audit.append(
            s,
            actor=ACTOR,
            channel=CHANNEL,
            action="guardian.state",
            target=",".join(t.instance_id for t in items),
            outcome="ok" if applied else "skipped",
            detail={
                "from": frm,
                "to": to,
                "count": len(items),
                "regions": sorted({region_of[t.instance_id] for t in items}),
                "instances": {
                    t.instance_id: {"score": t.score, "reason": t.reason, "region": region_of[t.instance_id]}
                    for t in items
                },
                **({} if applied else {"why": "the instance changed state during the sweep"}),
            },
        )
    return out


def _audit_decisions(s: Any, decisions: list[tuple[_Row, HealDecision]]) -> None:
    groups: dict[tuple[str, str], list[tuple[_Row, HealDecision]]] = defaultdict(list)
    for row, d in decisions:
        groups[(d.step.value if d.step else "none", d.kind.value)].append((row, d))
    for (step, kind), items in groups.items():
        audit.append(
            s,
            actor=ACTOR,
            channel=CHANNEL,
            action=f"guardian.heal.{step}",
            target=",".join(d.instance_id for _, d in items),
            outcome="escalated" if kind == DecisionKind.ESCALATE.value else "decided",
            detail={
                "count": len(items),
                "regions": sorted({r.region for r, _ in items}),
                "instances": {
                    d.instance_id: {"region": r.region, "reason": d.reason, "action": d.action, "proposed": d.proposed}
                    for r, d in items
                },
            },
        )


def ledger_from_audit(store: Store, now: datetime, approval: StandingApproval | None = None) -> HealLedger:
    """Rebuild Guardian's heal memory from the last hour of ``guardian.heal.*`` audit entries.

    The audit log is the durable record of every heal decision, so an engine that restarted (or a
    second engine running this sweep) still knows which rung each instance is on, how many actions it
    had, when it was escalated, how often it recovered (flapping) and how much of each region's
    standing approval is used.  Step timing restarts from the audit timestamps.
    """
    ledger = HealLedger(approval=approval or StandingApproval())
    since = (now - timedelta(seconds=T.FLAP_WINDOW_S)).isoformat(timespec="microseconds")
    query = (
        select(col(AuditEntry.ts), col(AuditEntry.action), col(AuditEntry.outcome), col(AuditEntry.detail))
        .where(col(AuditEntry.action).startswith("guardian.heal."), col(AuditEntry.ts) >= since)
        .order_by(col(AuditEntry.seq))
    )
    with store.session() as s:
        entries = s.execute(query).all()
    steps = {st.value: st for st in HealStep}
    for ts, action, _outcome, detail_text in entries:
        try:
            at = _utc(datetime.fromisoformat(ts))
            detail = json.loads(detail_text)
        except (ValueError, TypeError):
            continue
        if at is None or not isinstance(detail, dict) or not isinstance(detail.get("instances"), dict):
            continue
        name = action.removeprefix("guardian.heal.")
        for iid, info in detail["instances"].items():
            region = info.get("region", "") if isinstance(info, dict) else ""
            ledger.replay(str(iid), str(region), steps.get(name), at, recovered=name == "recovered")
    return ledger
