"""The operation layer: every tool call, from any brain or channel, goes through here.

For a read tool: validate → gather → policy (role, tenant) → result.
For a mutating tool: validate → gather targets → policy (all rules) → a
persisted **plan** → (operator confirmation when rule 5 asks) → a durable
**job** whose steps commit one by one, so a crash resumes where it stopped.
Every call, plan, decision and refusal is written to the audit chain.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Table, and_, bindparam, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from engine import audit
from engine.config import Settings
from engine.domain import InstanceState, Selector
from engine.errors import ClawOpsError, InputError, NotFound, PolicyRefusal
from engine.ids import new_id as _new_id
from engine.operations._diagnose import diagnose_instances, validate_checks
from engine.operations._drafts import (
    Draft,
    StatusPages,
    _standby_facts,
    draft_config_push,
    draft_failover,
    draft_provision,
    draft_resize,
    draft_silence,
    draft_teardown,
)
from engine.operations._gate import DecisionGate, TurnDecision, plan_scope
from engine.operations._provider_health import provider_health
from engine.operations._reads import fleet_status, instance_inspect
from engine.operations._registry import RESTART_COMPONENTS, TOOL_AGENT, ToolSpec, tool_spec
from engine.operations._scope import resolve_target, select_instances
from engine.operations._steps import NodeCommands, StepRunner, materialize_pairs
from engine.operations._stop import (
    ACTIVE_JOB,
    FINISHED_JOB,
    StepStopped,
    finish_stopped,
    is_stopping,
    release_unbought,
    request_stop,
    settle_stopped,
    skip_step,
)
from engine.policy import AMENDED, Caller, PolicyCheck, PolicyFacts, TargetFacts, evaluate
from engine.providers import ProviderDriver
from engine.store import Instance, JobRecord, JobStep, PlanRecord, Store, utcnow

log = logging.getLogger(__name__)

RESTARTABLE = frozenset({InstanceState.ACTIVE, InstanceState.DEGRADED, InstanceState.FAILED, InstanceState.HEALING})
JOB_CONCURRENCY = 16
STATUS_REFRESH_TIMEOUT_S = 3.0
UNEXPECTED_STOP = "stopped by an unexpected error"
PROVIDERS = ("hetzner", "digitalocean", "vultr", "contabo", "hostinger")
TARGETED_READS = frozenset({"instance_inspect", "instance_diagnose"})
"""Reads whose policy evaluation waits for their targets (rule 6 checks the instances actually read)."""
TOOL_CONCURRENCY = {"provision_pairs": 1000, "failover": 100, "restart": 64}
"""Steps of one job in flight, by tool (others: ``JOB_CONCURRENCY``).  A provisioning step spends its time
waiting for a server to boot and its node to report, so a 1,000-pair job runs all its pairs at once and the
providers' rate limiters set the pace (bench_ops_scale: 1.1x the emulated vendors' own bound, vs 33x at 16).
Teardown stays at the default: each step holds an account's archive in memory."""
STEP_LEASE_SECONDS = 12.0
"""A step "running" this long without a heartbeat is taken over (its engine is presumed dead).  A live engine
renews the lease of each step it runs every quarter of this, so only a crashed worker's steps move."""

# Statements every step and every job view runs, built once.  Building one (SQLAlchemy's coercions and cache
# key) cost more than running it, and a table query returns plain rows instead of loading ORM records: claiming
# a step, a job's step rows and its instances' states are read for every step, progress report and Guardian poll.
_STEPS: Table = JobStep.__table__  # type: ignore[attr-defined]
_INSTANCES: Table = Instance.__table__  # type: ignore[attr-defined]
_CLAIM_STEP = (
    update(_STEPS)
    .where(_STEPS.c.id == bindparam("step_id"))
    .where(
        or_(
            _STEPS.c.status.in_(("pending", "failed")),
            and_(_STEPS.c.status == "running", _STEPS.c.updated_at < bindparam("lease_expired")),
        )
    )
    .values(status="running", attempts=_STEPS.c.attempts + 1, updated_at=bindparam("now"))
)
_RENEW_LEASE = (
    update(_STEPS)
    .where(_STEPS.c.id == bindparam("step_id"), _STEPS.c.status == "running")
    .values(updated_at=bindparam("now"))
)
_FINISH_STEP = (
    update(_STEPS)
    .where(_STEPS.c.id == bindparam("step_id"))
    .values(status=bindparam("new_status"), detail=bindparam("new_detail"), updated_at=bindparam("now"))
)
_JOB_STEP_ROWS = sa_select(_STEPS.c.instance_id, _STEPS.c.status, _STEPS.c.updated_at).where(
    _STEPS.c.job_id == bindparam("job_id")
)
_INSTANCE_STATES = sa_select(_INSTANCES.c.state).where(_INSTANCES.c.id.in_(bindparam("ids", expanding=True)))
_FAILOVER_STATUSES = sa_select(_STEPS.c.status).where(
    _STEPS.c.job_id == bindparam("job_id"), _STEPS.c.action == "failover"
)


@dataclass(frozen=True, slots=True)
class PlanView:
    """A plan as the operator (and the ``ask --json`` contract) sees it."""

    id: str
    tool: str
    summary: str
    requires_confirmation: bool
    affected_users: int
    monthly_cost_delta: float
    status: str
    steps: tuple[str, ...] = ()
    policy: tuple[dict[str, Any], ...] = ()
    reversible: bool = True
    scope: str = ""
    """The fingerprint of exactly what the plan does: confirming checks the operator was shown this one."""

    def to_contract(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "summary": self.summary,
            "requires_confirmation": self.requires_confirmation,
            "affected_users": self.affected_users,
            "monthly_cost_delta": round(self.monthly_cost_delta, 2),
            "tool": self.tool,
            "status": self.status,
            "reversible": self.reversible,
            "policy": list(self.policy),
            "scope": self.scope,
        }


