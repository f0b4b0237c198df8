"""Turning tool results into what the operator reads: short, numbers first, tagged by agent.

Both brains share these formatters, so the team sounds the same with or
without a model.  DEMO data is always labelled as such.
"""

from __future__ import annotations

from typing import Any

from engine.operations import ToolOutcome

AGENT_TAGS = {
    "commander": "[CMD]",
    "guardian": "[Guardian]",
    "forge": "[Forge]",
    "ledger": "[Ledger]",
    "triage": "[Triage]",
    "briefer": "[Briefer]",
}


def tag(agent: str) -> str:
    return AGENT_TAGS.get(agent, f"[{agent}]")


def _n(value: int) -> str:
    return f"{value:,}"


def _states(counts: dict[str, int]) -> str:
    return ", ".join(f"{_n(n)} {s}" for s, n in counts.items() if s != "total") or "none"


def fleet_status_text(result: dict[str, Any]) -> str:
    demo = "DEMO fleet" if result.get("demo") else "fleet"
    filters = result.get("filters") or {}
    total = int(result["instances"])
    if not filters:
        head = f"{'DEMO fleet' if result.get('demo') else 'Fleet'}: {_n(total)} instances across {_n(result['accounts'])} accounts — {_states(result['by_state'])}."
    else:
        described = " ".join(str(v) for k, v in filters.items() if k != "state")
        state = filters.get("state")
        what = f"{state} instances" if state else "Instances"
        head = f"{what}{' on ' + described if described else ''} ({demo}): {_n(total)}"
        if not state and total:
            head += f" — {_states(result['by_state'])}"
        head += "."
    lines = [head]
    if not filters and result["by_provider"]:
        parts = []
        for provider, counts in result["by_provider"].items():
            trouble = {s: n for s, n in counts.items() if s not in ("total", "ACTIVE")}
            extra = f" ({_states(trouble)})" if trouble else ""
            parts.append(f"{provider} {_n(counts['total'])}{extra}")
        lines.append("By provider: " + "; ".join(parts) + ".")
    problems = result.get("problems") or []
    if problems:
        shown = problems[:8]
        items = [
            f"{p['id']} {p['provider']} {p['region']} {p['state']}"
            + (f" {p['health_score']}" if p.get("health_score") is not None else "")
            + (f" ({p['health_reason']})" if p.get("health_reason") else "")
            for p in shown
        ]
        more = int(result.get("problems_total", len(problems))) - len(shown)
        label = "Needs attention" if not filters.get("state") else "Worst first"
        lines.append(f"{label}: " + "; ".join(items) + (f"; and {more} more." if more > 0 else "."))
    elif total and not filters.get("state"):
        lines.append("Nothing needs attention.")
    return "\n".join(lines)


def inspect_text(result: dict[str, Any]) -> str:
    acct = result["account"]
    demo = " (DEMO)" if result.get("demo") else ""
    lines = [f"{acct['id']}{demo} — tenant {acct['tenant']}, {acct['label'] or 'no label'}."]
    for inst in result["instances"]:
        score = f", health {inst['health_score']}" if inst["health_score"] is not None else ""
        reason = f" ({inst['health_reason']})" if inst["health_reason"] else ""
        lines.append(
            f"{inst['role'].capitalize()} {inst['id']}: {inst['provider']} {inst['region']}, {inst['tier']}, "
            f"{inst['state']}{score}{reason}; {inst['monthly_price']:.2f} {inst['currency']}/month."
        )
    return "\n".join(lines)


def plan_text(outcome: ToolOutcome) -> str:
    plan = outcome.plan
    assert plan is not None
    text = f"Plan {plan.id}: {plan.summary}"
    if plan.status == "dry_run":
        return text + " (dry run: nothing was done.)"
    if plan.requires_confirmation:
        notes = [str(p["note"]) for p in plan.policy if p.get("needs_human")]
        return text + (f" Policy: {'; '.join(notes)}." if notes else "") + " Confirm? (go / cancel)"
    return text


def job_text(outcome: ToolOutcome) -> str:
    job = outcome.job
    assert job is not None
    states = ", ".join(f"{n} {s}" for s, n in job.states.items())
    if job.status == "succeeded":
        return f"Done: job {job.id} finished {job.done}/{job.total} steps. Now: {states}."
    if job.status == "running" and job.done + job.failed == 0:
        return (
            f"Started job {job.id}: {job.total} steps ({states}); progress follows here, "
            f'and "job status {job.id}" tells you where it stands at any time.'
        )
    return f"Job {job.id} {job.status}: {job.done}/{job.total} done, {job.failed} failed. Now: {states}."


def provider_health_text(result: dict[str, Any]) -> str:
    """Status page first, then exposure: what the provider says, and what it means for our users."""
    lines = []
    for provider, info in result["providers"].items():
        status = info["status"]
        incidents = "; ".join(i["title"] for i in status.get("incidents", [])[:2])
        head = f"{provider}: {status['indicator']}" + (f" — {incidents}" if incidents else "")
        exposure = (
            f"{info['primaries']} primaries, {info['standbys']} standbys"
            + (f", {info['failed']} FAILED ({info['failed_over']} failed over)" if info["failed"] else "")
            + (f", {info['users_without_gateway']} users without a gateway" if info["users_without_gateway"] else "")
            + (
                f", {info['standbys_lost']} users served but without a standby until replacements are up"
                if info.get("standbys_lost")
                else ""
            )
        )
        lines.append(f"{head}. Exposure: {exposure}.")
        risks = info.get("at_risk") or []
        for risk in risks[:8]:  # the users behind the numbers: who, since when, what to do
            lines.append(
                f"  {risk['account']}: {risk['problem']}, since {risk['since']}; recommended: {risk['action']}."
            )
        if len(risks) > 8:
            lines.append(f"  …and {len(risks) - 8} more (ask about one region or account for the full list).")
        if len(result["providers"]) == 1:
            for region, e in info["regions"].items():
                lines.append(
                    f"  {region}: {e['primaries']} primaries, {e['standbys']} standbys, {e['failed']} failed, "
                    f"{e['users_without_gateway']} users without a gateway."
                )
    prefix = "DEMO — " if result.get("demo") else ""
    return prefix + "\n".join(lines)


