"""The loader and the content lint refuse what would mislead a model.

Each test starts from a copy of the real content and breaks one thing, so the
refusal is shown to come from the rule under test and not from a typo.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from engine.agents import (
    AgentSpec,
    authorize,
    check_call,
    code_values,
    content_root,
    lint_content,
    load_agent,
    load_agents,
    load_skills,
    parse_calls,
    parse_front_matter,
)
from engine.config import Settings
from engine.errors import ConfigError, PolicyRefusal

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def content(tmp_path: Path) -> Path:
    """A private copy of agents/ and skills/ to break."""
    for kind in ("agents", "skills"):
        shutil.copytree(ROOT / kind, tmp_path / kind)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text not found in {path.name}: {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# ------------------------------------------------------------------------------------------------ calls
def test_a_correct_call_has_no_problems() -> None:
    assert (
        check_call("restart", {"selector": {"provider": "hetzner", "state": "DEGRADED"}, "component": "gateway"}) == []
    )
    assert check_call("provision_pairs", {"count": 3, "tier": "nano", "primary_provider": "hetzner"}) == []
    assert check_call("sessions_send", {"agent": "commander", "message": "hi", "wait": True}) == []


@pytest.mark.parametrize(
    ("tool", "args", "expected"),
    [
        ("reboot_everything", {}, "no tool called 'reboot_everything'"),
        ("restart", {"selector": {}, "component": "gateway", "force": True}, "has no argument 'force'"),
        ("restart", {"selector": {}}, "needs 'component'"),
        ("restart", {"selector": {}, "component": "kernel"}, "component 'kernel'"),
        ("restart", {"selector": {"datacenter": "nbg1"}, "component": "vps"}, "Selector key 'datacenter'"),
        ("failover", {"selector": {"state": "BROKEN"}}, "Selector state 'BROKEN'"),
        ("failover", {"selector": {"region": "eu-hetzner-xyz9"}}, "not a known region"),
        ("fleet_status", {"region": "eu-nowhere"}, "region 'eu-nowhere'"),
        (
            "provision_pairs",
            {"count": 2, "tier": "standard", "primary_provider": "vultr", "standby_provider": "vultr"},
            "different provider",
        ),
        ("provision_pairs", {"count": 0, "tier": "standard", "primary_provider": "vultr"}, "count must be"),
        ("provision_pairs", {"count": 2, "tier": "huge", "primary_provider": "vultr"}, "tier 'huge'"),
        ("cost_analysis", {"kind": "invoice", "period": "month"}, "kind 'invoice'"),
        ("cost_analysis", {"kind": "report", "period": "year"}, "period 'year'"),
        ("sessions_spawn", {"agent": "janitor", "task": "x"}, "agent 'janitor'"),
        ("resize", {"selector": {"finding": "expensive"}, "tier": "nano"}, "finding 'expensive'"),
        ("config_push", {"selector": {}, "config": {}}, "config must be"),
    ],
)
def test_a_wrong_call_is_named(tool: str, args: dict[str, object], expected: str) -> None:
    problems = check_call(tool, args)
    assert any(expected in p for p in problems), problems


def test_parse_calls_reads_one_notation_and_reports_near_misses() -> None:
    text = (
        'Use `restart(selector={"state": "DEGRADED"}, component="gateway")` first.\n'
        "Mentions like `fleet_status` or `DEGRADED` are not calls.\n"
        '`failover("acct-1")` is positional; `restart(selector=sel, component="vps")` is not literal;\n'
        '`teardown(selector={"accounts": ["acct-1"]}` is unbalanced.\n'
    )
    calls, problems = parse_calls(text)
    assert [(c.tool, c.line) for c in calls] == [("restart", 1)]
    assert calls[0].args == {"selector": {"state": "DEGRADED"}, "component": "gateway"}
    assert len(problems) == 3
    assert "positional" in problems[0] and "line 3" in problems[0]
    assert "not a literal" in problems[1]
    assert "line 4" in problems[2]


# ------------------------------------------------------------------------------------------------ agents
def test_missing_file_is_refused(content: Path) -> None:
    (content / "agents" / "forge" / "SOUL.md").unlink()
    with pytest.raises(ConfigError, match="forge is missing SOUL.md"):
        load_agents(content / "agents")


def test_unknown_tool_in_allowance_is_refused(content: Path) -> None:
    _edit(content / "agents" / "forge" / "agent.toml", '"provision_pairs",', '"provision_pairs", "ssh_exec",')
    with pytest.raises(ConfigError, match="'ssh_exec', which is not a tool"):
        load_agent(content / "agents" / "forge")


@pytest.mark.parametrize("agent", ["ledger", "triage", "briefer"])
def test_a_non_acting_agent_cannot_be_given_a_mutating_tool(content: Path, agent: str) -> None:
    _edit(content / "agents" / agent / "agent.toml", '"fleet_status",', '"fleet_status", "teardown",')
    with pytest.raises(ConfigError, match="may not hold the mutating tool 'teardown'"):
        load_agent(content / "agents" / agent)


def test_triage_cannot_message_other_agents(content: Path) -> None:
    _edit(content / "agents" / "triage" / "agent.toml", '"fleet_status",', '"fleet_status", "sessions_send",')
    with pytest.raises(ConfigError, match="read_only agent"):
        load_agent(content / "agents" / "triage")


def test_guardian_cannot_be_configured_to_tear_down_alone(content: Path) -> None:
    toml = content / "agents" / "guardian" / "agent.toml"
    _edit(toml, '"restart", "failover", "silence_alerts",\n', '"restart", "failover", "silence_alerts", "teardown",\n')
    _edit(toml, 'acts_alone = ["restart", "failover", "silence_alerts"]', 'acts_alone = ["restart", "teardown"]')
    with pytest.raises(ConfigError, match="'teardown' can never be started without an operator"):
        load_agent(content / "agents" / "guardian")


def test_acts_alone_must_be_allowed(content: Path) -> None:
    _edit(
        content / "agents" / "guardian" / "agent.toml",
        'acts_alone = ["restart",',
        'acts_alone = ["config_push", "restart",',
    )
    with pytest.raises(ConfigError, match="not in the allowed tools"):
        load_agent(content / "agents" / "guardian")


def test_name_must_match_folder_and_toml_must_parse(content: Path) -> None:
    _edit(content / "agents" / "ledger" / "agent.toml", 'name = "ledger"', 'name = "accountant"')
    with pytest.raises(ConfigError, match="make them match"):
        load_agent(content / "agents" / "ledger")
    (content / "agents" / "ledger" / "agent.toml").write_text("name = [", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_agent(content / "agents" / "ledger")


def test_bad_cadence_is_refused(content: Path) -> None:
    _edit(content / "agents" / "guardian" / "agent.toml", 'every = "5m"', 'every = "often"')
    with pytest.raises(ConfigError, match="look like 5m"):
        load_agent(content / "agents" / "guardian")


def test_delegation_needs_the_session_tool(content: Path) -> None:
    _edit(content / "agents" / "forge" / "agent.toml", '"audit_query", "sessions_send",', '"audit_query",')
    with pytest.raises(ConfigError, match="needs sessions_send"):
        load_agent(content / "agents" / "forge")


def test_authorize_refuses_outside_the_allowance_with_a_rule_name() -> None:
    agents = load_agents(ROOT / "agents")
    authorize(agents["commander"], "teardown")
    authorize(agents["ledger"], "cost_analysis")
    with pytest.raises(PolicyRefusal) as refused:
        authorize(agents["ledger"], "resize")
    assert refused.value.rule == "agent_allowance"
    with pytest.raises(PolicyRefusal):
        authorize(agents["triage"], "failover")


def test_allows_reflects_the_toml(content: Path) -> None:
    spec: AgentSpec = load_agent(content / "agents" / "briefer")
    assert spec.allows("briefing") and not spec.allows("restart")
    assert spec.mutating_tools == ()


# ------------------------------------------------------------------------------------------------ skills
def test_skill_front_matter_is_strict(content: Path) -> None:
    with pytest.raises(ConfigError, match="must start with"):
        parse_front_matter("# no front matter\n", "x")
    with pytest.raises(ConfigError, match="not closed"):
        parse_front_matter("---\nname: x\n", "x")
    with pytest.raises(ConfigError, match="is not one of"):
        parse_front_matter("---\nname: x\nmetadata: {always: true}\n---\n", "x")
    _edit(content / "skills" / "failover" / "SKILL.md", "name: failover", "name: fail-over")
    with pytest.raises(ConfigError, match="must be 'failover'"):
        load_skills(content / "skills")


def test_unknown_placeholder_is_refused(content: Path) -> None:
    _edit(content / "skills" / "auto-heal" / "SKILL.md", "Each step is audited.", "Retry {{max_restarts}} times.")
    with pytest.raises(ConfigError, match="max_restarts"):
        load_skills(content / "skills")


def test_malformed_call_in_a_skill_is_refused_at_load(content: Path) -> None:
    _edit(content / "skills" / "failover" / "SKILL.md", "2. `failover(", '2. `failover("acct-042") or failover(')
    with pytest.raises(ConfigError, match="failover/SKILL.md"):
        load_skills(content / "skills")


def test_lint_catches_a_wrong_argument_and_a_lost_contract_tool(content: Path) -> None:
    path = content / "skills" / "clawops" / "SKILL.md"
    _edit(
        path,
        'silence_alerts(selector={"region": "eu-hetzner-nbg1"}, minutes=60,',
        'silence_alerts(selector={"region": "eu-hetzner-nbg1"}, duration=60,',
    )
    for skill in ("failover", "incident-response", "clawops"):
        p = content / "skills" / skill / "SKILL.md"
        p.write_text(p.read_text(encoding="utf-8").replace("`silence_alerts(", "`silence(", -1), encoding="utf-8")
    problems = lint_content(load_agents(content / "agents"), load_skills(content / "skills"))
    assert any("no tool called 'silence'" in p for p in problems)
    assert any("contract tool 'silence_alerts'" in p for p in problems)


def test_lint_catches_limits_written_in_prose(content: Path) -> None:
    _edit(
        content / "skills" / "auto-heal" / "SKILL.md", "Each step is audited.", "Restart at most 3 times in 10 minutes."
    )
    _edit(content / "agents" / "guardian" / "SOUL.md", "stop and escalate.", "stop and escalate above 20 failovers.")
    problems = lint_content(load_agents(content / "agents"), load_skills(content / "skills"))
    assert any("auto-heal/SKILL.md" in p and "at most 3" in p for p in problems)
    assert any("guardian/SOUL.md" in p and "above 20" in p for p in problems)


def test_lint_catches_a_missing_agent_and_a_dangling_skill(content: Path) -> None:
    shutil.rmtree(content / "agents" / "briefer")
    _edit(content / "agents" / "ledger" / "agent.toml", '"capacity-planning"]', '"capacity-planning", "tax-returns"]')
    problems = lint_content(load_agents(content / "agents"), load_skills(content / "skills"))
    assert "agent 'briefer' is missing (ARCHITECTURE §5 has six agents)" in problems
    assert any("'tax-returns', which does not exist" in p for p in problems)


def test_lint_catches_instructions_for_a_tool_the_agent_lacks(content: Path) -> None:
    _edit(
        content / "agents" / "ledger" / "AGENTS.md",
        "## Hand over",
        '## Hand over\nThen run `resize(selector={"finding": "oversized"}, tier="nano")`.',
    )
    problems = lint_content(load_agents(content / "agents"), load_skills(content / "skills"))
    assert any("ledger is told to call resize but is not allowed it" in p for p in problems)


# ------------------------------------------------------------------------------------------------ values, paths
def test_a_stricter_threshold_reaches_the_prompts(content: Path, clawops_home: Path) -> None:
    values = code_values(Settings(confirm_threshold=4))
    skills = load_skills(content / "skills", values)
    agents = load_agents(content / "agents", values)
    assert "more than\n4 users" in skills["clawops"].body or "more than 4 users" in skills["clawops"].body
    assert "more than" in agents["forge"].soul and "4 users" in agents["forge"].soul


def test_content_root_finds_the_checkout_and_honours_the_override(
    content: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLAWOPS_CONTENT_DIR", raising=False)
    assert content_root("agents") == ROOT / "agents"
    assert content_root("skills") == ROOT / "skills"
    monkeypatch.setenv("CLAWOPS_CONTENT_DIR", str(content))
    assert content_root("skills") == content / "skills"
    assert set(load_agents()) == set(load_agents(ROOT / "agents"))
    with pytest.raises(ValueError):
        content_root("prompts")


def test_content_root_falls_back_to_installed_data_files(
    content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wheel puts the content under <prefix>/share/clawops; no checkout next to engine/ then."""
    import engine.agents._content as loader

    prefix = tmp_path / "prefix"
    shutil.copytree(content / "agents", prefix / "share" / "clawops" / "agents")
    monkeypatch.delenv("CLAWOPS_CONTENT_DIR", raising=False)
    monkeypatch.setattr(loader, "_checkout_root", lambda: tmp_path / "site-packages")
    monkeypatch.setattr(sys, "prefix", str(prefix))  # the loader's own `sys`: one module object
    assert content_root("agents") == prefix / "share" / "clawops" / "agents"
    assert len(load_agents()) == 6
    with pytest.raises(ConfigError, match="skills folder was not found"):
        monkeypatch.setattr(loader, "_install_roots", lambda: [prefix / "share" / "clawops"])
        content_root("skills")


def test_an_unrelated_agents_package_is_not_mistaken_for_the_team(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.agents._content as loader

    site_packages = tmp_path / "site-packages"
    (site_packages / "agents").mkdir(parents=True)
    (site_packages / "agents" / "__init__.py").write_text("# some other library\n", encoding="utf-8")
    monkeypatch.delenv("CLAWOPS_CONTENT_DIR", raising=False)
    monkeypatch.setattr(loader, "_checkout_root", lambda: site_packages)
    monkeypatch.setattr(loader, "_install_roots", lambda: [tmp_path / "share" / "clawops"])
    with pytest.raises(ConfigError, match="agents folder was not found"):
        content_root("agents")