@dataclass(frozen=True, slots=True)
class JobView:
    id: str
    plan_id: str
    tool: str
    status: str
    total: int
    done: int
    failed: int
    states: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    elapsed_seconds: float = 0.0
    eta_seconds: float | None = None
    """Time left at the pace so far (``None`` until a step has finished or once the job has ended)."""
    fastest_seconds: float | None = None
    """How long the quickest step took from the job's start (e.g. the first pair to go ACTIVE)."""
    skipped: int = 0
    """Steps a stop kept from starting (nothing was bought or changed for them)."""
    resumed: bool = False
    """Picked up again by this engine after the run that started it went away (a closed chat, a crash)."""

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_JOB

    def progress_line(self) -> str:
        """The one line a chat shows and updates in place, e.g.
        ``Forge running. 4/20 ACTIVE, 11/20 BOOTSTRAPPING, 5/20 CREATING. ETA 6 min``."""
        agent = TOOL_AGENT.get(self.tool, "commander").capitalize()
        instances = sum(self.states.values())
        states = ", ".join(
            f"{n}/{instances} {state}"
            for state, n in sorted(self.states.items(), key=lambda kv: (-_STATE_RANK.get(kv[0], 0), kv[0]))
        )
        if self.status == "succeeded":
            head = f"{agent} done: {self.done}/{self.total} steps in {_duration(self.elapsed_seconds)}."
        elif self.status == "failed":
            head = (
                f"{agent} stopped: {self.done}/{self.total} done, {self.failed} failed"
                f" after {_duration(self.elapsed_seconds)}."
            )
        elif self.status == "stopped":
            head = f"{agent} stopped on request after {_duration(self.elapsed_seconds)}."
        elif self.status == "stopping":
            head = (
                f"{agent} stopping: {self.done}/{self.total} steps done, {self.skipped} not started;"
                " what is under way finishes first."
            )
        else:
            head = f"{agent} running: {self.done}/{self.total} steps done."
        parts = [f"Resumed after an interruption. {head}" if self.resumed and not self.finished else head]
        if states:
            parts.append(f"{states}.")
        if self.eta_seconds is not None and not self.finished:
            parts.append(f"ETA {_duration(self.eta_seconds)}.")
        if self.fastest_seconds is not None and self.tool == "provision_pairs":
            parts.append(f"Fastest so far {_duration(self.fastest_seconds)}.")
        if self.error:
            parts.append(self.error)
        return " ".join(parts)

    def to_contract(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "plan_id": self.plan_id,
            "tool": self.tool,
            "status": self.status,
            "total": self.total,
            "done": self.done,
            "failed": self.failed,
            "states": self.states,
            "error": self.error,
            "elapsed_seconds": round(self.elapsed_seconds, 1),
            "eta_seconds": None if self.eta_seconds is None else round(self.eta_seconds, 1),
            "fastest_seconds": None if self.fastest_seconds is None else round(self.fastest_seconds, 1),
            "skipped": self.skipped,
            "resumed": self.resumed,
        }


_STATE_RANK = {
    "ACTIVE": 9,
    "STANDBY_PROMOTING": 7,
    "BOOTSTRAPPING": 6,
    "CREATING": 5,
    "REQUESTED": 4,
    "HEALING": 3,
    "DEGRADED": 2,
    "DRAINING": 2,
    "FAILED": 1,
}
"""Progress lines list the furthest-along states first."""


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(seconds, 0):.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True, slots=True)
class JobProgress:
    """A job's progress as it changes, for whoever listens (the chat, the feed, /metrics).

    ``tenant`` is the tenant of the operator who started the job (``None`` for fleet-wide operators), so a
    feed can keep tenant-scoped operators to their own jobs (policy rule 6).
    """

    job: JobView
    operator: str
    tenant: str | None = None

    @property
    def line(self) -> str:
        return self.job.progress_line()


ProgressListener = Callable[[JobProgress], None]
_FOREGROUND: ContextVar[bool] = ContextVar("clawops_jobs_in_foreground", default=False)
PROGRESS_INTERVAL = 1.0
"""Seconds between two progress reports of one job (the first and the last are always sent)."""


@dataclass(slots=True)
class ToolOutcome:
    """The result of one tool call: one entry of ``tool_calls`` in the ``ask`` contract."""

    tool: str
    args: dict[str, Any]
    status: str  # planned | done | refused | error
    result: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    plan: PlanView | None = None
    job: JobView | None = None
    rule: str | None = None

    def to_contract(self) -> dict[str, Any]:
        result = dict(self.result)
        if self.status in ("refused", "error") and "error" not in result:
            result["error"] = self.message
            if self.rule:
                result["rule"] = self.rule
        return {"tool": self.tool, "args": self.args, "status": self.status, "result": result}


AgentAllowance = Callable[[str, str], None]
"""``(agent, tool)``: returns when the agent's allowance (its agent.toml) includes the tool, else raises
:class:`~engine.errors.PolicyRefusal` (rule ``agent_allowance``).  The agents' content sits above this layer, so
the runtime injects the check (:attr:`Operations.agent_allowance`)."""


class BriefingTools(Protocol):
    """Runs the ``briefing`` and ``briefing_schedule`` tools for a caller whose role policy already passed.

    The briefer sits above this layer (it reads operations' results), so the runtime injects it
    (:attr:`Operations.briefings`)."""

    def __call__(
        self, caller: Caller, tool: str, args: dict[str, Any], *, dry_run: bool = False
    ) -> Awaitable[dict[str, Any]]: ...


class _HeldForConfirmation(Exception):
    """A plan that was to run without the operator's go but, judged again at the last moment with the
    operator's window as it is now, must wait for it (see ``DecisionGate.hold_if_over``)."""

    def __init__(self, plan: PlanView, tool_args: dict[str, Any]) -> None:
        super().__init__(plan.id)
        self.plan = plan
        self.tool_args = tool_args


def _plan_view(rec: PlanRecord) -> PlanView:
    return PlanView(
        id=rec.id,
        tool=rec.tool,
        summary=rec.summary,
        requires_confirmation=rec.requires_confirmation,
        affected_users=rec.affected_users,
        monthly_cost_delta=rec.monthly_cost_delta,
        status=rec.status,
        steps=tuple(s.get("text", "") for s in rec.steps[:20]),
        policy=tuple(rec.policy),
        reversible=rec.reversible,
        scope=plan_scope(rec),
    )