def _check_text(name: str, check: dict[str, Any]) -> str:
    """One node check in words, e.g. ``disk 96 % used`` or ``WebSocket probe 2400 ms``."""
    if name == "disk" and "used_percent" in check:
        return f"disk {check['used_percent']:.0f} % used"
    if name == "ws_probe" and "latency_ms" in check:
        return f"WebSocket probe {check['latency_ms']:.0f} ms"
    if name == "gateway":
        return "gateway process running" if check.get("running") else "gateway process NOT running"
    if name == "docker":
        if not check.get("available", True):
            return "docker unavailable"
        states = ", ".join(f"{c.get('name')} {c.get('state')}" for c in check.get("containers", [])[:3])
        return f"docker: {states or 'no containers'}"
    if name == "memory" and check.get("total_bytes"):
        return f"memory {check.get('available_bytes', 0) / 2**30:.1f} of {check['total_bytes'] / 2**30:.1f} GiB free"
    if name == "logs":
        lines = check.get("lines") or []
        return f"last log line: {lines[-1]}" if lines else "no gateway log lines"
    return f"{name} {'ok' if check.get('ok') else 'failed'}" + (f" ({check['error']})" if check.get("error") else "")


def diagnose_text(result: dict[str, Any]) -> str:
    """Findings first (what failed, per instance), then what was fine, so the cause is the first thing read."""
    found = result.get("instances") or []
    lines = [
        f"{result.get('account')}: checked {len(found)} instance{'s' if len(found) != 1 else ''} "
        f"({', '.join(result.get('checks') or [])})."
    ]
    for inst in found:
        head = f"{inst['id']} ({inst['role']}, {inst['provider']} {inst['region']}, {inst['state']})"
        if inst.get("error"):
            lines.append(f"{head}: could not be checked: {inst['error']}")
            continue
        checks = inst.get("checks") or {}
        bad = [_check_text(name, c) for name, c in checks.items() if not c.get("ok")]
        good = [_check_text(name, c) for name, c in checks.items() if c.get("ok") and name in ("disk", "ws_probe")]
        if bad:
            lines.append(f"{head}: PROBLEM: {'; '.join(bad)}.")
        else:
            lines.append(f"{head}: all {len(checks)} checks passed" + (f" ({', '.join(good)})." if good else "."))
    return "\n".join(lines)


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def outcome_text(outcome: ToolOutcome) -> str:
    """One tool call's outcome in words."""
    if outcome.status == "refused":
        return outcome.message
    if outcome.status == "error" and outcome.job is None:
        return outcome.message
    if outcome.tool == "job_stop" and outcome.message:
        return outcome.message  # what was done, what is finishing, what will not start
    if outcome.job is not None:
        return job_text(outcome)
    if outcome.plan is not None:
        return plan_text(outcome)
    if outcome.tool == "fleet_status":
        return fleet_status_text(outcome.result)
    if outcome.tool == "instance_inspect":
        return inspect_text(outcome.result)
    if outcome.tool == "instance_diagnose":
        return diagnose_text(outcome.result)
    if outcome.tool == "guardian_sweep":
        r = outcome.result
        bands = ", ".join(f"{n} {band}" for band, n in sorted(r.get("bands", {}).items()))
        acted = len(r.get("actions", []))
        return (
            f"Swept {r.get('scored', 0)} instances" + (f": {bands}" if bands else "") + f". "
            f"{acted} heal action{'s' if acted != 1 else ''} run; {r.get('incidents', 0)} new incident(s), "
            f"{r.get('alerts', 0)} new alert(s)."
        )
    if outcome.tool == "provider_health":
        return provider_health_text(outcome.result)
    if outcome.tool in ("briefing", "briefing_schedule"):
        return str(outcome.result.get("reply") or outcome.result.get("text", ""))
    if outcome.tool == "cost_analysis":
        from engine.ledger import cost_analysis_text

        return cost_analysis_text(outcome.result)
    if outcome.tool == "job_status" and "jobs" in outcome.result:
        jobs = outcome.result["jobs"]
        if not jobs:
            return "No jobs yet: nothing has been confirmed on this fleet."
        running = sum(1 for j in jobs if j["status"] in ("queued", "running", "stopping"))
        lines = [
            f"{running} job{'s' if running != 1 else ''} running." if running else "No job is running now.",
            "Recent jobs:",
        ]
        for j in jobs:
            eta = f", about {_minutes(j['eta_seconds'])} to go" if j.get("eta_seconds") is not None else ""
            failed = f", {j['failed']} failed" if j["failed"] else ""
            lines.append(f"  {j['id']} {j['tool']} {j['status']}: {j['done']}/{j['total']} done{failed}{eta}")
        return "\n".join(lines)
    if outcome.tool == "job_status":
        job = outcome.result
        text = f"Job {job['id']} {job['status']}: {job['done']}/{job['total']} done, {job['failed']} failed."
        states = ", ".join(f"{n} {state}" for state, n in (job.get("states") or {}).items())
        if states:
            text += f" Its instances now: {states}."
        if job.get("eta_seconds") is not None:
            text += f" About {_minutes(job['eta_seconds'])} to go."
        if job.get("error"):
            text += f" {job['error']}"
        return text
    return outcome.message or f"{outcome.tool}: {outcome.status}."
