"""JSON schemas of an agent's tools, for the Messages API's ``tools`` parameter.

Built from the same tables as everything else (the operation registry, the
domain enums, the agent's allowance), so the LLM brain offers each agent
exactly its allowed tools with the contract's argument names, and enums where
the domain has them.  The schemas help the model; they are not the safety
net: the operation layer validates and the policy engine judges every call.
"""

from __future__ import annotations

from typing import Any

from engine.agents._content import AgentSpec
from engine.agents._tools import BRIEFING_KINDS, COST_KINDS, COST_PERIODS, known_tools
from engine.domain import FINDINGS, REGIONS, Geo, InstanceState, Provider, Role, Tier
from engine.operations._registry import RESTART_COMPONENTS

_STR: dict[str, Any] = {"type": "string"}
_POS: dict[str, Any] = {"type": "integer", "minimum": 1}


def _enum(values: list[str] | tuple[str, ...], description: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"type": "string", "enum": list(values)}
    if description:
        out["description"] = description
    return out


_PROVIDERS = [p.value for p in Provider]
_SELECTOR: dict[str, Any] = {
    "type": "object",
    "description": "Which instances; keys combine with AND. Empty means every instance you may see.",
    "properties": {
        "accounts": {"type": "array", "items": _STR, "description": "account ids such as acct-042"},
        "instances": {"type": "array", "items": _STR, "description": "instance ids such as i-acct-042-p"},
        "provider": _enum(_PROVIDERS),
        "region": _enum(sorted(REGIONS)),
        "geo": _enum([g.value for g in Geo]),
        "tier": _enum([t.value for t in Tier]),
        "state": _enum([s.value for s in InstanceState]),
        "role": _enum([r.value for r in Role]),
        "finding": _enum(FINDINGS, "a finding id from the last cost_analysis(kind='waste')"),
    },
    "additionalProperties": False,
}

ARG_SCHEMAS: dict[str, dict[str, Any]] = {
    "provider": _enum(_PROVIDERS),
    "primary_provider": _enum(_PROVIDERS),
    "standby_provider": _enum(_PROVIDERS, "must differ from primary_provider"),
    "region": _enum(sorted(REGIONS)),
    "geo": _enum([g.value for g in Geo]),
    "tier": _enum([t.value for t in Tier]),
    "state": _enum([s.value for s in InstanceState]),
    "target": {"type": "string", "description": "an account id (acct-042) or an instance id (i-acct-042-p)"},
    "checks": {"type": "array", "items": _STR, "description": "narrow the read-only checks; omit for all"},
    "count": _POS,
    "label": _STR,
    "selector": _SELECTOR,
    "archive": {"type": "boolean", "description": "archive the account's data first (default true)"},
    "component": _enum(RESTART_COMPONENTS),
    "config": {"type": "object", "description": "gateway configuration to push"},
    "batch_size": {**_POS, "description": "instances per rolling batch"},
    "period": _enum(COST_PERIODS),
    "minutes": _POS,
    "reason": _STR,
    "job_id": {"type": "string", "description": "a job id such as job-1a2b3c4d"},
    "actor": _STR,
    "action": _STR,
    "limit": _POS,
    "task": _STR,
    "message": _STR,
    "wait": {"type": "boolean", "description": "block until the other agent answers"},
    "time": {"type": "string", "description": "briefing time of day, HH:MM (24 h) in tz"},
    "tz": {"type": "string", "description": "IANA time zone such as Europe/Berlin or UTC"},
    "days": {"type": "string", "description": "briefing days: every day, weekdays, weekends or mon,wed,fri"},
    "skip_days": {"type": "string", "description": "days to leave out, e.g. weekends or sunday"},
    "channels": {"type": "string", "description": "telegram, whatsapp or both (comma separated)"},
    "enabled": {"type": "boolean", "description": "false stops scheduled briefings, true resumes them"},
}
"""Schema per argument name; ``kind`` and ``agent`` depend on the tool and the caller (see :func:`tool_schemas`)."""


def _arg_schema(agent: AgentSpec, tool: str, arg: str) -> dict[str, Any]:
    if arg == "kind":
        return _enum(COST_KINDS if tool == "cost_analysis" else BRIEFING_KINDS)
    if arg == "agent":
        return _enum(agent.may_spawn if tool == "sessions_spawn" else agent.may_message)
    return ARG_SCHEMAS[arg]


def tool_schemas(agent: AgentSpec) -> list[dict[str, Any]]:
    """The agent's allowed tools as Messages API tool definitions, in allowance order.

    ``sessions_spawn``/``sessions_send`` list only the agents this one may
    spawn or message, so delegation limits reach the model as enums too.
    """
    tools = known_tools()
    out: list[dict[str, Any]] = []
    for name in agent.tools:
        spec = tools[name]
        out.append({
            "name": name,
            "description": spec.description,
            "input_schema": {
                "type": "object",
                "properties": {arg: _arg_schema(agent, name, arg) for arg in spec.args},
                "required": list(spec.required),
                "additionalProperties": False,
            },
        })
    return out
