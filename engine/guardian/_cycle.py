"""One Guardian cycle: sweep, read the status pages it asks for, act, and report only what needs a human.

:func:`engine.guardian.sweep` decides; this module carries the decisions out, the same way for the
5-minute schedule, an on-demand sweep and the incident drill:

1. read the status page of every region Guardian is watching (suspect or down last cycle, or armed for
   re-provisioning) and sweep with those answers, without touching the incident table yet;
2. if the sweep found new suspect regions, read their status pages (policy rule 4) and sweep again at
   once, so a confirmed outage is failed over in the same cycle instead of five minutes later;
3. keep the incident table in step once (one notification per outage, however many passes ran);
4. run the heal actions through the operation layer as Guardian (an autonomous caller, under the
   standing approval), at most :data:`~engine.guardian._thresholds.HEAL_CONCURRENCY` at a time, and feed
   each outcome back into the heal ledger (``planned`` / ``refused`` stop the climb and escalate next);
5. for a region whose provider confirms an outage and whose pairs Guardian failed over: silence the
   region's alerts for REGION_SILENCE_S (the incident stays open, see :func:`track_incidents`) and arm
   re-provisioning on the incident row; when the status page says the region is back, hand Commander one
   proposal for the standbys lost there (buying servers is never Guardian's call alone);
6. deliver escalations and new incidents to ``notify`` (the operator's channel), nothing else.

No path here deletes: every action is a :class:`~engine.guardian.HealDecision` action, checked against
:data:`~engine.guardian.ALLOWED_TOOLS`, and the operation layer refuses an autonomous teardown (rule 7).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from engine import audit
from engine.domain import InstanceState
from engine.guardian import _thresholds as T
from engine.guardian._alerts import Alert
from engine.guardian._heal import ALLOWED_TOOLS, DecisionKind, HealDecision, HealLedger, HealStep
from engine.guardian._incidents import active_silences, track_incidents
from engine.guardian._score import HealthReport, ProviderSignal
from engine.guardian._sweep import SweepResult, sweep
from engine.store import Incident, Instance, Silence, Store

__all__ = ["CycleResult", "Executed", "Guardian", "region_signal"]

log = logging.getLogger("engine.guardian")
S = InstanceState
ACTOR = "guardian"
CHANNEL = "guardian"

JOB_WAIT_S = 900.0
"""How long one heal action's background job may hold its concurrency slot before Guardian moves on."""

