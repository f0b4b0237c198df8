"""Each tool is defined once: the LLM's schema, the operation layer's validation and the skill checks agree.

They agree by construction (all three come from the tool's argument model); these tests prove it by
walking every tool: every name the schema offers is accepted, every enum value the schema lists is
accepted and a value outside it is refused, and a required argument left out is refused by all three.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.agents import check_call, known_tools, load_agents, tool_schemas
from engine.errors import InputError
from engine.operations import TOOLS, ToolSpec

SAMPLE: dict[str, Any] = {
    "selector": {"provider": "vultr", "state": "DEGRADED"},
    "config": {"log_level": "info"},
    "target": "acct-042",
    "checks": ["disk"],
    "count": 3,
    "archive": True,
    "wait": False,
    "batch_size": 10,
    "minutes": 30,
    "limit": 5,
    "enabled": True,
    "days": "weekdays",
    "skip_days": "weekends",
    "channels": "telegram",
    "time": "06:30",
    "tz": "Europe/Berlin",
    "since": "24h",
}


def _value(name: str, schema: dict[str, Any]) -> Any:
    if "enum" in schema:
        return schema["enum"][-1]
    return SAMPLE.get(name, "x")


def _full_call(spec: ToolSpec) -> dict[str, Any]:
    schema = spec.input_schema()["properties"]
    args = {name: _value(name, schema[name]) for name in spec.args}
    if "primary_provider" in args:
        args.update(primary_provider="hetzner", standby_provider="vultr")
    if {"geo", "region"} <= set(args):
        args.update(geo="eu", region="eu-hetzner-nbg1")
    return args


@pytest.mark.parametrize("spec", list(known_tools().values()), ids=lambda s: s.name)
def test_the_schema_offers_exactly_what_validation_accepts(spec: ToolSpec) -> None:
    schema = spec.input_schema()
    assert list(schema["properties"]) == list(spec.args)
    assert schema["required"] == list(spec.required)
    assert schema["additionalProperties"] is False
    call = _full_call(spec)
    assert spec.problems(call) == [] == check_call(spec.name, call)
    assert spec.validate(call).keys() == call.keys()


@pytest.mark.parametrize("spec", list(known_tools().values()), ids=lambda s: s.name)
def test_every_enum_value_offered_is_accepted_and_others_are_refused(spec: ToolSpec) -> None:
    properties = spec.input_schema()["properties"]
    for name, schema in properties.items():
        if "enum" not in schema:
            continue
        call = _full_call(spec)
        for value in schema["enum"]:
            partner = {"primary_provider": "standby_provider", "standby_provider": "primary_provider"}.get(name)
            if partner and value == call[partner]:
                continue  # a pair's two halves on one provider is refused on purpose (its own test)
            assert check_call(spec.name, {**call, name: value}) == [], (name, value)
        wrong = {**call, name: "no-such-" + name}
        refused = check_call(spec.name, wrong)
        assert refused and name in refused[0]
        with pytest.raises(InputError):
            spec.validate(wrong)


@pytest.mark.parametrize("spec", [s for s in known_tools().values() if s.required], ids=lambda s: s.name)
def test_a_missing_required_argument_is_refused_everywhere(spec: ToolSpec) -> None:
    call = _full_call(spec)
    for name in spec.required:
        partial = {k: v for k, v in call.items() if k != name}
        assert any(f"'{name}'" in p for p in check_call(spec.name, partial))
        with pytest.raises(InputError, match=name):
            spec.validate(partial)


def test_unknown_arguments_are_refused_with_the_right_names() -> None:
    with pytest.raises(InputError, match="fleet_status has no argument 'role'; it takes provider"):
        TOOLS["fleet_status"].validate({"role": "primary"})


def test_validation_hands_on_one_canonical_form() -> None:
    clean = TOOLS["provision_pairs"].validate({"count": "20", "tier": " Standard", "primary_provider": "HETZNER"})
    assert clean == {"count": 20, "tier": "standard", "primary_provider": "hetzner"}
    assert TOOLS["fleet_status"].validate({"state": "degraded"}) == {"state": "DEGRADED"}


def test_the_llm_sees_the_generated_schemas() -> None:
    agents = load_agents()
    for agent in agents.values():
        for offered in tool_schemas(agent):
            spec = known_tools()[offered["name"]]
            if offered["name"].startswith("sessions_"):
                assert offered["input_schema"]["properties"]["agent"]["enum"] == list(
                    agent.may_spawn if offered["name"] == "sessions_spawn" else agent.may_message
                )
                continue
            assert offered["input_schema"] == spec.input_schema()
