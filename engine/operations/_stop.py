"""Stopping a job at the next safe step boundary (supporting tool ``job_stop``).

A stop is a flag on the job's record (status ``stopping``), so it reaches the job wherever it runs: this
engine, a daemon, or another engine sharing the store.  From then on:

- a step not started yet is not started (status ``skipped``); a provisioning pair whose servers were never
  bought is removed again (its account and REQUESTED instances), a replacement standby never bought is
  marked DELETED with the reason — nothing is half-bought and nothing is left pointing at a server that
  does not exist;
- a step already under way runs to its end (a bought server is brought up, a promotion completes): the
  steps converge, so the fleet is consistent when the job says ``stopped``;
- the job ends as ``stopped`` with a note saying what was done and what was not; the request and the end
  are both in the audit log.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from engine import audit
from engine.domain import InstanceState, Selector
from engine.errors import ClawOpsError, InputError, NotFound
from engine.policy import Caller
from engine.store import Account, Instance, JobRecord, JobStep, PlanRecord, Store, utcnow

S = InstanceState
ACTIVE_JOB = ("queued", "running", "stopping")
"""Job statuses that still have work (or a stop) to finish."""
FINISHED_JOB = ("succeeded", "failed", "stopped")
NOT_BOUGHT = "not bought: the job was stopped"
"""The health reason of an instance a stop caught at the last moment before its purchase (state ERROR)."""


def _unbought(row: Instance) -> bool:
    """Whether no server was ever bought for ``row`` (a create that failed on its own may still have one)."""
    if row.provider_server_id:
        return False
    return row.state == S.REQUESTED.value or (row.state == S.ERROR.value and row.health_reason == NOT_BOUGHT)


class StepStopped(ClawOpsError):
    """Raised by a step that saw its job stopping before it bought anything: nothing to undo."""


_JOBS: Table = JobRecord.__table__  # type: ignore[attr-defined]
_JOB_STATUS = sa_select(_JOBS.c.status).where(_JOBS.c.id == bindparam("job_id"))
"""Built once: asked before and during every step of every job, and building the statement (SQLAlchemy's
coercion and cache key) cost more than running it; as a table query it also skips loading an ORM record."""


def is_stopping(store: Store, job_id: str) -> bool:
    """Whether the job has been asked to stop (by any engine: the flag is in the store)."""
    with store.session() as s:
        return s.execute(_JOB_STATUS, {"job_id": job_id}).scalar() == "stopping"


def resolve_job(s: Session, caller: Caller, job_id: str | None) -> JobRecord:
    """The job to stop: the one named, or the caller's only running job ("stop that")."""
    if job_id:
        job = s.get(JobRecord, job_id)
        if job is None:
            raise NotFound(
                f'No job {job_id} exists; job ids look like job-0193f1a2b3c47d8e9f0a1b2c3d4e5f60 ("what jobs are running?").'
            )
        if caller.tenant_id is not None and job.started_by != caller.operator_id:
            raise NotFound(f"No job {job_id} is visible to you.")
        return job
    stmt = select(JobRecord).where(col(JobRecord.status).in_(ACTIVE_JOB)).order_by(col(JobRecord.created_at).desc())
    running = list(s.exec(stmt).all())
    mine = [j for j in running if j.started_by == caller.operator_id]
    pick = mine or ([] if caller.tenant_id is not None else running)
    if not pick:
        raise InputError("No job is running, so there is nothing to stop.")
    if len(pick) > 1:
        shown = [f"{j.id} ({job_label(s, j)})" for j in pick[:MAX_LISTED]]
        if len(pick) > MAX_LISTED:
            shown.append(f"{len(pick) - MAX_LISTED} more")
        listing = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"
        raise InputError(f'{len(pick)} jobs are running: {listing}; say which one, e.g. "stop job {pick[0].id}".')
    return pick[0]


MAX_LISTED = 5
"""Jobs named one by one when "stop that" could mean several; the rest are counted."""

_JOB_WORDS = {
    "provision_pairs": "provision {what}",
    "restart": "restart {what}",
    "teardown": "tear down {what}",
    "resize": "resize {what}",
    "failover": "fail over {what}",
    "config_push": "config push to {what}",
    "silence_alerts": "alerts silenced on {what}",
}
"""What each kind of job does, in the operator's words.  A job is never named by its tool's identifier: the
reply's guard against internals reaching the operator would swallow the whole answer (issue #18)."""


def job_label(s: Session, job: JobRecord) -> str:
    """A job as the operator would tell it apart from another, e.g. ``restart 13 instances on vultr, 4/13 done``."""
    plan = s.get(PlanRecord, job.plan_id)
    args: dict[str, Any] = dict(plan.args) if plan is not None else {}
    if job.tool == "provision_pairs":
        what = f"{job.total} pair{'' if job.total == 1 else 's'}"
        providers = [str(args[k]) for k in ("primary_provider", "standby_provider") if args.get(k)]
        if providers:
            what += " on " + " + ".join(providers)
        if args.get("region") or args.get("geo"):
            what += f" in {args.get('region') or str(args['geo']).upper()}"
    else:
        count = len(plan.targets) if plan is not None and plan.targets else job.total
        try:
            scope = Selector.parse(args.get("selector") or {}).describe()
        except InputError:
            scope = "instances"
        what = f"{count} {'instances' if scope == 'every instance' else scope}"
    template = _JOB_WORDS.get(job.tool, job.tool.replace("_", " ") + " on {what}")
    statuses = list(s.exec(select(JobStep.status).where(col(JobStep.job_id) == job.id)).all())
    done, total = sum(1 for status in statuses if status == "done"), len(statuses) or job.total
    unit = f" batch{'' if total == 1 else 'es'}" if job.tool == "config_push" else ""  # steps are batches there
    return f"{template.format(what=what)}, {done}/{total}{unit} done"


