"""Offline brain v0: many phrasings of the same question give the same tool call."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.brain import CancelIntent, ClarifyIntent, ConfirmIntent, HelpIntent, OfflineBrain, ToolIntent, UnknownIntent
from engine.operations import TOOLS

BRAIN = OfflineBrain()


@pytest.mark.parametrize(
    ("message", "tool", "args"),
    [
        ("fleet status", "fleet_status", {}),
        ("How's the fleet?", "fleet_status", {}),
        ("how is the fleet doing", "fleet_status", {}),
        ("status", "fleet_status", {}),
        ("give me an overview", "fleet_status", {}),
        ("what's degraded on hetzner?", "fleet_status", {"provider": "hetzner", "state": "DEGRADED"}),
        ("What’s degraded on Hetzner?", "fleet_status", {"provider": "hetzner", "state": "DEGRADED"}),
        ("which instances are failed on DO", "fleet_status", {"provider": "digitalocean", "state": "FAILED"}),
        ("list degraded in EU", "fleet_status", {"state": "DEGRADED", "geo": "eu"}),
        ("how many on vultr", "fleet_status", {"provider": "vultr"}),
        ("anything down in eu-hetzner-fsn1?", "fleet_status", {"state": "FAILED", "region": "eu-hetzner-fsn1"}),
        ("show acct-042", "instance_inspect", {"target": "acct-042"}),
        ("acct-42", "instance_inspect", {"target": "acct-042"}),
        ("tell me about acct 7", "instance_inspect", {"target": "acct-007"}),
        ("inspect i-acct-042-s", "instance_inspect", {"target": "i-acct-042-s"}),
        (
            "restart everything degraded on vultr",
            "restart",
            {"selector": {"provider": "vultr", "state": "DEGRADED"}, "component": "gateway"},
        ),
        ("reboot acct-042", "restart", {"selector": {"accounts": ["acct-042"]}, "component": "vps"}),
        (
            "restart docker on the degraded hetzner boxes",
            "restart",
            {"selector": {"provider": "hetzner", "state": "DEGRADED"}, "component": "docker"},
        ),
        (
            "bounce the gateway on i-acct-003-p",
            "restart",
            {"selector": {"instances": ["i-acct-003-p"]}, "component": "gateway"},
        ),
    ],
)
def test_phrasings(message: str, tool: str, args: dict[str, object]) -> None:
    intents = BRAIN.understand(message)
    assert intents == [ToolIntent(tool, args)]


@pytest.mark.parametrize("message", ["go", "Go.", "yes", "do it", "Proceed!", "confirm"])
def test_confirmations(message: str) -> None:
    assert BRAIN.understand(message) == [ConfirmIntent()]


@pytest.mark.parametrize("message", ["cancel", "no", "abort", "never mind"])
def test_cancellations(message: str) -> None:
    assert BRAIN.understand(message) == [CancelIntent()]


def test_help() -> None:
    assert BRAIN.understand("help") == [HelpIntent()]


@pytest.mark.parametrize(
    "message", ["", "   ", "asdf qwer", "make me a sandwich", "restart", "tear down", "provision some stuff"]
)
def test_unknown_is_honest_and_never_acts(message: str) -> None:
    intents = BRAIN.understand(message)
    assert all(isinstance(i, (UnknownIntent, ClarifyIntent)) for i in intents)  # a question back, never a call


def test_compound_request_yields_calls_in_order() -> None:
    intents = BRAIN.understand("fleet status; then restart everything degraded on vultr")
    assert [i.tool for i in intents if isinstance(i, ToolIntent)] == ["fleet_status", "restart"]


def test_huge_message_gets_a_short_answer() -> None:
    intents = BRAIN.understand("restart everything " * 10_000)
    assert len(intents) == 1 and isinstance(intents[0], UnknownIntent)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_never_crashes_and_never_invents_tools(text: str) -> None:
    for intent in BRAIN.understand(text):
        if isinstance(intent, ToolIntent):
            assert intent.tool in TOOLS  # every tool is reachable now; none outside the contract table
