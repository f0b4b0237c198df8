"""Skills are chosen by relevance, and an agent's prompt holds only its own skills.

The operator phrases here are the product's own examples (ARCHITECTURE, issues 6,
7 and 10); the expectations name the runbooks an SRE would open for them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.agents import AgentSpec, Skill, build_system_prompt, load_agents, load_skills, relevant_skills, skill_score

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def skills() -> dict[str, Skill]:
    return load_skills(ROOT / "skills")


@pytest.fixture(scope="module")
def agents() -> dict[str, AgentSpec]:
    return load_agents(ROOT / "agents")


def _picked(text: str, skills: dict[str, Skill], limit: int = 3) -> list[str]:
    return [s.name for s in relevant_skills(text, skills, limit) if not s.always]


def test_regional_outage_brings_failover_and_incident_runbooks(skills: dict[str, Skill]) -> None:
    picked = _picked("Hetzner Nuremberg looks down", skills)
    assert {"failover", "incident-response"} <= set(picked)
    assert "cost-analysis" not in picked and "provision" not in picked


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("Provision 20 new standard-tier accounts, EU regions, Hetzner primary", "provision"),
        ("How much are we spending on DO this month?", "cost-analysis"),
        ("Any waste? Find idle servers we could save money on", "cost-analysis"),
        ("Restart anything degraded", "auto-heal"),
        ("Push the new gateway config to all standbys", "config-push"),
        ("Why is acct-042 so slow since this morning?", "instance-diagnose"),
        ("Who approved the teardown yesterday? Show the audit log", "security-audit"),
        ("Do we have enough quota to grow by 200 accounts next month?", "capacity-planning"),
        ("Is Vultr's status page green?", "provider-health"),
        ("Fail over acct-042 to its standby", "failover"),
    ],
)
def test_the_obvious_runbook_comes_first(skills: dict[str, Skill], text: str, first: str) -> None:
    assert _picked(text, skills)[0] == first


def test_the_reference_is_always_there_and_nothing_else_without_a_reason(skills: dict[str, Skill]) -> None:
    chosen = relevant_skills("hello there", skills)
    assert [s.name for s in chosen] == ["clawops"]
    assert relevant_skills("", skills) == [skills["clawops"]]


def test_limit_and_order_are_respected(skills: dict[str, Skill]) -> None:
    text = "Provision 50 new accounts, optimize costs, restart anything degraded, brief me in the morning"
    chosen = relevant_skills(text, skills, limit=2)
    assert len(chosen) == 3  # the reference + 2
    assert chosen == relevant_skills(text, list(skills.values()), limit=2), "same answer for a mapping or a list"
    scores = [skill_score(text, s) for s in chosen[1:]]
    assert scores == sorted(scores, reverse=True)
    assert {"provision", "cost-analysis"} <= {s.name for s in relevant_skills(text, skills, limit=3)}
    assert relevant_skills(text, skills, limit=0) == [skills["clawops"]]


def test_place_and_provider_names_count_as_region_and_provider(skills: dict[str, Skill]) -> None:
    health = skills["provider-health"]
    assert skill_score("what's our exposure in Falkenstein", health) > skill_score("what's our exposure", health)
    assert skill_score("is digital ocean ok", health) > skill_score("is it ok", health)


def test_system_prompt_holds_soul_instructions_and_only_the_agents_skills(
    agents: dict[str, AgentSpec], skills: dict[str, Skill]
) -> None:
    triage = agents["triage"]
    prompt = build_system_prompt(triage, skills, "Hetzner Nuremberg looks down; also what does it cost us?")
    assert prompt.startswith("# Triage [Triage]")
    assert "# Triage — operating instructions" in prompt
    assert "## Skill: incident-response" in prompt and "## Skill: clawops" in prompt
    assert "## Skill: cost-analysis" not in prompt, "Triage does not use the cost runbook"
    full = build_system_prompt(agents["commander"], skills, "Hetzner Nuremberg looks down", limit=3)
    assert full.count("## Skill: ") == 4
    assert len(full) < 20_000, "a turn's prompt stays small: skills are chosen, not all loaded"


def test_tool_schemas_offer_exactly_the_allowance_with_contract_arguments(agents: dict[str, AgentSpec]) -> None:
    from engine.agents import known_tools, tool_schemas
    from engine.operations import TOOLS
    from engine.operations._registry import RESTART_COMPONENTS

    specs = known_tools()
    for agent in agents.values():
        schemas = tool_schemas(agent)
        assert [s["name"] for s in schemas] == list(agent.tools)
        for schema in schemas:
            spec = specs[schema["name"]]
            assert list(schema["input_schema"]["properties"]) == list(spec.args)
            assert schema["input_schema"]["required"] == list(spec.required)
            assert schema["input_schema"]["additionalProperties"] is False
    commander = {s["name"]: s for s in tool_schemas(agents["commander"])}
    assert commander["restart"]["input_schema"]["properties"]["component"]["enum"] == list(RESTART_COMPONENTS)
    assert commander["cost_analysis"]["input_schema"]["properties"]["kind"]["enum"] == ["report", "waste", "forecast"]
    assert "commander" not in commander["sessions_spawn"]["input_schema"]["properties"]["agent"]["enum"]
    guardian = {s["name"]: s for s in tool_schemas(agents["guardian"])}
    assert guardian["sessions_spawn"]["input_schema"]["properties"]["agent"]["enum"] == ["triage"]
    assert not {
        n for n in (s["name"] for s in tool_schemas(agents["ledger"])) if TOOLS.get(n) and TOOLS[n].kind == "mutate"
    }


def test_each_skill_is_the_best_match_for_its_own_description(skills: dict[str, Skill]) -> None:
    """Descriptions decide loading, so no two skills may describe themselves alike."""
    for skill in skills.values():
        if not skill.always:
            assert _picked(skill.description, skills, limit=1) == [skill.name]