class Operations:
    """The tools of ARCHITECTURE §3 over one store, with policy and audit built in."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        drivers: Callable[[str], ProviderDriver],
        nodes: NodeCommands,
    ) -> None:
        self.store = store
        self.settings = settings
        self._drivers = drivers
        self._nodes = nodes
        self._steps = StepRunner(store, settings, drivers, nodes)
        self.gate = DecisionGate(store, settings)
        self.status_pages = StatusPages()
        """What the providers' status pages said lately (this engine's reads; placement steers by them)."""
        """Blast radius per decision and who may confirm what (engine/operations/_gate.py)."""
        self.step_lease_seconds = STEP_LEASE_SECONDS
        self.background_jobs = False
        """When set, a confirmed job runs as a task of this engine and the turn returns at once (the chat and
        the daemon: the operator keeps talking while progress arrives); otherwise the turn waits for it (CLI)."""
        self._listeners: list[ProgressListener] = []
        self._last_report: dict[str, float] = {}
        self._owners: dict[str, tuple[str, str | None]] = {}
        self._running: dict[str, asyncio.Task[JobView]] = {}
        self._resumed_jobs: set[str] = set()
        self.sweeper: Callable[[], Awaitable[dict[str, Any]]] | None = None
        """Guardian's sweep on demand (``guardian_sweep``): set by the daemon where node reports flow."""
        self.briefer: Callable[[Caller, str], Awaitable[dict[str, Any]]] | None = None
        """"Brief me now" with its voice note, sent to the asker's channel: set by the daemon's scheduler."""
        self.agent_allowance: AgentAllowance | None = None
        """Refuses a tool outside an agent's allowance (agent.toml): set by the runtime from the agents' content.
        Unset, every call an agent makes is refused: the lock fails closed."""
        self.briefings: BriefingTools | None = None
        """Runs ``briefing`` and ``briefing_schedule`` (``engine.briefer``, above this layer): set by the runtime."""

    # ------------------------------------------------------------------ entry point
    async def call(
        self,
        caller: Caller,
        tool: str,
        args: Mapping[str, Any],
        *,
        session_key: str = "",
        dry_run: bool = False,
        confirmed: bool = False,
        amends: str | None = None,
    ) -> ToolOutcome:
        """Run one tool call.  ``confirmed`` may only be set from the operator's own input (a model's is dropped).

        ``amends`` names the pending plan this call changes (the operator narrowed, widened or recounted it
        before saying go): the changed plan always waits for their go, whatever its size, so a correction is
        never taken as a confirmation.
        """
        raw_args = dict(args)
        confirmed = self.gate.allow_confirmed(caller, confirmed)
        try:
            spec = tool_spec(tool)
            if caller.agent is not None:
                self._authorize_agent(caller.agent, spec.name)
            clean = spec.validate(raw_args)
            if spec.kind == "read" and spec.name not in TARGETED_READS:
                # The one policy evaluation of a read that names no instance (role; rule 6 is its SQL scope).
                # Mutations get theirs per decision (rules + the decision gate); targeted reads once targets are known.
                evaluate(caller, PolicyFacts(tool=spec.name, kind="read"), spec.min_role)
            if spec.name == "provider_health":
                result = await provider_health(self.store, caller, clean, self._drivers)
                return ToolOutcome(spec.name, clean, "done", result=result)
            if spec.name == "instance_diagnose":
                return await self._diagnose(caller, spec, clean)
            if spec.name == "job_stop":
                return self._stop(caller, spec, clean, dry_run=dry_run)
            if spec.name == "guardian_sweep":
                if self.sweeper is None:
                    raise InputError(
                        "Guardian sweeps only where nodes report to this engine (the daemon with "
                        "real nodes, every 5 minutes); here its health comes from the fleet's "
                        "stored state, so there is nothing to sweep now."
                    )
                return ToolOutcome(spec.name, clean, "done", result=await self.sweeper())
            if spec.name in ("briefing", "briefing_schedule"):
                if self.briefings is None:
                    raise InputError(
                        "Briefings are not available from this operation layer alone; "
                        "ask through the engine (clawops, or the clawops engine daemon)."
                    )
                result = await self.briefings(caller, spec.name, clean, dry_run=dry_run)
                return ToolOutcome(spec.name, clean, "done", result=result)
            if spec.kind == "read":
                return self._read(caller, spec, clean)
            return await self._mutate(
                caller, spec, clean, session_key=session_key, dry_run=dry_run, confirmed=confirmed, amends=amends
            )
        except PolicyRefusal as refusal:
            self._audit_refusal(caller, tool, raw_args, refusal)
            return ToolOutcome(tool, raw_args, "refused", message=str(refusal), rule=refusal.rule)
        except ClawOpsError as err:
            return ToolOutcome(tool, raw_args, "error", message=str(err))

    def _authorize_agent(self, agent: str, tool: str) -> None:
        """An agent may call only the tools its agent.toml allows (the brain offers no others; this is the lock)."""
        if self.agent_allowance is None:
            raise PolicyRefusal(
                "agent_allowance",
                f"Refused: {agent}'s allowance cannot be checked here, "
                "so no agent may act through this operation layer.",
            )
        self.agent_allowance(agent, tool)

    # ------------------------------------------------------------------ reads
    def _read(self, caller: Caller, spec: ToolSpec, args: dict[str, Any]) -> ToolOutcome:
        with self.store.session() as s:
            if spec.name == "fleet_status":
                result = fleet_status(s, caller, Selector.parse(args))
            elif spec.name == "instance_inspect":
                result = instance_inspect(s, caller, str(args["target"]))
                targets = [
                    TargetFacts(i["id"], i["account"], i["tenant"], i["role"], i["state"]) for i in result["instances"]
                ]
                evaluate(caller, PolicyFacts(tool=spec.name, kind="read", targets=targets), spec.min_role)
            elif spec.name == "cost_analysis":
                from engine.ledger import cost_analysis

                result = cost_analysis(s, caller, str(args["kind"]), str(args["period"]), self.settings)
            elif spec.name == "audit_query":
                from engine.trust import audit_query_tool

                result = audit_query_tool(self.store, caller, args)
            elif spec.name == "job_status":
                if args.get("job_id"):
                    result = self.job_status(caller, str(args["job_id"])).to_contract()
                else:
                    result = {"jobs": [view.to_contract() for view in self.recent_jobs(caller)]}
            else:
                raise InputError(f"{spec.name} is not available in this build yet; it is planned work.")
        return ToolOutcome(spec.name, args, "done", result=result)

    async def _diagnose(self, caller: Caller, spec: ToolSpec, args: dict[str, Any]) -> ToolOutcome:
        """Read-only checks on the target's nodes (policy first: role and tenant, like any read)."""
        checks = validate_checks(args.get("checks"))
        target = str(args["target"]).strip().lower()
        with self.store.session() as s:
            account, instances = resolve_target(s, caller, target)
            facts = [TargetFacts(i.id, i.account_id, i.tenant_id, i.role, i.state) for i in instances]
            evaluate(caller, PolicyFacts(tool=spec.name, kind="read", targets=facts), spec.min_role)
        if target.startswith("i-"):
            instances = [i for i in instances if i.id == target]
        await self._prepare_providers([i.id for i in instances])
        found = await diagnose_instances(self._nodes, instances, checks)
        problems = [f["id"] for f in found if f["ok"] is False]
        with self.store.session() as s:
            audit.append(
                s,
                actor=caller.actor,
                channel=caller.channel,
                action="diagnose",
                target=account.id,
                outcome="problems" if problems else "ok",
                detail={"instances": [f["id"] for f in found], "checks": checks, "problems": problems},
            )
        return ToolOutcome(
            spec.name,
            args,
            "done",
            result={"target": target, "account": account.id, "checks": checks, "instances": found, "ok": not problems},
        )

    # ------------------------------------------------------------------ mutations
    async def _mutate(
        self,
        caller: Caller,
        spec: ToolSpec,
        args: dict[str, Any],
        *,
        session_key: str,
        dry_run: bool,
        confirmed: bool,
        amends: str | None = None,
    ) -> ToolOutcome:
        if spec.name == "provision_pairs":
            await self._refresh_provider_status()
        with self.store.session() as s:
            draft = self._draft(s, caller, spec, args)
            checks = evaluate(caller, draft.facts, spec.min_role)
            if amends:
                checks.append(
                    PolicyCheck(
                        AMENDED,
                        True,
                        needs_human=True,
                        note=f"it changes plan {amends}: the changed plan runs only on your go",
                    )
                )
            plan_id = _new_id("pl")
            assessed = self.gate.assess(s, caller, plan_id, draft, checks)
            needs_human, checks = assessed.needs_human, assessed.checks
            rec = PlanRecord(
                id=plan_id,
                session_key=session_key,
                operator_id=caller.operator_id,
                tool=spec.name,
                args=draft.args,
                summary=draft.summary,
                targets=draft.targets,
                steps=draft.steps,
                affected_users=draft.affected_users,
                monthly_cost_delta=draft.monthly_cost_delta,
                reversible=draft.reversible,
                policy=[c.to_dict() for c in checks],
                requires_confirmation=needs_human,
                status="dry_run" if dry_run else "pending",
            )
            s.add(rec)
            audit.append(
                s,
                actor=caller.actor,
                channel=caller.channel,
                action=f"plan.{spec.name}",
                target=rec.id,
                outcome="dry_run" if dry_run else "planned",
                detail={
                    "args": args,
                    "affected_users": rec.affected_users,
                    "targets": len(rec.targets),
                    "requires_confirmation": needs_human,
                },
            )
        if dry_run or (needs_human and not confirmed) or (assessed.defer and not confirmed):
            turn = self.gate.current()
            if assessed.defer and not dry_run and turn is not None:
                turn.deferred.append(rec.id)  # runs (or waits) when the whole turn is weighed: settle()
            return ToolOutcome(
                spec.name,
                draft.args,
                "planned",
                result={"targets": len(rec.targets)},
                message=rec.summary,
                plan=_plan_view(rec),
            )
        return await self.confirm(caller, rec.id, implicit=not needs_human and not confirmed)

    async def settle(self, turn: TurnDecision | None = None) -> dict[str, ToolOutcome]:
        """End of an operator turn: weigh everything it would do, together with the operator's window.

        Within ``confirm_threshold`` users, the deferred plans run now; above it, every one of them waits
        for the operator's go (rule 5 per decision).  Returns plan id → the outcome that replaces the
        provisional "planned" one.
        """
        turn = turn or self.gate.current()
        if turn is None or turn.settled or not turn.deferred:
            return {}
        turn.settled = True
        caller = turn.caller
        with self.store.session() as s:
            waits = self.gate.settle_verdicts(s, turn)
            held: dict[str, ToolOutcome] = {}
            gone: set[str] = set()
            for plan_id in turn.deferred:
                rec = s.get(PlanRecord, plan_id)
                if rec is None or rec.status != "pending":
                    gone.add(plan_id)  # decided already in this turn (the operator's own "go" or "cancel")
                    continue
                if not waits.get(plan_id, True):
                    continue
                extra = [c.to_dict() for c in self.gate.turn_checks(s, turn, plan_id)]
                rec.requires_confirmation = True
                rec.policy = [*[p for p in rec.policy if p.get("rule") not in {c["rule"] for c in extra}], *extra]
                s.add(rec)
                held[plan_id] = ToolOutcome(
                    rec.tool,
                    dict(rec.args),
                    "planned",
                    result={"targets": len(rec.targets)},
                    message=rec.summary,
                    plan=_plan_view(rec),
                )
        out: dict[str, ToolOutcome] = dict(held)
        for plan_id in turn.deferred:
            if plan_id in held or plan_id in gone:
                continue
            try:
                out[plan_id] = await self.confirm(caller, plan_id, implicit=True)
            except ClawOpsError as err:
                with self.store.session() as s:
                    rec = s.get(PlanRecord, plan_id)
                    tool, args = (rec.tool, dict(rec.args)) if rec is not None else ("", {})
                out[plan_id] = ToolOutcome(tool, args, "error", message=str(err))
        return out

    async def _refresh_provider_status(self) -> None:
        """Placement avoids providers whose status page reports trouble: read the pages unless read lately.

        Advisory and bounded: a slow or broken status page never holds up a plan (Guardian's incidents in
        the store steer placement regardless).
        """
        if len(self.status_pages.known()) >= len(PROVIDERS):
            return
        try:
            await asyncio.wait_for(self.status_pages.refresh(self._drivers), timeout=STATUS_REFRESH_TIMEOUT_S)
        except Exception as exc:  # advisory input: log it and plan with what is known
            log.warning("provider status pages not read before planning: %s", exc)

    def _draft(self, s: Session, caller: Caller, spec: ToolSpec, args: dict[str, Any]) -> Draft:
        if spec.name == "restart":
            return self._draft_restart(s, caller, args)
        if spec.name == "provision_pairs":
            return draft_provision(s, caller, args, self.settings, self.status_pages)
        if spec.name == "teardown":
            return draft_teardown(s, caller, args, self.settings, self._drivers)
        if spec.name == "resize":
            return draft_resize(s, caller, args, self.settings, self._drivers)
        if spec.name == "failover":
            return draft_failover(s, caller, args, self.settings)
        if spec.name == "config_push":
            return draft_config_push(s, caller, args, self.settings)
        if spec.name == "silence_alerts":
            return draft_silence(s, caller, args, self.settings)
        raise InputError(f"{spec.name} is not available in this build yet; it is planned work.")

    def _draft_restart(self, s: Session, caller: Caller, args: dict[str, Any]) -> Draft:
        selector = Selector.parse(args["selector"])
        component = str(args["component"]).strip().lower()
        if component not in RESTART_COMPONENTS:
            raise InputError(
                f"restart component '{component}' is not known; use one of: {', '.join(RESTART_COMPONENTS)}."
            )
        args["component"] = component
        args["selector"] = selector.to_dict()
        matched = select_instances(s, caller, selector, usd_to_eur=self.settings.usd_to_eur)
        targets = [i for i in matched if InstanceState(i.state) in RESTARTABLE]
        if not targets:
            why = f" ({len(matched)} match but none is in a restartable state)" if matched else ""
            raise InputError(f"No instances match {selector.describe()}{why}; nothing to restart.")
        users = len({i.account_id for i in targets})
        what = {"vps": "reboot the VPS", "gateway": "restart the OpenClaw gateway", "docker": "restart docker"}[
            component
        ]
        summary = (
            f"{what[0].upper()}{what[1:]} on {len(targets)} instance{'s' if len(targets) != 1 else ''} "
            f"({selector.describe()}), affecting {users} user{'s' if users != 1 else ''}. No cost change."
        )
        steps = [
            {"instance": i.id, "action": f"restart_{component}", "text": f"{what} on {i.id} ({i.provider}, {i.state})"}
            for i in targets
        ]
        facts = PolicyFacts(
            tool="restart",
            kind="mutate",
            affected_users=users,
            confirm_threshold=self.settings.confirm_threshold,
            targets=[TargetFacts(i.id, i.account_id, i.tenant_id, i.role, i.state) for i in targets],
        )
        return Draft("restart", args, summary, [i.id for i in targets], steps, users, 0.0, True, facts)

    # ------------------------------------------------------------------ decisions
    def pending_plan(self, caller: Caller, plan_id: str) -> PlanView:
        with self.store.session() as s:
            rec = s.get(PlanRecord, plan_id)
            if rec is None or rec.operator_id != caller.operator_id:
                raise NotFound(f"No plan {plan_id} of yours exists; ask again to get a fresh plan.")
            return _plan_view(rec)

    async def confirm(
        self,
        caller: Caller,
        plan_id: str,
        *,
        implicit: bool = False,
        session_key: str | None = None,
        shown_scope: str | None = None,
    ) -> ToolOutcome:
        """Turn a pending plan into a job and run it.  Called only on the operator's own say-so.

        With :attr:`background_jobs` the job is started and the outcome says so (``done``: the job was
        accepted; its view says ``running``); progress then arrives through the listeners.
        """
        try:
            plan, job_id, args = self.confirm_plan(
                caller, plan_id, implicit=implicit, session_key=session_key, shown_scope=shown_scope
            )
        except _HeldForConfirmation as held:
            return ToolOutcome(held.plan.tool, held.tool_args, "planned", message=held.plan.summary, plan=held.plan)
        if self.background_jobs and not _FOREGROUND.get():
            self.start_job(job_id)
            view = self.job_view(job_id)
            message = f"Job {view.id} started: {view.total} steps; progress follows."
            return ToolOutcome(
                plan.tool, args, "done", result={"job": view.to_contract()}, message=message, plan=plan, job=view
            )
        view = await self.run_job(job_id)
        status = "done" if view.status == "succeeded" else "error"
        message = f"Job {view.id}: {view.done}/{view.total} done" + (f", {view.failed} failed" if view.failed else "")
        return ToolOutcome(
            plan.tool, args, status, result={"job": view.to_contract()}, message=message, plan=plan, job=view
        )

    # ------------------------------------------------------------------ progress
    @contextmanager
    def jobs_in_foreground(self) -> Iterator[None]:
        """Within this block a confirmed job is waited for, even with :attr:`background_jobs` on.

        For channels that cannot be told of progress later (Telegram, WhatsApp turns): their reply then
        carries the job's result instead of "started".
        """
        token = _FOREGROUND.set(True)
        try:
            yield
        finally:
            _FOREGROUND.reset(token)

    def add_progress_listener(self, listener: ProgressListener) -> Callable[[], None]:
        """Call ``listener`` with each :class:`JobProgress`; returns the function that unsubscribes it.

        Listeners run on the job's event loop and must not block; one that raises is logged and skipped.
        """
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def start_job(self, job_id: str, *, resumed: bool = False) -> asyncio.Task[JobView]:
        """Run a job as a task of this engine (once: a second call returns the same task).

        This is where every runner of a job on this engine is made and registered, whoever wants it run: a
        background job, a chat turn that waits for its job (:meth:`run_job`), a resume.  So
        :attr:`running_jobs` is complete, and a resume or a stop that consults it never starts a second
        runner beside the first (which would report "Resumed after an interruption" for a job that never was).

        ``resumed``: the run that started it went away; its progress says so, so the operator knows.
        """
        task = self._running.get(job_id)
        if task is not None and not task.done():
            return task
        if resumed:
            self._resumed_jobs.add(job_id)
        task = asyncio.ensure_future(self._run_watched(job_id))
        self._running[job_id] = task

        def finished(done: asyncio.Task[JobView]) -> None:
            self._running.pop(job_id, None)
            if not done.cancelled() and done.exception() is not None:
                log.error("job %s stopped: %s", job_id, done.exception())

        task.add_done_callback(finished)
        return task

    async def _run_watched(self, job_id: str) -> JobView:
        """A background job: if it stops on something unexpected, say so where the operator is looking
        (its record and a last progress report) instead of leaving a progress line that never moves."""
        try:
            return await self._drive(job_id)
        except Exception as exc:
            why = f"{UNEXPECTED_STOP} ({type(exc).__name__}); it resumes when the engine restarts"
            try:
                with self.store.session() as s:
                    job = s.get(JobRecord, job_id)
                    if job is not None:
                        job.error = why
                        s.add(job)
            finally:
                self._report(job_id, final=True)
            raise

    @property
    def running_jobs(self) -> list[str]:
        """Ids of the jobs this engine is running now, in the background or waited for by a turn."""
        return [job_id for job_id, task in self._running.items() if not task.done()]

    async def wait_for_jobs(self) -> list[JobView]:
        """Wait for every background job of this engine (tests, a graceful shutdown)."""
        tasks = [task for task in self._running.values() if not task.done()]
        return list(await asyncio.gather(*tasks)) if tasks else []

    def _report(self, job_id: str, *, final: bool = False) -> None:
        """Tell the listeners how a job stands, at most every :data:`PROGRESS_INTERVAL` seconds."""
        if not self._listeners:
            return
        now = asyncio.get_running_loop().time()
        last = self._last_report.get(job_id)
        if not final and last is not None and now - last < PROGRESS_INTERVAL:
            return
        self._last_report[job_id] = now
        if final:
            self._last_report.pop(job_id, None)
        try:
            view = self.job_view(job_id)
            operator, tenant = self._owner(job_id)
        except ClawOpsError:
            log.warning("no progress for job %s: the store did not answer", job_id)
            return
        if final:
            self._owners.pop(job_id, None)  # a long-lived daemon runs many jobs: keep only the running ones
        if job_id in self._resumed_jobs:
            view = dataclasses.replace(view, resumed=True)
            if final:
                self._resumed_jobs.discard(job_id)
        progress = JobProgress(view, operator, tenant)
        for listener in list(self._listeners):
            try:
                listener(progress)
            except Exception:  # a broken listener must not stop the job
                log.exception("progress listener failed")

    def _owner(self, job_id: str) -> tuple[str, str | None]:
        owner = self._owners.get(job_id)
        if owner is None:
            from engine.store import Operator

            with self.store.session() as s:
                job = s.get(JobRecord, job_id)
                started_by = job.started_by if job else ""
                row = s.get(Operator, started_by) if started_by else None
                owner = (row.name if row else started_by, row.tenant_id if row else None)
            self._owners[job_id] = owner
        return owner

    def confirm_plan(
        self,
        caller: Caller,
        plan_id: str,
        *,
        implicit: bool = False,
        session_key: str | None = None,
        shown_scope: str | None = None,
    ) -> tuple[PlanView, str, dict[str, Any]]:
        """Record the operator's decision and create the durable job (without running it).

        The decision gate checks who confirms: only the operator, in the session shown the plan (when
        ``session_key`` is given), for exactly the scope shown (when ``shown_scope`` is given).
        """
        with self.store.session() as s:
            rec = s.get(PlanRecord, plan_id)
            if rec is None or rec.operator_id != caller.operator_id:
                raise NotFound(f"No plan {plan_id} of yours exists; ask again to get a fresh plan.")
            if rec.status != "pending":
                raise InputError(f"Plan {plan_id} is {rec.status}, not waiting for confirmation; ask again.")
            self.gate.check_confirm(rec, caller, implicit=implicit, session_key=session_key, shown_scope=shown_scope)
            held = self.gate.hold_if_over(s, rec, caller) if implicit else []
            if held:
                rec.requires_confirmation = True
                rec.policy = [
                    *[p for p in rec.policy if p.get("rule") not in {c.rule for c in held}],
                    *[c.to_dict() for c in held],
                ]
                raise _HeldForConfirmation(
                    dataclasses.replace(_plan_view(rec), requires_confirmation=True), dict(rec.args)
                )
            # Re-check policy against the fleet as it is now: time has passed since the plan was shown.
            targets = list(s.exec(select(Instance).where(col(Instance.id).in_(rec.targets))).all())
            if len(targets) != len(rec.targets):
                raise InputError(f"Some targets of plan {plan_id} no longer exist; ask again for a fresh plan.")
            facts = PolicyFacts(
                tool=rec.tool,
                kind="mutate",
                affected_users=rec.affected_users,
                confirm_threshold=self.settings.confirm_threshold,
                targets=_standby_facts(s, targets),
                deletes_servers=rec.tool == "teardown",
            )
            evaluate(caller, facts, tool_spec(rec.tool).min_role)
            if rec.tool == "provision_pairs":
                rec.steps = materialize_pairs(s, caller, rec, self.settings)
            rec.status = "confirmed"
            self.gate.record_decision(s, rec, caller, implicit=implicit)
            rec.decided_at = utcnow()
            rec.decided_by = caller.operator_id
            rec.decided_channel = caller.channel
            job = JobRecord(
                id=_new_id("job"),
                plan_id=rec.id,
                tool=rec.tool,
                status="running",
                total=len(rec.steps),
                started_by=caller.operator_id,
            )
            s.add(rec)
            s.add(job)
            for seq, step in enumerate(rec.steps):
                s.add(JobStep(job_id=job.id, seq=seq, instance_id=step["instance"], action=step["action"]))
            audit.append(
                s,
                actor=caller.actor,
                channel=caller.channel,
                action=f"confirm.{rec.tool}",
                target=rec.id,
                outcome="auto" if implicit else "confirmed",
                detail={
                    "job": job.id,
                    "affected_users": rec.affected_users,
                    "how": "within threshold" if implicit else "operator confirmed",
                },
            )
            return _plan_view(rec), job.id, dict(rec.args)

    def cancel(self, caller: Caller, plan_id: str) -> PlanView:
        with self.store.session() as s:
            rec = s.get(PlanRecord, plan_id)
            if rec is None or rec.operator_id != caller.operator_id:
                raise NotFound(f"No plan {plan_id} of yours exists.")
            if rec.status != "pending":
                raise InputError(f"Plan {plan_id} is {rec.status}; there is nothing to cancel.")
            rec.status = "cancelled"
            rec.decided_at = utcnow()
            rec.decided_by = caller.operator_id
            rec.decided_channel = caller.channel
            s.add(rec)
            audit.append(
                s,
                actor=caller.actor,
                channel=caller.channel,
                action=f"cancel.{rec.tool}",
                target=rec.id,
                outcome="cancelled",
            )
            return _plan_view(rec)

    # ------------------------------------------------------------------ jobs
    async def run_job(self, job_id: str) -> JobView:
        """Run (or resume) a job on this engine and wait for its end.

        The job gets this engine's one runner (:meth:`start_job`): a caller that finds it already running here
        waits for that runner instead of starting another, and leaving early does not stop it; the caller that
        made the runner owns it (cancelling it cancels the run, as when a waiting chat turn is cut off).
        """
        runner = self._running.get(job_id)
        if runner is not None and not runner.done():
            return await asyncio.shield(runner)
        return await self.start_job(job_id)

    async def _drive(self, job_id: str) -> JobView:
        """The runner's work: every unfinished step, each committing on its own (only via :meth:`start_job`)."""
        with self.store.session() as s:
            job = s.get(JobRecord, job_id)
            plan = s.get(PlanRecord, job.plan_id) if job else None
            if job is None or plan is None:
                raise NotFound(f"No job {job_id} exists.")
            if job.error and job.error.startswith(UNEXPECTED_STOP):
                job.error = None  # running again: the note about the earlier stop no longer applies
                s.add(job)
            plan_steps = list(plan.steps)
            plan_args = dict(plan.args)
            pending = list(
                s.exec(
                    select(JobStep)
                    .where(col(JobStep.job_id) == job_id, col(JobStep.status) != "done")
                    .order_by(col(JobStep.seq))
                ).all()
            )
        self._report(job_id)
        # Steps can run for minutes (a server booting) while their instances move on: report every interval,
        # not only when a step ends, so "12/40 ACTIVE, 28/40 BOOTSTRAPPING" moves as it happens.
        ticker = asyncio.ensure_future(self._tick(job_id)) if self._listeners else None
        try:
            await self._prepare_providers(
                [step.instance_id for step in pending] + [str(p["standby"]) for p in plan_steps if p.get("standby")],
                every_provider=job.tool == "failover",
            )
            if job.tool == "config_push":
                view = await self._run_rollout(job_id, pending, plan_steps, dict(plan_args["config"]))
            else:
                gate = asyncio.Semaphore(TOOL_CONCURRENCY.get(job.tool, JOB_CONCURRENCY))

                async def one(step: JobStep) -> None:
                    async with gate:
                        params = plan_steps[step.seq] if step.seq < len(plan_steps) else {}
                        await self._run_step(step, params)
                        self._report(job_id)

                await asyncio.gather(*(one(step) for step in pending))
                if job.tool == "failover":
                    # Every pair is served now; then the replacement standbys are built, as steps of this job.
                    await asyncio.gather(*(one(step) for step in self._replacement_steps(job_id)))
                view = self._finish_job(job_id)
        finally:
            if ticker is not None:
                ticker.cancel()
        self._report(job_id, final=True)
        return view

    async def _tick(self, job_id: str) -> None:
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL)
            self._report(job_id)

    def _replacement_steps(self, job_id: str) -> list[JobStep]:
        """Add a ``create_standby`` step for each queued replacement standby of this failover job (once:
        a resumed job, or a second engine, finds them already there) and return the ones not done."""
        try:
            self._add_replacement_steps(job_id)
        except IntegrityError:
            log.info("another engine added job %s's replacement steps first", job_id)  # (job_id, seq) is unique
        with self.store.session() as s:
            return list(
                s.exec(
                    select(JobStep)
                    .where(
                        col(JobStep.job_id) == job_id,
                        col(JobStep.action) == "create_standby",
                        col(JobStep.status) != "done",
                    )
                    .order_by(col(JobStep.seq))
                ).all()
            )

    def _add_replacement_steps(self, job_id: str) -> None:
        building = (
            InstanceState.REQUESTED.value,
            InstanceState.CREATING.value,
            InstanceState.BOOTSTRAPPING.value,
            InstanceState.ERROR.value,
        )
        with self.store.session() as s:
            steps = list(s.exec(select(JobStep).where(col(JobStep.job_id) == job_id)).all())
            promoted = [st.instance_id for st in steps if st.action == "failover" and st.status == "done"]
            have = {st.instance_id for st in steps if st.action == "create_standby"}
            accounts = list(s.exec(select(Instance.account_id).where(col(Instance.id).in_(promoted))).all())
            queued = (
                list(
                    s.exec(
                        select(Instance.id)
                        .where(
                            col(Instance.account_id).in_(accounts),
                            col(Instance.role) == "standby",
                            col(Instance.state).in_(building),
                        )
                        .order_by(col(Instance.id))
                    ).all()
                )
                if accounts
                else []
            )
            new = [iid for iid in queued if iid not in have]
            if not new:
                return
            job = s.get(JobRecord, job_id)
            assert job is not None
            seq = max(st.seq for st in steps) + 1
            for offset, iid in enumerate(new):
                s.add(JobStep(job_id=job_id, seq=seq + offset, instance_id=iid, action="create_standby"))
            job.total += len(new)
            s.add(job)

    def promoted(self, job_id: str) -> bool:
        """Whether every promotion of a failover job is done (users served; replacements may still be building)."""
        with self.store.session() as s:
            statuses = list(s.execute(_FAILOVER_STATUSES, {"job_id": job_id}).scalars())
        return bool(statuses) and all(status == "done" for status in statuses)

    async def _prepare_providers(self, instance_ids: list[str], *, every_provider: bool = False) -> None:
        """Start lazily started provider back ends (the demo's emulators) before steps read server ids.

        A failover creates its replacement standby on a provider chosen at run
        time, so it prepares every provider.
        """
        ensure = getattr(self._drivers, "ensure", None)
        if ensure is None or not instance_ids:
            return
        with self.store.session() as s:
            providers = set(s.exec(select(Instance.provider).where(col(Instance.id).in_(instance_ids))).all())
        if every_provider:
            providers |= {"hetzner", "digitalocean", "vultr", "contabo", "hostinger"}
        for provider in sorted(providers):
            await ensure(provider)

    async def _run_rollout(
        self, job_id: str, pending: list[JobStep], plan_steps: list[dict[str, Any]], config: dict[str, Any]
    ) -> JobView:
        """Config push: batches strictly one after another; the first unhealthy batch halts and rolls back.

        Rule 2 made the batches small; this makes them safe: every instance that
        got the new config — in the failing batch and in the batches before it —
        is put back on its previous config, so a bad rollout leaves nobody on it.
        """
        for step in pending:
            params = {**plan_steps[step.seq], "config": config}
            if is_stopping(self.store, job_id):
                break  # batches already pushed stay (each was health-checked); the rest never start
            if not self._claim(step.id):
                continue
            try:
                async with self._lease(step.id):
                    detail = await self._steps.run(step.action, step.instance_id, params)
                ok = True
            except ClawOpsError as err:
                ok, detail = False, str(err)
            self._finish_step(step, ok, detail)
            self._report(job_id)
            if not ok:
                applied = [i for p in plan_steps[: step.seq + 1] for i in p["instances"]]
                restored = await self._steps.rollback_config(applied)
                with self.store.session() as s:
                    for later in s.exec(
                        select(JobStep).where(col(JobStep.job_id) == job_id, col(JobStep.seq) > step.seq)
                    ).all():
                        later.status, later.detail = "failed", "not started: the rollout halted"
                        s.add(later)
                    job = s.get(JobRecord, job_id)
                    assert job is not None
                    job.error = (
                        f"batch {step.seq + 1} failed its health check ({detail}); rollout halted and "
                        f"{restored} instances rolled back to their previous config"
                    )
                    s.add(job)
                    audit.append(
                        s,
                        actor="forge",
                        channel="job",
                        action="config_push.rollback",
                        target=job_id,
                        outcome="rolled_back",
                        detail={"batch": step.seq + 1, "restored": restored},
                    )
                break
        return self._finish_job(job_id)

    def _finish_step(self, step: JobStep, ok: bool, detail: str) -> None:
        with self.store.session() as s:
            status = "done" if ok else "failed"
            result = s.execute(
                _FINISH_STEP, {"step_id": step.id, "new_status": status, "new_detail": detail, "now": utcnow()}
            )
            assert getattr(result, "rowcount", 0) == 1, f"job step {step.id} is gone"
            audit.append(
                s,
                actor="forge",
                channel="job",
                action=step.action,
                target=step.instance_id,
                outcome="ok" if ok else "failed",
                detail={"job": step.job_id, "seq": step.seq, "detail": detail},
            )

    def _claim(self, step_id: int | None) -> bool:
        """Take a step for this process, atomically: two engines never run the same step.

        A step is free when pending or failed, or when it has been "running" for
        longer than the lease (its engine died mid-step; steps are idempotent).
        """
        lease_expired = utcnow() - timedelta(seconds=self.step_lease_seconds)
        with self.store.session() as s:
            result = s.execute(_CLAIM_STEP, {"step_id": step_id, "lease_expired": lease_expired, "now": utcnow()})
            return bool(getattr(result, "rowcount", 0) == 1)

    async def _run_step(self, step: JobStep, params: dict[str, Any]) -> None:
        if is_stopping(self.store, step.job_id):
            if skip_step(self.store, step.id):  # not started yet: it never will be
                self._skipped(step, release_unbought(self.store, step.job_id, step.action, step.instance_id, params))
            elif not self._claim(step.id):  # a stale "running" step (its engine died) is finished, not dropped
                return
            else:
                await self._run_claimed(step, params)
            return
        if not self._claim(step.id) and not await self._outlast(step):
            return  # another engine finished it
        await self._run_claimed(step, params)

    async def _outlast(self, step: JobStep) -> bool:
        """Watch a step another engine holds: True once its lease ran out and this engine claimed it (that engine
        died: its heartbeat stopped), False when it was finished there.  So a survivor that is already running the
        job takes a dead engine's steps over within one lease, instead of at its next resume pass."""
        while True:
            with self.store.session() as s:
                row = s.get(JobStep, step.id)
                if row is None or row.status not in ("running", "pending", "failed"):
                    return False
                renewed = _aware(row.updated_at)
            wait = (renewed + timedelta(seconds=self.step_lease_seconds) - utcnow()).total_seconds()
            await asyncio.sleep(min(max(wait, 0.0) + 0.05, self.step_lease_seconds / 4))
            if self._claim(step.id):
                return True

    async def _run_claimed(self, step: JobStep, params: dict[str, Any]) -> None:
        ok = True
        try:
            async with self._lease(step.id):
                detail = await self._steps.run(
                    step.action, step.instance_id, params, stopping=lambda: is_stopping(self.store, step.job_id)
                )
        except StepStopped:
            self._skipped(step, release_unbought(self.store, step.job_id, step.action, step.instance_id, params))
            return
        except ClawOpsError as err:
            ok, detail = False, str(err)
        self._finish_step(step, ok, detail)

    def _skipped(self, step: JobStep, detail: str) -> None:
        with self.store.session() as s:
            row = s.get(JobStep, step.id)
            if row is not None:
                row.status, row.detail, row.updated_at = "skipped", detail, utcnow()
                s.add(row)
            audit.append(
                s,
                actor="forge",
                channel="job",
                action=step.action,
                target=step.instance_id,
                outcome="skipped",
                detail={"job": step.job_id, "seq": step.seq, "detail": detail},
            )

    def _stop(self, caller: Caller, spec: ToolSpec, args: dict[str, Any], *, dry_run: bool) -> ToolOutcome:
        """``job_stop``: flag the job; whoever runs it stops at the next safe step boundary and reports."""
        evaluate(caller, PolicyFacts(tool=spec.name, kind="read"), spec.min_role)
        job_id = str(args.get("job_id") or "") or None
        if dry_run:
            with self.store.session() as s:
                from engine.operations._stop import resolve_job

                target = resolve_job(s, caller, job_id).id
            return ToolOutcome(
                spec.name,
                args,
                "planned",
                result={"job_id": target},
                message=f"Would stop job {target} at the next safe step boundary (dry run).",
            )
        target, newly = request_stop(self.store, caller, job_id)
        if target not in self.running_jobs:
            # Nobody here runs it (it was left by a closed chat, or runs elsewhere): settle what never started.
            settle_stopped(self.store, target)
            self._finish_job(target)
        view = self.job_view(target)
        self._report(target, final=view.finished)
        if view.finished:
            message = f"Job {target} stopped. {view.error or ''}".strip()
        else:
            under_way = view.total - view.done - view.failed - view.skipped
            message = (
                f"Stopping job {target}{'' if newly else ' (already asked)'}: {view.done}/{view.total} done, "
                f"{under_way} under way finish first (nothing is left half-built); the rest will not start. "
                "Its progress line says when it has stopped."
            )
        return ToolOutcome(
            spec.name, {"job_id": target}, "done", result={"job": view.to_contract()}, message=message, job=view
        )

    @asynccontextmanager
    async def _lease(self, step_id: int | None) -> AsyncIterator[None]:
        """Keep a claimed step's lease fresh while it runs.

        A step may legitimately take far longer than the lease (a new server waits up to 15 minutes for
        its node); renewing every quarter of the lease tells other engines this one is alive, so only a
        step whose engine really died is taken over.
        """

        async def renew() -> None:
            while True:
                await asyncio.sleep(self.step_lease_seconds / 4)
                try:
                    with self.store.session() as s:
                        s.execute(_RENEW_LEASE, {"step_id": step_id, "now": utcnow()})
                except ClawOpsError:
                    log.warning("could not renew the lease of step %s; another engine may take it over", step_id)

        task = asyncio.ensure_future(renew())
        try:
            yield
        finally:
            task.cancel()

    def _finish_job(self, job_id: str) -> JobView:
        if is_stopping(self.store, job_id):
            settle_stopped(self.store, job_id)
            finish_stopped(self.store, job_id)
            return self.job_view(job_id)
        with self.store.session() as s:
            job = s.get(JobRecord, job_id)
            if job is None:
                raise NotFound(f"No job {job_id} exists.")
            if job.status == "stopped":
                return self._job_view(s, job)
            steps = list(s.exec(select(JobStep).where(col(JobStep.job_id) == job_id)).all())
            counts = Counter(st.status for st in steps)
            job.done = counts.get("done", 0)
            job.failed = counts.get("failed", 0)
            if job.done + job.failed == job.total:
                job.status = "succeeded" if job.failed == 0 else "failed"
                job.error = None if job.failed == 0 else (job.error or f"{job.failed} of {job.total} steps failed")
            job.updated_at = utcnow()
            s.add(job)
            return self._job_view(s, job)

    def _job_view(self, s: Session, job: JobRecord) -> JobView:
        rows = list(s.execute(_JOB_STEP_ROWS, {"job_id": job.id}).all())
        # a job's instances: each step's own, plus the standby a provisioning step brings up with its primary
        instance_ids = {row[0] for row in rows}
        # Only a provisioning job needs its plan (its standbys, its ETA): a plan row carries every step, target
        # and policy note as JSON, and job views are read on every progress report and every Guardian poll.
        plan = s.get(PlanRecord, job.plan_id) if job.tool == "provision_pairs" else None
        if plan is not None:
            instance_ids |= {str(p["standby"]) for p in plan.steps if p.get("standby")}
        states = (
            Counter(s.execute(_INSTANCE_STATES, {"ids": sorted(instance_ids)}).scalars()) if instance_ids else Counter()
        )
        done = sum(1 for row in rows if row[1] == "done")
        failed = sum(1 for row in rows if row[1] == "failed")
        skipped = sum(1 for row in rows if row[1] == "skipped")
        status = job.status
        started = _aware(job.created_at)
        finished_at = [_aware(row[2]) for row in rows if row[1] in ("done", "failed", "skipped")]
        end = max(finished_at) if status in FINISHED_JOB and finished_at else utcnow()
        elapsed = max((end - started).total_seconds(), 0.0)
        eta = None
        fastest = [(_aware(row[2]) - started).total_seconds() for row in rows if row[1] == "done"]
        if status == "running" and plan is not None:
            eta = self._provisioning_eta(s, plan, rows, done, min(fastest) if fastest else None, started)
        if eta is None and status == "running" and done + failed:
            eta = elapsed / (done + failed) * max(job.total - done - failed, 0)
        return JobView(
            job.id,
            job.plan_id,
            job.tool,
            status,
            job.total,
            done,
            failed,
            dict(sorted(states.items())),
            job.error,
            elapsed,
            eta,
            min(fastest) if fastest else None,
            skipped,
        )

    def _provisioning_eta(
        self, s: Session, plan: PlanRecord, rows: list[Any], done: int, fastest: float | None, started: datetime
    ) -> float | None:
        """Time left from the providers' boot times and rate limits (see :mod:`engine.operations._eta`)."""
        from engine.operations._eta import estimate_provisioning, time_scale
        from engine.operations._steps import NodeBootstrap

        scale = time_scale(self._drivers)
        if scale is None:
            return None  # simulated servers take no time: the pace so far is the better guide
        finished = {row[0] for row in rows if row[1] in ("done", "skipped")}
        pairs = [
            (str(p["instance"]), str(p["standby"]))
            for p in plan.steps
            if p.get("instance") and p.get("standby") and p["instance"] not in finished
        ]
        ids = [i for pair in pairs for i in pair]
        instances = list(s.exec(select(Instance).where(col(Instance.id).in_(ids))).all()) if ids else []
        return estimate_provisioning(
            instances,
            pairs,
            done,
            utcnow(),
            scale,
            parallel=isinstance(self._nodes, NodeBootstrap),
            concurrency=TOOL_CONCURRENCY.get("provision_pairs", JOB_CONCURRENCY),
            fastest=fastest,
            started=started,
        )

    def job_view(self, job_id: str) -> JobView:
        """How a job stands now, read from the store (any engine's job)."""
        with self.store.session() as s:
            job = s.get(JobRecord, job_id)
            if job is None:
                raise NotFound(f"No job {job_id} exists; job ids look like job-0193f1a2b3c47d8e9f0a1b2c3d4e5f60.")
            return self._job_view(s, job)

    def job_status(self, caller: Caller, job_id: str) -> JobView:
        with self.store.session() as s:
            job = s.get(JobRecord, job_id)
            if job is None:
                raise NotFound(f"No job {job_id} exists; job ids look like job-0193f1a2b3c47d8e9f0a1b2c3d4e5f60.")
            plan = s.get(PlanRecord, job.plan_id)
            if caller.tenant_id is not None and plan is not None and plan.operator_id != caller.operator_id:
                raise NotFound(f"No job {job_id} is visible to you.")
            return self._job_view(s, job)

    def unfinished_jobs(self) -> list[str]:
        """Jobs not finished yet (by this engine or any other: steps are claimed, so resuming is safe)."""
        with self.store.session() as s:
            return list(
                s.exec(
                    select(JobRecord.id)
                    .where(col(JobRecord.status).in_(ACTIVE_JOB))
                    .order_by(col(JobRecord.created_at))
                ).all()
            )

    def recent_jobs(self, caller: Caller, limit: int = 10) -> list[JobView]:
        """Running jobs first, then the latest finished ones; a tenant-scoped operator sees only their own."""
        with self.store.session() as s:
            stmt = select(JobRecord).order_by(col(JobRecord.created_at).desc()).limit(200)
            if caller.tenant_id is not None:
                stmt = stmt.where(col(JobRecord.started_by) == caller.operator_id)
            jobs = list(s.exec(stmt).all())
            running = [j for j in jobs if j.status in ACTIVE_JOB]
            finished = [j for j in jobs if j.status not in ACTIVE_JOB]
            return [self._job_view(s, j) for j in (running + finished)[:limit]]

    async def resume_unfinished(self) -> list[JobView]:
        """Finish jobs an earlier process left running (steps already done are skipped).

        A job this engine is already running is waited for, not run a second time (:meth:`run_job`).
        """
        return [await self.run_job(job_id) for job_id in self.unfinished_jobs()]

    # ------------------------------------------------------------------ audit helpers
    def _audit_refusal(self, caller: Caller, tool: str, args: dict[str, Any], refusal: PolicyRefusal) -> None:
        try:
            with self.store.session() as s:
                audit.append(
                    s,
                    actor=caller.actor,
                    channel=caller.channel,
                    action=f"refused.{tool}",
                    target=refusal.rule,
                    outcome="refused",
                    detail={"args": args, "reason": str(refusal)},
                )
        except ClawOpsError:  # the refusal itself must still reach the operator
            log.exception("could not audit a refusal")


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time we store is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def policy_notes(checks: list[PolicyCheck]) -> list[str]:
    return [c.note for c in checks if c.needs_human]
