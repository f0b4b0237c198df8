"""Which tools exist for an agent, and what a well-formed call to one looks like.

The operation table (``engine.operations.TOOLS``) is the contract for fleet
tools.  Agents also get two session tools that never touch the fleet
(``sessions_spawn`` and ``sessions_send``); they are declared here, beside the
checks a skill's example calls must pass, so a runbook can never teach a model
a tool or argument the engine does not have.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.domain import REGIONS, Geo, InstanceState, Provider, Selector, Tier
from engine.errors import InputError
from engine.operations._registry import RESTART_COMPONENTS, TOOLS, ToolSpec
from engine.policy import Role

AGENT_NAMES = ("commander", "guardian", "forge", "ledger", "triage", "briefer")
"""The six agents of ARCHITECTURE §5, in the order the team is introduced."""

SESSION_KIND = "session"
"""Kind of the agent-to-agent tools: they move messages, never the fleet."""

SESSION_TOOLS: dict[str, ToolSpec] = {
    "sessions_spawn": ToolSpec(
        "sessions_spawn", SESSION_KIND, ("agent", "task"), (), Role.VIEWER,
        "Start a child run of another agent on a task; its result is announced back when it finishes.",
    ),
    "sessions_send": ToolSpec(
        "sessions_send", SESSION_KIND, ("agent", "message"), ("wait",), Role.VIEWER,
        "Send a message to another agent; with wait=true, block until it answers.",
    ),
}

COST_KINDS = ("report", "waste", "forecast")
COST_PERIODS = ("week", "month")
BRIEFING_KINDS = ("daily", "weekly")


def known_tools() -> dict[str, ToolSpec]:
    """Every tool an agent may be allowed: the operation table plus the session tools."""
    return {**TOOLS, **SESSION_TOOLS}


def is_mutating(tool: str) -> bool:
    """True for a tool that changes the fleet (plans, then jobs).  Unknown tools count as mutating."""
    spec = known_tools().get(tool)
    return spec is None or spec.kind == "mutate"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One example call found in a runbook: ``tool(arg=value, ...)`` in a code span."""

    tool: str
    args: dict[str, Any]
    line: int
    text: str


_SPAN = re.compile(r"`([^`\n]+)`")
_CALL_START = re.compile(r"^([a-z][a-z0-9_]*)\(")


def parse_calls(markdown: str) -> tuple[list[ToolCall], list[str]]:
    """Find every ``name(...)`` code span in ``markdown``.

    The notation is one on purpose: keyword arguments only, Python literal
    values (strings in double quotes, dicts, lists, numbers, True/False).  That
    makes every example machine-checkable; a span that starts like a call but
    does not parse is reported as a problem rather than silently skipped.
    Returns the calls and the problems, each problem a sentence with a line number.
    """
    calls: list[ToolCall] = []
    problems: list[str] = []
    for lineno, line in enumerate(markdown.splitlines(), start=1):
        for match in _SPAN.finditer(line):
            text = match.group(1).strip()
            head = _CALL_START.match(text)
            if head is None:
                continue
            try:
                node = ast.parse(text, mode="eval").body
            except SyntaxError:
                problems.append(f"line {lineno}: `{text}` looks like a tool call but is not valid call syntax")
                continue
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                problems.append(f"line {lineno}: `{text}` is not a plain tool(arg=value) call")
                continue
            if node.args:
                problems.append(f"line {lineno}: `{text}` uses positional arguments; name every argument")
                continue
            args: dict[str, Any] = {}
            bad = False
            for kw in node.keywords:
                if kw.arg is None:
                    problems.append(f"line {lineno}: `{text}` uses ** unpacking; spell the arguments out")
                    bad = True
                    break
                try:
                    args[kw.arg] = ast.literal_eval(kw.value)
                except ValueError:
                    problems.append(f"line {lineno}: `{text}` argument '{kw.arg}' is not a literal value")
                    bad = True
                    break
            if not bad:
                calls.append(ToolCall(node.func.id, args, lineno, text))
    return calls, problems


def _one_of(value: Any, allowed: tuple[str, ...] | list[str], what: str) -> str | None:
    return None if value in allowed else f"{what} '{value}' is not one of {', '.join(allowed)}"


def _enum(value: Any, enum: type[Any], what: str) -> str | None:
    return _one_of(value, [e.value for e in enum], what)


def _positive_int(value: Any, what: str) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return None if ok else f"{what} must be a positive whole number, not {value!r}"


def check_call(tool: str, args: Mapping[str, Any]) -> list[str]:
    """Everything wrong with one call, as sentences; empty when the engine would accept its shape.

    Checks the name, the argument names (unknown and missing), and the values
    the domain can judge without a fleet: selectors (strictly parsed), tiers,
    regions, providers, restart components, cost kinds and periods, agents.
    """
    spec = known_tools().get(tool)
    if spec is None:
        return [f"there is no tool called '{tool}'"]
    problems = [f"{tool} has no argument '{a}' (it takes {', '.join(spec.args) or 'none'})"
                for a in sorted(set(args) - set(spec.args))]
    problems += [f"{tool} needs '{a}'" for a in spec.required if a not in args]
    checks: dict[str, Any] = {
        "tier": lambda v: _enum(v, Tier, "tier"),
        "geo": lambda v: _enum(v, Geo, "geo"),
        "provider": lambda v: _enum(v, Provider, "provider"),
        "primary_provider": lambda v: _enum(v, Provider, "primary_provider"),
        "standby_provider": lambda v: _enum(v, Provider, "standby_provider"),
        "region": lambda v: _one_of(v, sorted(REGIONS), "region"),
        "state": lambda v: _enum(v, InstanceState, "state"),
        "component": lambda v: _one_of(v, RESTART_COMPONENTS, "component"),
        "period": lambda v: _one_of(v, COST_PERIODS, "period"),
        "agent": lambda v: _one_of(v, AGENT_NAMES, "agent"),
        "count": lambda v: _positive_int(v, "count"),
        "minutes": lambda v: _positive_int(v, "minutes"),
        "batch_size": lambda v: _positive_int(v, "batch_size"),
        "limit": lambda v: _positive_int(v, "limit"),
        "archive": lambda v: None if isinstance(v, bool) else "archive must be True or False",
        "wait": lambda v: None if isinstance(v, bool) else "wait must be True or False",
        "config": lambda v: None if isinstance(v, dict) and v else "config must be a non-empty object",
    }
    for name, value in args.items():
        if name == "selector":
            try:
                Selector.parse(value)
            except InputError as err:
                problems.append(str(err))
        elif name == "kind":
            allowed = COST_KINDS if tool == "cost_analysis" else BRIEFING_KINDS
            if (msg := _one_of(value, allowed, "kind")) is not None:
                problems.append(msg)
        elif name in checks and (msg := checks[name](value)) is not None:
            problems.append(msg)
    if tool == "provision_pairs" and args.get("standby_provider") == args.get("primary_provider"):
        problems.append("a pair's standby must be on a different provider than its primary")
    return problems
