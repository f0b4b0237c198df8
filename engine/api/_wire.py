"""JSON shapes on the wire: turn results, events and audit reports, both ways.

A turn travels as the ``clawops ask --json`` contract (``TurnResult.to_contract()``)
plus, when the client asks for it, ``detail``: each tool call with its full
plan and job view, so a remote chat can draw the same plan cards as an
embedded one.  Decoding is strict about types so a confused peer produces one
clear error, not a crash deep in the UI.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Any, cast

from engine import events
from engine.audit import AuditProblem, AuditReport
from engine.conversation import TurnResult
from engine.errors import ClawOpsError
from engine.events import EngineEvent, ToolCalled, TurnFailed, TurnFinished, TurnStarted
from engine.operations import JobProgress, JobView, PlanView, ToolOutcome

__all__ = [
    "audit_from_wire",
    "audit_to_wire",
    "event_from_wire",
    "event_to_wire",
    "progress_from_wire",
    "progress_to_wire",
    "turn_from_wire",
    "turn_to_wire",
]


def turn_to_wire(result: TurnResult, *, detail: bool = False) -> dict[str, Any]:
    data = result.to_contract()
    if detail:
        data["session"] = result.session
        data["detail"] = [asdict(call) for call in result.tool_calls]
    return data


def _plan(data: dict[str, Any] | None) -> PlanView | None:
    if not data:
        return None
    return PlanView(
        id=str(data["id"]),
        tool=str(data["tool"]),
        summary=str(data["summary"]),
        requires_confirmation=bool(data["requires_confirmation"]),
        affected_users=int(data["affected_users"]),
        monthly_cost_delta=float(data["monthly_cost_delta"]),
        status=str(data["status"]),
        steps=tuple(data.get("steps") or ()),
        policy=tuple(data.get("policy") or ()),
        reversible=bool(data.get("reversible", True)),
    )


def _job(data: dict[str, Any] | None) -> JobView | None:
    if not data:
        return None
    return JobView(
        id=str(data["id"]),
        plan_id=str(data["plan_id"]),
        tool=str(data["tool"]),
        status=str(data["status"]),
        total=int(data["total"]),
        done=int(data["done"]),
        failed=int(data["failed"]),
        states=dict(data.get("states") or {}),
        error=data.get("error"),
        elapsed_seconds=float(data.get("elapsed_seconds") or 0.0),
        eta_seconds=_optional_float(data.get("eta_seconds")),
        fastest_seconds=_optional_float(data.get("fastest_seconds")),
        skipped=int(data.get("skipped") or 0),
        resumed=bool(data.get("resumed")),
    )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def progress_to_wire(progress: JobProgress) -> dict[str, Any]:
    return {
        "job": progress.job.to_contract(),
        "operator": progress.operator,
        "tenant": progress.tenant,
        "line": progress.line,
    }


def progress_from_wire(data: dict[str, Any]) -> JobProgress:
    try:
        job = _job(data["job"])
        assert job is not None
        return JobProgress(job, str(data.get("operator") or ""), data.get("tenant"))
    except (AssertionError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ClawOpsError(f"The engine sent job progress this client cannot read ({exc!r}); update clawops.") from None


def turn_from_wire(data: Any) -> TurnResult:
    """Rebuild a :class:`TurnResult` (with plan and job views when ``detail`` is present)."""
    try:
        calls: list[ToolOutcome] = []
        for raw in data.get("detail") or []:
            calls.append(
                ToolOutcome(
                    tool=str(raw["tool"]),
                    args=dict(raw.get("args") or {}),
                    status=str(raw["status"]),
                    result=dict(raw.get("result") or {}),
                    message=str(raw.get("message") or ""),
                    plan=_plan(raw.get("plan")),
                    job=_job(raw.get("job")),
                    rule=raw.get("rule"),
                )
            )
        if "detail" not in data:
            for raw in data.get("tool_calls") or []:
                result = dict(raw.get("result") or {})
                calls.append(
                    ToolOutcome(
                        tool=str(raw["tool"]),
                        args=dict(raw.get("args") or {}),
                        status=str(raw["status"]),
                        result=result,
                        message=str(result.get("error", "")),
                        rule=result.get("rule"),
                    )
                )
        return TurnResult(
            reply=str(data["reply"]),
            agent=str(data.get("agent") or "commander"),
            tool_calls=calls,
            session=data.get("session"),
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ClawOpsError(f"The engine sent a turn this client cannot read ({exc!r}); update clawops.") from None


def event_to_wire(event: EngineEvent) -> dict[str, Any]:
    if isinstance(event, TurnStarted):
        return {"event": "turn_started", "message": event.message, "session": event.session}
    if isinstance(event, ToolCalled):
        return {"event": "tool_called", "tool": event.tool, "status": event.status, "summary": event.summary}
    if isinstance(event, TurnFinished):
        return {"event": "turn_finished", "result": turn_to_wire(event.result, detail=True)}
    if isinstance(event, TurnFailed):
        return {"event": "turn_failed", "message": event.message}
    if isinstance(event, JobProgress):
        return {"event": "job_progress", **progress_to_wire(event)}
    # newer plain events (e.g. streamed text) travel by class name with their fields
    return {"event": type(event).__name__, "fields": asdict(event)}


def event_from_wire(data: dict[str, Any]) -> EngineEvent:
    kind = data.get("event")
    if kind == "turn_started":
        return TurnStarted(str(data.get("message", "")), data.get("session"))
    if kind == "tool_called":
        return ToolCalled(str(data["tool"]), str(data["status"]), str(data.get("summary", "")))
    if kind == "turn_finished":
        return TurnFinished(turn_from_wire(data["result"]))
    if kind == "turn_failed":
        return TurnFailed(str(data.get("message", "The turn failed.")))
    if kind == "job_progress":
        return progress_from_wire(data)
    cls = getattr(events, str(kind), None)
    if isinstance(cls, type) and is_dataclass(cls) and isinstance(data.get("fields"), dict):
        try:
            event = cast(EngineEvent, cls(**data["fields"]))
        except TypeError:
            pass
        else:
            return event
    raise ClawOpsError(f"The engine sent an unknown event {kind!r}; update clawops.")


def audit_to_wire(report: AuditReport) -> dict[str, Any]:
    problem = None if report.problem is None else {"seq": report.problem.seq, "message": report.problem.message}
    return {"ok": report.ok, "entries": report.entries, "head_hash": report.head_hash, "problem": problem}


def audit_from_wire(data: dict[str, Any]) -> AuditReport:
    raw = data.get("problem")
    problem = None if not raw else AuditProblem(seq=int(raw["seq"]), message=str(raw["message"]))
    return AuditReport(entries=int(data["entries"]), head_hash=str(data["head_hash"]), problem=problem)
