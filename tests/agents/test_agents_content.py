"""The shipped team: six agents and thirteen skills, checked against the engine's real tables.

These tests read the content straight from agents/ and skills/ and compare it with
engine.operations (tools and arguments), engine.policy (what may act) and
ARCHITECTURE §5 (models, tags, cadences), so a prompt can never teach a tool,
an argument or a power the engine does not have.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from engine.agents import (
    AGENT_NAMES,
    AgentSpec,
    Skill,
    check_call,
    lint_content,
    load_agents,
    load_skills,
    parse_calls,
)
from engine.domain import Provider
from engine.operations import CONTRACT_TOOLS, TOOLS
from engine.replies import AGENT_TAGS

ROOT = Path(__file__).resolve().parents[2]
AGENTS_DIR = ROOT / "agents"
SKILLS_DIR = ROOT / "skills"

SUPPORTING = {"job_status", "audit_query", "briefing", "sessions_spawn", "sessions_send"}
SESSION_ARGS = {"sessions_spawn": {"agent", "task"}, "sessions_send": {"agent", "message", "wait"}}
MODELS = {
    "commander": "claude-opus-4-6",
    "guardian": "claude-sonnet-4-6",
    "forge": "claude-sonnet-4-6",
    "ledger": "claude-sonnet-4-6",
    "triage": "claude-opus-4-6",
    "briefer": "claude-haiku-4-5",
}
SKILL_NAMES = {
    "clawops",
    "vps-fleet",
    "gateway-manager",
    "auto-heal",
    "instance-diagnose",
    "provision",
    "failover",
    "config-push",
    "cost-analysis",
    "incident-response",
    "provider-health",
    "capacity-planning",
    "security-audit",
}


@pytest.fixture(scope="module")
def agents() -> dict[str, AgentSpec]:
    return load_agents(AGENTS_DIR)


@pytest.fixture(scope="module")
def skills() -> dict[str, Skill]:
    return load_skills(SKILLS_DIR)


def _raw_toml(name: str) -> dict[str, object]:
    return tomllib.loads((AGENTS_DIR / name / "agent.toml").read_text(encoding="utf-8"))


def _tool_exists(tool: str) -> bool:
    return tool in TOOLS or tool in SUPPORTING


def _args_of(tool: str) -> set[str]:
    return set(TOOLS[tool].args) if tool in TOOLS else SESSION_ARGS[tool]


# ------------------------------------------------------------------------------------------------ agents
@pytest.mark.parametrize("name", AGENT_NAMES)
def test_agent_folder_has_three_files_and_a_complete_toml(name: str) -> None:
    folder = AGENTS_DIR / name
    for filename in ("SOUL.md", "AGENTS.md", "agent.toml"):
        assert (folder / filename).is_file(), f"{name} lacks {filename}"
        assert (folder / filename).read_text(encoding="utf-8").strip(), f"{name}/{filename} is empty"
    data = _raw_toml(name)
    for key in ("name", "tag", "persona", "model", "autonomy", "cadence", "tools"):
        assert key in data, f"{name}/agent.toml lacks {key}"
    assert data["name"] == name
    assert isinstance(data["autonomy"], dict) and "level" in data["autonomy"]
    assert isinstance(data["cadence"], dict) and "kind" in data["cadence"]
    assert isinstance(data["tools"], dict) and isinstance(data["tools"]["allowed"], list) and data["tools"]["allowed"]


def test_exactly_the_six_agents_ship(agents: dict[str, AgentSpec]) -> None:
    on_disk = sorted(p.name for p in AGENTS_DIR.iterdir() if p.is_dir())
    assert on_disk == sorted(AGENT_NAMES)
    assert list(agents) == list(AGENT_NAMES)


@pytest.mark.parametrize("name", AGENT_NAMES)
def test_model_and_tag_follow_architecture(agents: dict[str, AgentSpec], name: str) -> None:
    agent = agents[name]
    assert agent.model == MODELS[name]
    assert agent.tag == AGENT_TAGS[name]
    assert agent.tag in agent.soul, "the persona must show the tag replies carry"


@pytest.mark.parametrize("name", AGENT_NAMES)
def test_every_allowed_tool_exists(name: str) -> None:
    tools = _raw_toml(name)["tools"]
    assert isinstance(tools, dict)  # test_agent_folder_has_three_files_and_a_complete_toml checks the rest
    allowed = tools["allowed"]
    missing = [t for t in allowed if not _tool_exists(t)]
    assert missing == []
    assert len(set(allowed)) == len(allowed), "duplicate tools in the allowance"


def test_ledger_holds_no_mutating_tool(agents: dict[str, AgentSpec]) -> None:
    ledger = agents["ledger"]
    assert [t for t in ledger.tools if t in TOOLS and TOOLS[t].kind == "mutate"] == []
    assert "sessions_spawn" not in ledger.tools, "a recommender must not start agents that act"
    assert ledger.acts_alone == ()
    assert "cost_analysis" in ledger.tools


def test_triage_is_read_only(agents: dict[str, AgentSpec]) -> None:
    triage = agents["triage"]
    assert triage.tools and all(t in TOOLS and TOOLS[t].kind == "read" for t in triage.tools)
    assert {"instance_diagnose", "provider_health", "instance_inspect"} <= set(triage.tools)
    assert triage.cadence.kind == "spawned"


def test_briefer_only_reads_and_reports(agents: dict[str, AgentSpec]) -> None:
    briefer = agents["briefer"]
    assert all(t in TOOLS and TOOLS[t].kind == "read" for t in briefer.tools)
    assert "briefing" in briefer.tools
    assert any("07:00 UTC" in s and "daily" in s for s in briefer.cadence.schedule)
    assert any("weekly" in s for s in briefer.cadence.schedule)


def test_guardian_heals_but_can_never_delete_or_buy(agents: dict[str, AgentSpec]) -> None:
    guardian = agents["guardian"]
    assert {"restart", "failover"} <= set(guardian.acts_alone)
    assert not {"teardown", "provision_pairs", "resize"} & set(guardian.tools)
    assert guardian.cadence.every_seconds == 300
    assert guardian.may_spawn == ("triage",) and "commander" in guardian.may_message


def test_forge_provisions_only_when_asked(agents: dict[str, AgentSpec]) -> None:
    forge = agents["forge"]
    assert {"provision_pairs", "teardown", "resize"} <= set(forge.tools)
    assert forge.acts_alone == ()
    assert forge.cadence.kind == "on_demand"


def test_commander_can_reach_every_contract_tool_and_every_agent(agents: dict[str, AgentSpec]) -> None:
    commander = agents["commander"]
    assert set(CONTRACT_TOOLS) <= set(commander.tools)
    assert {"sessions_spawn", "sessions_send"} <= set(commander.tools)
    assert set(commander.may_spawn) == set(AGENT_NAMES) - {"commander"}
    assert commander.cadence.kind == "always_on"


def test_ledger_cadence_is_six_hours(agents: dict[str, AgentSpec]) -> None:
    assert agents["ledger"].cadence.every_seconds == 6 * 3600


def test_no_agent_may_start_a_teardown_or_purchase_alone(agents: dict[str, AgentSpec]) -> None:
    for agent in agents.values():
        assert not {"teardown", "provision_pairs", "resize"} & set(agent.acts_alone), agent.name
        assert set(agent.acts_alone) <= set(agent.tools), agent.name


@pytest.mark.parametrize("name", AGENT_NAMES)
def test_calls_in_agent_instructions_are_real_and_allowed(agents: dict[str, AgentSpec], name: str) -> None:
    agent = agents[name]
    calls, problems = parse_calls(agent.instructions)
    assert problems == []
    for call in calls:
        assert check_call(call.tool, call.args) == [], call.text
        assert agent.allows(call.tool), f"{name} is shown `{call.text}` but may not call {call.tool}"


@pytest.mark.parametrize("name", AGENT_NAMES)
def test_soul_describes_autonomy_as_enforced_by_code(agents: dict[str, AgentSpec], name: str) -> None:
    """Boundaries are stated as what the engine refuses, not as a promise the model keeps."""
    soul = agents[name].soul.lower()
    assert "what you may do, and what stops you" in soul or "what you are, and are not, able to do" in soul
    assert re.search(r"policy engine|loader|runtime", soul), f"{name} does not say what enforces its limits"


# ------------------------------------------------------------------------------------------------ skills
def test_the_thirteen_skills_ship(skills: dict[str, Skill]) -> None:
    assert set(skills) == SKILL_NAMES
    for skill in skills.values():
        text = skill.path.read_text(encoding="utf-8")
        assert text.startswith("---\n")
        assert f"\nname: {skill.name}\n" in text
        assert len(skill.description) > 40, f"{skill.name}: the description decides loading; make it say something"


def test_every_tool_and_argument_a_skill_names_exists(skills: dict[str, Skill]) -> None:
    seen = 0
    for skill in skills.values():
        calls, problems = parse_calls(skill.body)
        assert problems == [], f"{skill.name}: {problems}"
        for call in calls:
            seen += 1
            assert _tool_exists(call.tool), f"{skill.name}: `{call.text}` names no real tool"
            unknown = set(call.args) - _args_of(call.tool)
            assert not unknown, f"{skill.name}: `{call.text}` uses unknown arguments {unknown}"
            assert check_call(call.tool, call.args) == [], f"{skill.name}: `{call.text}`"
    assert seen >= 60, "the runbooks should show real calls, not prose"


def test_every_contract_tool_is_covered_by_a_skill(skills: dict[str, Skill]) -> None:
    taught = {call.tool for skill in skills.values() for call in skill.calls}
    assert set(CONTRACT_TOOLS) - taught == set()
    assert SUPPORTING - taught == set(), "the supporting tools need a runbook example too"


def test_master_reference_shows_every_tool(skills: dict[str, Skill]) -> None:
    taught = {call.tool for call in skills["clawops"].calls}
    assert set(TOOLS) | {"sessions_spawn", "sessions_send"} <= taught
    assert skills["clawops"].always
    assert [s.name for s in skills.values() if s.always] == ["clawops"], "only the reference is always loaded"


def test_placeholders_are_rendered_from_code(skills: dict[str, Skill], agents: dict[str, AgentSpec]) -> None:
    texts = [s.body for s in skills.values()] + [a.soul + a.instructions for a in agents.values()]
    assert not any(re.search(r"\{\{\s*[a-z_]+\s*\}\}", t) for t in texts)
    assert re.search(r"more than\s+10\s+users", skills["clawops"].body)
    assert re.search(r"exceed\s+100\s+instances", skills["config-push"].body)
    assert "sweep every 5 min" in agents["guardian"].instructions


def test_the_whole_team_lints_clean(agents: dict[str, AgentSpec], skills: dict[str, Skill]) -> None:
    assert lint_content(agents, skills) == []


def test_each_agent_uses_existing_skills_that_agree(agents: dict[str, AgentSpec], skills: dict[str, Skill]) -> None:
    for agent in agents.values():
        assert "clawops" in agent.skills
        for name in agent.skills:
            assert name in skills
            assert agent.name in skills[name].agents, f"{name} does not list {agent.name}"
    assert set(agents["commander"].skills) == SKILL_NAMES


def test_content_is_about_this_product(agents: dict[str, AgentSpec], skills: dict[str, Skill]) -> None:
    everything = "\n".join([s.body for s in skills.values()] + [a.soul + a.instructions for a in agents.values()])
    lowered = everything.lower()
    for provider in Provider:
        if provider is not Provider.SIM:
            assert provider.value in lowered or provider.value == "digitalocean" and "digitalocean" in lowered
    assert "different provider" in lowered
    assert re.search(r"contabo and hostinger cannot delete", lowered)
    assert "standby" in lowered and "primary" in lowered


def test_no_agent_file_claims_a_rule_with_a_bare_number() -> None:
    """Limits in prose would drift from code; they must be placeholders (lint also checks this)."""
    pattern = re.compile(r"(?i)\b(more than|at most|at least|above|up to|exceeds?)\s+\d")
    for path in list(AGENTS_DIR.rglob("*.md")) + list(SKILLS_DIR.rglob("SKILL.md")):
        for line in path.read_text(encoding="utf-8").splitlines():
            assert not pattern.search(re.sub(r"`[^`]*`", "", line)), f"{path.relative_to(ROOT)}: {line}"


def test_declared_data_files_ship_every_content_file() -> None:
    """Once pyproject declares the content as data files (share/clawops/...), none may be forgotten.

    Installed copies are found by engine.agents.content_root; a skill added
    without its data-files line would silently be missing from a wheel.
    """
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    data_files = project.get("tool", {}).get("setuptools", {}).get("data-files", {})
    shipped = {f for files in data_files.values() for f in files}
    if not any(f.startswith(("agents/", "skills/")) for f in shipped):
        return  # not declared yet: the lead wires packaging; nothing to compare
    wanted = {
        str(p.relative_to(ROOT))
        for p in list(AGENTS_DIR.rglob("*")) + list(SKILLS_DIR.rglob("*"))
        if p.is_file() and p.name in ("SOUL.md", "AGENTS.md", "agent.toml", "SKILL.md")
    }
    assert wanted - shipped == set()
    for target, files in data_files.items():
        for f in files:
            if f.startswith(("agents/", "skills/")):
                assert target == f"share/clawops/{Path(f).parent}", f"{f} would land in {target}"
