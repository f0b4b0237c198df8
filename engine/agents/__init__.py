"""The agent team as content: personas, instructions, allowances and skills, loaded and checked.

``agents/<name>/`` (SOUL.md, AGENTS.md, agent.toml) and ``skills/<name>/SKILL.md``
are written by people; this package turns them into typed specs the brains
use, chooses the skills relevant to a turn, and checks that everything the
content tells a model (tools, arguments, limits) matches the engine.  Nothing
here grants power: allowances only narrow what the operation layer and the
policy engine would permit anyway.
"""

from engine.agents._content import (
    AUTONOMY_LEVELS,
    AgentSpec,
    Cadence,
    Skill,
    code_values,
    content_root,
    load_agent,
    load_agents,
    load_skill,
    load_skills,
    parse_front_matter,
    render,
)
from engine.agents._schemas import tool_schemas
from engine.agents._select import authorize, build_system_prompt, lint_content, relevant_skills, skill_score
from engine.agents._tools import (
    AGENT_NAMES,
    SESSION_TOOLS,
    ToolCall,
    check_call,
    is_mutating,
    known_tools,
    parse_calls,
)

__all__ = [
    "AGENT_NAMES",
    "AUTONOMY_LEVELS",
    "SESSION_TOOLS",
    "AgentSpec",
    "Cadence",
    "Skill",
    "ToolCall",
    "authorize",
    "build_system_prompt",
    "check_call",
    "code_values",
    "content_root",
    "is_mutating",
    "known_tools",
    "lint_content",
    "load_agent",
    "load_agents",
    "load_skill",
    "load_skills",
    "parse_calls",
    "parse_front_matter",
    "relevant_skills",
    "render",
    "skill_score",
    "tool_schemas",
]