def request_stop(store: Store, caller: Caller, job_id: str | None) -> tuple[str, bool]:
    """Flag the job as stopping (audited).  Returns ``(job_id, newly)``; ``newly`` is False when it was already
    stopping.  A finished job is refused with a sentence saying how it ended."""
    with store.session() as s:
        job = resolve_job(s, caller, job_id)
        if job.status in FINISHED_JOB:
            raise InputError(
                f"Job {job.id} has already {'stopped' if job.status == 'stopped' else 'finished'} "
                f"({job.status}, {job.done}/{job.total} steps done); there is nothing to stop."
            )
        if job.status == "stopping":
            return job.id, False
        changed = s.execute(
            update(JobRecord)
            .where(col(JobRecord.id) == job.id)
            .where(col(JobRecord.status).in_(("queued", "running")))
            .values(status="stopping", updated_at=utcnow())
        )
        if getattr(changed, "rowcount", 0) != 1:
            return job.id, False
        audit.append(
            s,
            actor=caller.actor,
            channel=caller.channel,
            action="job.stop",
            target=job.id,
            outcome="requested",
            detail={"tool": job.tool, "done": job.done, "total": job.total},
        )
        return job.id, True


def skip_step(store: Store, step_id: int | None) -> bool:
    """Mark a step that never started as skipped (only if it is still not started or failed)."""
    with store.session() as s:
        result = s.execute(
            update(JobStep)
            .where(col(JobStep.id) == step_id)
            .where(col(JobStep.status).in_(("pending", "failed")))
            .values(status="skipped", detail="not started: the job was stopped", updated_at=utcnow())
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def release_unbought(store: Store, job_id: str, action: str, instance_id: str, params: dict[str, Any]) -> str:
    """Undo the bookkeeping of a step that stopped before buying anything; returns what it says about it."""
    with store.session() as s:
        if action == "provision_pair":
            ids = [instance_id, str(params.get("standby") or "")]
            rows = [r for r in (s.get(Instance, i) for i in ids if i) if r is not None]
            if not all(_unbought(r) for r in rows):
                return "under way when the job stopped"  # something was bought: the step must finish instead
            account = str(params.get("account") or (rows[0].account_id if rows else ""))
            for row in rows:
                s.delete(row)
            s.flush()
            acct = s.get(Account, account) if account else None
            if acct is not None and not s.exec(select(Instance.id).where(col(Instance.account_id) == account)).first():
                s.delete(acct)
            return f"not created: nothing was bought for {account}; the account was removed"
        one = s.get(Instance, instance_id)
        if one is not None and _unbought(one):
            one.state = S.DELETED.value
            one.health_reason = f"never built: job {job_id} was stopped first"
            one.updated_at = utcnow()
            s.add(one)
            return f"not built: nothing was bought for {instance_id}"
        return "not started: the job was stopped"


def settle_stopped(store: Store, job_id: str) -> None:
    """Skip the steps of a stopping job that never started and undo their unbought pairs (any engine may do this)."""
    with store.session() as s:
        plan_steps: list[dict[str, Any]] = []
        job = s.get(JobRecord, job_id)
        plan = s.get(PlanRecord, job.plan_id) if job else None
        if plan is not None:
            plan_steps = list(plan.steps)
        idle = list(
            s.exec(
                select(JobStep).where(col(JobStep.job_id) == job_id, col(JobStep.status).in_(("pending", "failed")))
            ).all()
        )
    for step in idle:
        if skip_step(store, step.id):
            params = plan_steps[step.seq] if step.seq < len(plan_steps) else {}
            detail = release_unbought(store, job_id, step.action, step.instance_id, params)
            with store.session() as s:
                row = s.get(JobStep, step.id)
                if row is not None:
                    row.detail = detail
                    s.add(row)


def stop_note(s: Session, job: JobRecord) -> str:
    """What a stopped job did and did not do, in one or two sentences."""
    steps = list(s.exec(select(JobStep).where(col(JobStep.job_id) == job.id)).all())
    counts = Counter(st.status for st in steps)
    unit = "pairs" if job.tool == "provision_pairs" else "steps"
    done, skipped, failed = counts.get("done", 0), counts.get("skipped", 0), counts.get("failed", 0)
    parts = [f"{done} of {len(steps)} {unit} done"]
    if skipped:
        not_bought = sum(
            1 for st in steps if st.status == "skipped" and st.detail.startswith(("not created", "not built"))
        )
        parts.append(f"{skipped} not started" + (" (nothing bought for them)" if not_bought == skipped else ""))
    if failed:
        parts.append(f"{failed} failed")
    return "; ".join(parts) + "."


def finish_stopped(store: Store, job_id: str) -> bool:
    """End a stopping job once every step is done, failed or skipped: status ``stopped``, audited."""
    with store.session() as s:
        job = s.get(JobRecord, job_id)
        if job is None or job.status != "stopping":
            return False
        statuses = list(s.exec(select(JobStep.status).where(col(JobStep.job_id) == job_id)).all())
        if any(st in ("pending", "running") for st in statuses):
            return False
        counts = Counter(statuses)
        job.done, job.failed = counts.get("done", 0), counts.get("failed", 0)
        job.status = "stopped"
        job.error = f"Stopped on request: {stop_note(s, job)}"
        job.updated_at = utcnow()
        s.add(job)
        audit.append(
            s,
            actor="forge",
            channel="job",
            action="job.stopped",
            target=job_id,
            outcome="stopped",
            detail={"done": job.done, "failed": job.failed, "skipped": counts.get("skipped", 0)},
        )
        return True
