"""Nothing secret is sent to the model: every request the Messages API emulator records is grepped for canaries.

Canaries sit where a careless brain would forward them: a provider token (in the secret store) echoed
into an instance's health reason (a tool result), an operator API key in the same place, a memory, the
operator's own message (and so the session history of the next turn), a delegated agent's task, and the
settings' own secrets (the model API key, the node gateway token).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.brain.emulator import AnthropicEmulator, say, use_tools
from engine.runtime import Engine
from engine.store import Memory
from engine.trust import Redactor

TOKEN = "hz-CANARY-brain-7c6b5a4f3e2d1c0b"
GATEWAY = "gw-CANARY-brain-0f1e2d3c4b5a6978"
MODEL_KEY = "sk-CANARY-model-5e4d3c2b1a009f8e"


@pytest.fixture
async def emu() -> AsyncIterator[AnthropicEmulator]:
    async with AnthropicEmulator() as server:
        yield server


@pytest.fixture
async def engine(clawops_home: Path, emu: AnthropicEmulator, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Engine]:
    monkeypatch.setenv("CLAWOPS_GATEWAY_TOKEN", GATEWAY)
    eng = Engine.open(demo_pairs=20, demo_providers="sim", anthropic_api_key=MODEL_KEY, anthropic_base_url=emu.base_url)
    assert eng.conversation.llm is not None
    eng.conversation.llm.backoff = 0.001
    yield eng
    await eng.conversation.llm.aclose()
    eng.close()


def _plant(engine: Engine) -> str:
    """The canaries, in the store; returns the API key (shaped like one, known to nobody by value)."""
    engine.trust.secrets.set("hetzner/token", TOKEN)
    key = engine.trust.issue_key(engine.caller("owner"), "owner").key
    with engine.store.engine.begin() as conn:
        conn.execute(
            text("UPDATE instances SET health_reason = :r WHERE account_id = 'acct-001'"),
            {
                "r": f"gateway crashed; env dump: HETZNER_TOKEN={TOKEN} CLAWOPS_API_KEY={key} "
                f"CLAWOPS_GATEWAY_TOKEN={GATEWAY}"
            },
        )
    with engine.store.session() as s:
        s.add(
            Memory(
                id="mem-canary",
                operator_id="op-owner",
                kind="note",
                text=f"the hetzner token is {TOKEN}; never paste it",
            )
        )
    return key


def _leaks(emu: AnthropicEmulator, *canaries: str) -> list[str]:
    return [
        f"request {n}: {c[:14]}…"
        for n, body in enumerate(emu.requests)
        for c in canaries
        if c in json.dumps(body, ensure_ascii=False)
    ]


async def test_no_canary_in_any_request_sent_to_the_model(engine: Engine, emu: AnthropicEmulator) -> None:
    key = _plant(engine)
    emu.add(
        use_tools(("instance_inspect", {"target": "acct-001"})),
        say("[CMD] acct-001's gateway crashed; its log holds a credential, rotate it."),
    )
    first = await engine.ask(f"look at acct-001, the node printed {TOKEN} somewhere", session="s")
    assert [(c.tool, c.status) for c in first.tool_calls] == [("instance_inspect", "done")]
    emu.add(
        use_tools(("sessions_send", {"agent": "triage", "message": f"check acct-001, token {TOKEN}", "wait": True})),
        use_tools(("instance_inspect", {"target": "acct-001"})),
        say("[Triage] The gateway dumped its environment into the health reason."),
        say("[CMD] Triage agrees: rotate the Hetzner token."),
    )
    await engine.ask("what does triage say?", session="s")
    assert len(emu.requests) == 6
    assert _leaks(emu, TOKEN, key, GATEWAY, MODEL_KEY) == []
    # The canaries were really on their way (and were masked, not dropped):
    tool_result = emu.requests[1]["messages"][-1]["content"][0]
    assert tool_result["type"] == "tool_result"
    assert (
        "HETZNER_TOKEN=[REDACTED] CLAWOPS_API_KEY=[REDACTED] CLAWOPS_GATEWAY_TOKEN=[REDACTED]"
        in json.loads(tool_result["content"])["result"]["instances"][0]["health_reason"]
    )
    assert "the hetzner token is [REDACTED]; never paste it" in emu.requests[0]["system"]  # the memory
    assert "the node printed [REDACTED] somewhere" in emu.requests[0]["messages"][-1]["content"]
    history = json.dumps(emu.requests[2]["messages"][:-1])  # the next turn carries the first as history
    assert "the node printed [REDACTED] somewhere" in history
    triage = emu.requests[3]
    assert triage["model"] == "claude-opus-4-6" and "check acct-001, token [REDACTED]" in json.dumps(triage)


async def test_the_brain_uses_the_redactor_it_is_given(engine: Engine, emu: AnthropicEmulator) -> None:
    assert engine.conversation.llm is not None
    own = "site-password-4f3e2d1c"  # known only to this redactor, not to the process-wide one
    engine.conversation.llm.redactor = Redactor([own])
    emu.add(say("[CMD] Noted."))
    await engine.ask(f"fleet status please, and {own} is the dashboard password", session="t")
    (request,) = emu.requests
    assert own not in json.dumps(request) and "[REDACTED] is the dashboard password" in json.dumps(request)


def test_the_redactors_plain_search_misses_nothing_the_case_blind_pattern_finds() -> None:
    """The redactor skips its case-blind patterns when a lower-cased text plainly holds no value; that is exact only
    while the look-alikes a case-blind pattern matches to an ASCII letter are the ones it knows (a Python upgrade
    could add one), and while disguised values are still masked."""
    from engine.text._redact import _ASCII_TWINS

    every = "".join(map(chr, range(0x80, 0xD800))) + "".join(map(chr, range(0xE000, 0x110000)))  # no surrogates
    assert {m.group() for m in re.finditer("(?i)[a-z]", every)} == set(_ASCII_TWINS)
    red = Redactor(["kiss-me-secret"])
    for disguised in (
        "KISS-ME-SECRET",
        "\u212aiss-me-secret",
        "k\u0131ss-me-secret",
        "ki\u017fs-me-secret",
        "ｋｉｓｓ-me-secret",
    ):
        assert red.scrub(f"the value {disguised}!") == "the value [REDACTED]!", disguised
    assert red.scrub("nothing here → at all") == "nothing here → at all"
