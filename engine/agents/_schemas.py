"""JSON schemas of an agent's tools, for the Messages API's ``tools`` parameter.

Generated from each tool's own argument model (:class:`engine.operations.ToolSpec`), the
same model the operation layer validates with, so the LLM brain offers each agent exactly
its allowed tools with the contract's argument names and the domain's enums.  The schemas
help the model; they are not the safety net: the operation layer validates and the policy
engine judges every call.
"""

from __future__ import annotations

from typing import Any

from engine.agents._content import AgentSpec
from engine.agents._tools import known_tools


def tool_schemas(agent: AgentSpec) -> list[dict[str, Any]]:
    """The agent's allowed tools as Messages API tool definitions, in allowance order.

    ``sessions_spawn``/``sessions_send`` list only the agents this one may
    spawn or message, so delegation limits reach the model as enums too.
    """
    tools = known_tools()
    narrow = {"sessions_spawn": {"agent": agent.may_spawn}, "sessions_send": {"agent": agent.may_message}}
    return [
        {
            "name": name,
            "description": tools[name].description,
            "input_schema": tools[name].input_schema(narrow.get(name)),
        }
        for name in agent.tools
    ]
