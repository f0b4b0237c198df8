"""The tool table (ARCHITECTURE §3, contract): names, arguments, kinds, roles.

Agents see tools through this table (their allowance is a subset of it), the
offline brain emits calls that are checked against it, and the HTTP API will
expose it.  Argument names here are the contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import InputError
from engine.policy import Role


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool: what it is called, what it takes, whether it changes the fleet."""

    name: str
    kind: str  # "read" | "mutate"
    required: tuple[str, ...]
    optional: tuple[str, ...]
    min_role: Role
    description: str

    @property
    def args(self) -> tuple[str, ...]:
        return self.required + self.optional

    def validate(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """Reject unknown or missing arguments with a sentence that lists the right ones."""
        unknown = sorted(set(args) - set(self.args))
        if unknown:
            raise InputError(
                f"{self.name} has no argument '{unknown[0]}'; it takes {', '.join(self.args) or 'none'}."
            )
        missing = [a for a in self.required if args.get(a) in (None, "")]
        if missing:
            raise InputError(f"{self.name} needs '{missing[0]}'; it takes {', '.join(self.args)}.")
        return dict(args)


def _t(name: str, kind: str, req: str, opt: str, role: Role, desc: str) -> ToolSpec:
    return ToolSpec(name, kind, tuple(req.split()), tuple(opt.split()), role, desc)


_R, _M = "read", "mutate"
V, OP = Role.VIEWER, Role.OPERATOR

TOOLS: dict[str, ToolSpec] = {
    t.name: t
    for t in (
        _t("fleet_status", _R, "", "provider region geo tier state", V,
           "Counts of instances by state and provider, and the ones that need attention."),
        _t("instance_inspect", _R, "target", "", V, "One account's pair or one instance, in full."),
        _t("instance_diagnose", _R, "target", "checks", V, "Read-only checks run by clawnode on the instance."),
        _t("provision_pairs", _M, "count tier primary_provider", "geo region standby_provider label", OP,
           "Create primary + standby pairs on two different providers."),
        _t("teardown", _M, "selector", "archive", OP, "Archive, then delete (or cancel) instances."),
        _t("resize", _M, "selector tier", "", OP, "Move instances to another tier."),
        _t("restart", _M, "selector component", "", OP, "Restart the gateway, docker, or the whole VPS."),
        _t("failover", _M, "selector", "", OP, "Promote verified healthy standbys to primary."),
        _t("config_push", _M, "selector config", "batch_size", OP,
           "Push gateway config in rolling, health-checked batches."),
        _t("cost_analysis", _R, "kind period", "", V, "Spend report, waste findings or forecast."),
        _t("provider_health", _R, "", "provider region", V, "Provider status and our exposure per region."),
        _t("silence_alerts", _M, "selector minutes", "reason", OP, "Silence alerts for matching instances."),
        _t("guardian_sweep", _R, "", "", OP, "Run Guardian's health sweep now (where nodes report to this engine)."),
        _t("job_status", _R, "", "job_id", V, "Progress of a job; without job_id, the running and recent jobs."),
        _t("job_stop", _M, "", "job_id", OP,
           "Stop a running job at the next safe step boundary (without job_id: your only running job)."),
        _t("audit_query", _R, "", "actor action target limit", V, "Search the audit log."),
        _t("briefing", _R, "kind", "", V, "The daily or weekly briefing."),
        _t("briefing_schedule", _R, "", "time tz days skip_days channels enabled", V,
           "Your briefing time (HH:MM), time zone, days and channels; without arguments, when it comes."),
    )
}

TOOL_AGENT = {
    "provision_pairs": "forge", "teardown": "forge", "resize": "forge", "config_push": "forge",
    "cost_analysis": "ledger", "provider_health": "guardian", "silence_alerts": "guardian",
    "instance_diagnose": "triage", "briefing": "briefer", "briefing_schedule": "briefer", "guardian_sweep": "guardian",
}
"""Which teammate speaks for a tool (its answers, its jobs' progress); the rest is Commander's."""

CONTRACT_TOOLS = (
    "fleet_status", "instance_inspect", "instance_diagnose", "provision_pairs", "teardown", "resize", "restart",
    "failover", "config_push", "cost_analysis", "provider_health", "silence_alerts",
)
"""The 12 operations of ARCHITECTURE §3, in the contract's order."""

RESTART_COMPONENTS = ("gateway", "docker", "vps")


def tool_spec(name: str) -> ToolSpec:
    try:
        return TOOLS[name]
    except KeyError:
        raise InputError(f"There is no tool called '{name}'; tools are: {', '.join(TOOLS)}.") from None
