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

from engine.operations import (
    AGENT_NAMES,
    BRIEFING_KINDS,
    COST_KINDS,
    COST_PERIODS,
    SESSION_KIND,
    SESSION_TOOLS,
    TOOLS,
    ToolSpec,
)

__all__ = [
    "AGENT_NAMES",
    "BRIEFING_KINDS",
    "COST_KINDS",
    "COST_PERIODS",
    "SESSION_KIND",
    "SESSION_TOOLS",
    "ToolCall",
    "check_call",
    "is_mutating",
    "known_tools",
    "parse_calls",
]


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


def check_call(tool: str, args: Mapping[str, Any]) -> list[str]:
    """Everything wrong with one call, as sentences; empty when the engine would accept its shape.

    The tool's own argument model judges it (names, required ones, values, selectors), the same
    model the operation layer validates with and the LLM's schema is generated from.
    """
    spec = known_tools().get(tool)
    if spec is None:
        return [f"there is no tool called '{tool}'"]
    return spec.problems(args)
