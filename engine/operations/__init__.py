"""The operation layer (ARCHITECTURE §3): tools, plans, policy, durable jobs."""

from engine.operations._registry import CONTRACT_TOOLS, RESTART_COMPONENTS, TOOL_AGENT, TOOLS, ToolSpec, tool_spec
from engine.operations._service import (
    JobProgress,
    JobView,
    Operations,
    PlanView,
    SimNodeCommands,
    ToolOutcome,
)
from engine.operations._steps import NodeCommands

__all__ = [
    "CONTRACT_TOOLS",
    "RESTART_COMPONENTS",
    "TOOLS",
    "TOOL_AGENT",
    "JobProgress",
    "JobView",
    "NodeCommands",
    "Operations",
    "PlanView",
    "SimNodeCommands",
    "ToolOutcome",
    "ToolSpec",
    "tool_spec",
]