StatusReader = Callable[[str, str], Awaitable[ProviderSignal]]
"""``(provider, region) -> what the provider's status page says about that region``."""
Notify = Callable[[str], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class Executed:
    """One heal action Guardian ran through the operation layer, and how it came back."""

    instance_id: str
    step: str
    tool: str
    args: dict[str, Any]
    status: str
    """``done | planned | refused | error`` (the operation layer's outcome; for a job, how the job ended)."""
    message: str = ""
    started: float = 0.0
    """Monotonic seconds when the action started and ended (the drill measures the failover phase with them)."""
    ended: float = 0.0


@dataclass
class CycleResult:
    """What one cycle saw, did and told the operator."""

    at: datetime
    sweeps: list[SweepResult] = field(default_factory=list)
    signals: dict[str, ProviderSignal] = field(default_factory=dict)
    """Status-page answers read this cycle, by region."""
    executed: list[Executed] = field(default_factory=list)
    silenced: list[str] = field(default_factory=list)
    """Regions whose alerts Guardian silenced this cycle."""
    armed: list[str] = field(default_factory=list)
    """Regions armed for re-provisioning this cycle."""
    reprovision: list[dict[str, Any]] = field(default_factory=list)
    """Re-provisioning proposals handed to Commander this cycle (their region recovered)."""
    messages: list[str] = field(default_factory=list)
    """Everything sent to ``notify``: new incidents, instance alerts, escalations, proposals."""

    @property
    def last(self) -> SweepResult:
        return self.sweeps[-1]

    @property
    def notify(self) -> list[Alert]:
        """New alerts for the operator (the last pass's view: earlier passes only fed it)."""
        return self.last.notify if self.sweeps else []

    @property
    def escalations(self) -> list[HealDecision]:
        seen: dict[str, HealDecision] = {}
        for res in self.sweeps:
            for d in res.escalations:
                seen.setdefault(d.instance_id, d)
        return list(seen.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(timespec="seconds"),
            "passes": len(self.sweeps),
            "sweep": self.last.to_dict() if self.sweeps else None,
            "signals": {r: {"status": s.region_status, "detail": s.detail} for r, s in self.signals.items()},
            "executed": [
                {"instance": e.instance_id, "step": e.step, "tool": e.tool, "status": e.status, "message": e.message}
                for e in self.executed
            ],
            "silenced": list(self.silenced),
            "armed": list(self.armed),
            "reprovision": list(self.reprovision),
            "messages": list(self.messages),
        }


def region_signal(status: Mapping[str, Any], region: str) -> ProviderSignal:
    """Narrow a ``provider_health`` status block (indicator + incidents) to one region.

    An incident that names no location is provider-wide and counts everywhere; one that names locations
    counts where it names this region's location (``eu-hetzner-nbg1`` → ``nbg1``) or the region itself.
    """
    indicator = str(status.get("indicator") or "unknown")
    description = str(status.get("description") or "")
    if indicator not in ("operational", "degraded", "outage"):
        return ProviderSignal("unknown", detail=description[:200])
    location = region.split("-", 2)[2] if region.count("-") >= 2 else region
    names = {location.lower(), region.lower()}
    hits = [
        i
        for i in status.get("incidents") or []
        if isinstance(i, Mapping)
        and (not i.get("locations") or names & {str(x).lower() for x in i.get("locations") or ()})
    ]
    if indicator == "operational" or not hits:
        return ProviderSignal("operational", detail="status page: no incident here")
    titles = "; ".join(str(i.get("title", "")) for i in hits[:2])
    return ProviderSignal(indicator, detail=titles[:200])


class Guardian:
    """Guardian's runner: one per engine, kept across cycles (its heal ledger and watch list live here).

    ``ops`` is the operation layer (``await ops.call(caller, tool, args)``) and ``caller`` Guardian's
    autonomous identity.  ``status`` reads a provider's status page for one region; by default it goes
    through the ``provider_health`` tool, so rule 4 sees the same read an operator would make.
    """

    def __init__(
        self,
        store: Store,
        ops: Any,
        caller: Any,
        *,
        status: StatusReader | None = None,
        notify: Notify | None = None,
        ledger: HealLedger | None = None,
        concurrency: int = T.HEAL_CONCURRENCY,
        watching_since: datetime | None = None,
    ) -> None:
        self.store = store
        self.ops = ops
        self.caller = caller
        self.status = status or self._status_via_ops
        self._notify = notify
        self.ledger = ledger
        self.concurrency = max(1, concurrency)
        self.watching_since = watching_since
        """When reports started to flow (the node gateway's start): silence before it is not counted."""
        self.watch: set[str] = set()
        """Regions whose status page is read every cycle: suspect or down last cycle."""
        self._provider_of: dict[str, str] = {}

    # ------------------------------------------------------------------------------------------- cycle
    async def cycle(self, reports: Mapping[str, HealthReport], now: datetime) -> CycleResult:
        """One full cycle (see the module docstring).  Never raises for one bad action: it is reported."""
        now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        if self.ledger is None:
            from engine.guardian._sweep import ledger_from_audit

            self.ledger = ledger_from_audit(self.store, now)
        result = CycleResult(at=now)
        armed = self._armed_regions()
        watched = sorted(self.watch | set(armed))
        result.signals.update(await self._read(watched))
        first = sweep(
            self.store,
            reports,
            now,
            ledger=self.ledger,
            provider_signals=dict(result.signals),
            track_incidents=False,
            watching_since=self.watching_since,
        )
        result.sweeps.append(first)
        self._provider_of.update({c["args"]["region"]: c["args"]["provider"] for c in first.region_checks})
        await self._execute(first, result)
        if first.region_checks:
            fresh = await self._read([c["args"]["region"] for c in first.region_checks])
            result.signals.update(fresh)
            second = sweep(
                self.store,
                reports,
                now,
                ledger=self.ledger,
                provider_signals=dict(result.signals),
                track_incidents=False,
                watching_since=self.watching_since,
            )
            result.sweeps.append(second)
            await self._execute(second, result)
        last = result.last
        with self.store.session() as s:
            last.incidents = track_incidents(s, last.alerts, now, muted=last.muted)
        self._after_failovers(result, now)
        await self._reprovision_recovered(armed, result, now)
        self.watch = set(last.suspect_regions) | {
            r for r, sig in result.signals.items() if sig.region_status in ("outage", "degraded")
        }
        await self._tell(result)
        return result

    # ------------------------------------------------------------------------------------------- status pages
    async def _read(self, regions: list[str]) -> dict[str, ProviderSignal]:
        async def one(region: str) -> tuple[str, ProviderSignal]:
            provider = self._provider_of.get(region) or (region.split("-")[1] if region.count("-") >= 2 else "")
            try:
                return region, await self.status(provider, region)
            except Exception as exc:  # "could not check" is an answer, never a crash of the cycle
                log.warning("guardian: status page of %s %s could not be read: %s", provider, region, exc)
                return region, ProviderSignal("unknown", detail=f"status page not readable ({type(exc).__name__})")

        pairs = await asyncio.gather(*(one(r) for r in dict.fromkeys(regions)))
        return dict(pairs)

    async def _status_via_ops(self, provider: str, region: str) -> ProviderSignal:
        out = await self.ops.call(self.caller, "provider_health", {"provider": provider, "region": region})
        if out.status != "done":
            return ProviderSignal("unknown", detail=(out.message or out.status)[:200])
        status = out.result.get("providers", {}).get(provider, {}).get("status", {})
        return region_signal(status, region)

    # ------------------------------------------------------------------------------------------- actions
    async def _execute(self, res: SweepResult, result: CycleResult) -> None:
        """Run this pass's heal actions, ``concurrency`` at a time; each outcome goes back to the ledger."""
        gate = asyncio.Semaphore(self.concurrency)
        ledger = self.ledger
        assert ledger is not None

        async def one(d: HealDecision) -> Executed:
            assert d.action is not None
            tool, args = str(d.action["tool"]), dict(d.action["args"])
            step = d.step.value if d.step else "?"
            if tool not in ALLOWED_TOOLS:  # decide() already guarantees it; the executor checks again (rule 7)
                return Executed(d.instance_id, step, tool, args, "refused", "not a heal tool (rule 7)")
            async with gate:
                started = time.monotonic()
                try:
                    out = await self.ops.call(self.caller, tool, args)
                    status, message = out.status, out.message or ""
                    job = getattr(out, "job", None)
                    if status == "done" and job is not None and not job.finished:
                        # A daemon runs jobs in the background: hold the slot until this one ends, so the
                        # concurrency bound is real and the ledger learns how it went.
                        status, message = await self._job_outcome(job.id)
                except Exception as exc:  # one broken action must not stop a region's failovers
                    log.exception("guardian: %s on %s failed", tool, d.instance_id)
                    status, message = "error", f"{type(exc).__name__}: {exc}"
                ended = time.monotonic()
            if d.step is not HealStep.VERIFY:
                # The re-probe of step 1 is the next sweep's fresh report when instance_diagnose cannot run.
                ledger.result(d.instance_id, status, message)
            return Executed(d.instance_id, step, tool, args, status, message, started, ended)

        actions = [d for d in res.actions if d.action is not None]
        if actions:
            result.executed.extend(await asyncio.gather(*(one(d) for d in actions)))

    async def _job_outcome(self, job_id: str, *, poll_s: float = 0.2) -> tuple[str, str]:
        deadline = time.monotonic() + JOB_WAIT_S
        while time.monotonic() < deadline:
            view = self.ops.job_view(job_id)
            if view.tool == "failover" and not view.finished and self.ops.promoted(job_id):
                # Users are served by their promoted standbys; the replacement standbys keep building in
                # the same job, without holding a slot another region's pair may need.
                return "done", f"Job {view.id}: standby promoted, replacement standby being built"
            if view.finished:
                ok = view.status == "succeeded"
                return ("done" if ok else "error"), f"Job {view.id}: {view.done}/{view.total} done" + (
                    "" if ok else f", {view.failed} failed"
                )
            await asyncio.sleep(poll_s)
        return "done", f"Job {job_id} still running after {JOB_WAIT_S:.0f} s; Guardian moved on"

    # ------------------------------------------------------------------------------------------- regions
    def _after_failovers(self, result: CycleResult, now: datetime) -> None:
        """Silence and arm every region with a confirmed outage where Guardian failed pairs over this cycle."""
        done = {e.instance_id for e in result.executed if e.tool == "failover" and e.status == "done"}
        if not done:
            return
        with self.store.session() as s:
            region_of = dict(
                s.execute(
                    select(col(Instance.id), col(Instance.region)).where(col(Instance.id).in_(sorted(done)))
                ).all()
            )
            moved: dict[str, list[str]] = {}
            for iid in sorted(done):
                region = region_of.get(iid)
                if region is not None and result.signals.get(region, ProviderSignal()).region_status == "outage":
                    moved.setdefault(region, []).append(iid)
            silences = active_silences(s, now)
            for region, ids in sorted(moved.items()):
                if not any(sel == {"region": region} for sel in silences):
                    until = now + timedelta(seconds=T.REGION_SILENCE_S)
                    reason = (
                        f"Guardian: provider outage in {region}, {len(ids)} pairs failed over; tracked as one incident"
                    )
                    sid = f"sil-{secrets.token_hex(4)}"
                    s.add(
                        Silence(
                            id=sid,
                            selector={"region": region},
                            until=until,
                            reason=reason,
                            created_by=ACTOR,
                            created_at=now,
                        )
                    )
                    audit.append(
                        s,
                        actor=ACTOR,
                        channel=CHANNEL,
                        action="guardian.silence",
                        target=region,
                        outcome="silenced",
                        detail={"silence": sid, "until": until.isoformat(), "reason": reason},
                    )
                    result.silenced.append(region)
                row = (
                    s.execute(
                        select(Incident).where(
                            col(Incident.key) == f"incident:{region}", col(Incident.status) == "open"
                        )
                    )
                    .scalars()
                    .first()
                )
                if row is None:
                    continue
                detail = dict(row.detail or {})
                plan = dict(detail.get("reprovision") or {})
                if not plan.get("armed_at") or plan.get("fired_at"):
                    plan = {"armed_at": now.isoformat(), "failed_over": []}
                    result.armed.append(region)
                    audit.append(
                        s,
                        actor=ACTOR,
                        channel=CHANNEL,
                        action="guardian.reprovision.armed",
                        target=row.id,
                        outcome="armed",
                        detail={
                            "region": region,
                            "why": "provider outage; re-provision lost standbys when the status page says it is over",
                        },
                    )
                plan["failed_over"] = sorted({*plan.get("failed_over", []), *ids})
                detail["reprovision"] = plan
                row.detail = detail
                s.add(row)

    def _armed_regions(self) -> dict[str, str]:
        """Region → incident id for every incident armed for re-provisioning and not yet fired."""
        with self.store.session() as s:
            rows = s.execute(
                select(col(Incident.id), col(Incident.region), col(Incident.detail)).where(
                    col(Incident.region).is_not(None)
                )
            ).all()
        out: dict[str, str] = {}
        for iid, region, detail in rows:
            plan = (detail or {}).get("reprovision") if isinstance(detail, dict) else None
            if isinstance(plan, dict) and plan.get("armed_at") and not plan.get("fired_at") and region:
                out[str(region)] = str(iid)
        return out

    async def _reprovision_recovered(self, armed: Mapping[str, str], result: CycleResult, now: datetime) -> None:
        """An armed region whose status page is clear again: one proposal to Commander, then disarm."""
        for region, incident_id in sorted(armed.items()):
            if result.signals.get(region, ProviderSignal("unknown")).region_status != "operational":
                continue
            proposal = self._proposal(region, incident_id, now)
            result.reprovision.append(proposal)
            result.messages.append(proposal["message"])

    def _proposal(self, region: str, incident_id: str, now: datetime) -> dict[str, Any]:
        with self.store.session() as s:
            rows = s.execute(
                select(
                    col(Instance.id),
                    col(Instance.account_id),
                    col(Instance.role),
                    col(Instance.state),
                    col(Instance.health_reason),
                ).where(col(Instance.region) == region, col(Instance.state) != S.DELETED.value)
            ).all()
            from engine.guardian._exposure import FAILED_OVER_PREFIX

            lost = sorted(
                {
                    acct
                    for _i, acct, role, state, reason in rows
                    if role == "standby"
                    and state == S.FAILED.value
                    and not (reason or "").startswith(FAILED_OVER_PREFIX)
                }
            )
            old = sorted(
                i
                for i, _a, _r, state, reason in rows
                if state == S.FAILED.value and (reason or "").startswith(FAILED_OVER_PREFIX)
            )
            message = (
                f"{region} is back (status page clear). Re-provisioning armed during the outage: "
                f"{len(lost)} accounts lost their standby there and need a replacement standby "
                f"({', '.join(lost[:10]) or 'none'}{', …' if len(lost) > 10 else ''}); "
                f"{len(old)} failed-over old primaries there are FAILED and can be torn down once an "
                "operator confirms (Guardian never deletes)."
            )
            row = s.get(Incident, incident_id)
            if row is not None:
                detail = dict(row.detail or {})
                plan = dict(detail.get("reprovision") or {})
                plan.update({"fired_at": now.isoformat(), "lost_standbys": lost, "failed_over_old": old[:200]})
                detail["reprovision"] = plan
                row.detail = detail
                s.add(row)
            audit.append(
                s,
                actor=ACTOR,
                channel=CHANNEL,
                action="guardian.reprovision.due",
                target=incident_id,
                outcome="escalated",
                detail={"region": region, "lost_standbys": lost, "failed_over_old": len(old), "message": message},
            )
        return {
            "region": region,
            "incident": incident_id,
            "lost_standbys": lost,
            "failed_over_old": old,
            "action": {"tool": "sessions_send", "args": {"agent": "commander", "message": message, "wait": False}},
            "message": message,
        }

    # ------------------------------------------------------------------------------------------- telling
    async def _tell(self, result: CycleResult) -> None:
        last = result.last
        lines: list[str] = []
        if last.summary is not None:
            lines.append(last.summary)
        lines.extend(a.title for a in last.notify if not a.is_incident)
        quiet = {iid for a in last.muted for iid in a.instance_ids}
        incident_of = {iid: a for a in last.alerts if a.is_incident for iid in a.instance_ids}
        grouped: dict[str, list[HealDecision]] = {}
        for d in result.escalations:
            # Commander hears every escalation except those a silence covers; inside an incident they are one
            # line per incident (94 refused failovers are one message, not 94).
            if d.kind is not DecisionKind.ESCALATE or d.action is None or d.instance_id in quiet:
                continue
            incident = incident_of.get(d.instance_id)
            if incident is not None:
                grouped.setdefault(incident.key, []).append(d)
            else:
                lines.append(str(d.action["args"].get("message", d.reason)))
        for key, items in grouped.items():
            ids = ", ".join(d.instance_id for d in items[:5]) + (", …" if len(items) > 5 else "")
            lines.append(
                f"{key.removeprefix('incident:')}: {len(items)} instances escalated to Commander ({ids}); "
                f"first reason: {items[0].reason}"
            )
        result.messages[:0] = lines
        if self._notify is None:
            for line in result.messages:
                log.warning("guardian: %s", line)
            return
        for line in result.messages:
            sent = self._notify(line)
            if inspect.isawaitable(sent):
                await sent
