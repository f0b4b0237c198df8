"""The operation layer (ARCHITECTURE §3): tools, plans, policy, durable jobs."""

from engine.operations._registry import (
    AGENT_NAMES,
    BRIEFING_KINDS,
    CONTRACT_TOOLS,
    COST_KINDS,
    COST_PERIODS,
    RESTART_COMPONENTS,
    SESSION_KIND,
    SESSION_TOOLS,
    TOOL_AGENT,
    TOOLS,
    ToolSpec,
    tool_spec,
)
from engine.operations._scope import select_instances
from engine.operations._service import (
    AgentAllowance,
    BriefingTools,
    JobProgress,
    JobView,
    Operations,
    PlanView,
    ToolOutcome,
)
from engine.operations._steps import NodeCommands

__all__ = [
    "AGENT_NAMES",
    "BRIEFING_KINDS",
    "CONTRACT_TOOLS",
    "COST_KINDS",
    "COST_PERIODS",
    "SESSION_KIND",
    "SESSION_TOOLS",
    "RESTART_COMPONENTS",
    "TOOLS",
    "TOOL_AGENT",
    "AgentAllowance",
    "BriefingTools",
    "JobProgress",
    "JobView",
    "NodeCommands",
    "Operations",
    "PlanView",
    "ToolOutcome",
    "ToolSpec",
    "select_instances",
    "tool_spec",
]
