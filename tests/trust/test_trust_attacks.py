"""The attack table of issue 11: each attack is tried through the trust path and must be refused or detected.

| attack                                           | expected                                        |
|--------------------------------------------------|-------------------------------------------------|
| wrong key / forged secret / revoked key          | AuthenticationError, audited login.failed       |
| viewer key (or read-scoped key) mutates          | refused by the role check, audited              |
| tenant-scoped key names another tenant's account | not visible, nothing planned                    |
| forged channel identity                          | AuthenticationError, audited login.failed       |
| wrong keys again and again from one peer         | TooManyAttempts (429), audited once per burst   |
| a forged identity tried again and again          | TooManyAttempts, audited once per burst         |
| interrupted rotation                             | every secret still readable, resume finishes    |
| truncated / edited audit log                     | verify (with anchor) names the entry            |
| secret embedded in a tool result                 | masked in the turn result                       |
| secret embedded in a tool result, LLM brain      | never in any request sent to the model          |
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from engine.brain import llm_brain_for
from engine.brain.emulator import AnthropicEmulator, Scripted, say, use_tools
from engine.client import EmbeddedClient
from engine.policy import Caller
from engine.runtime import Engine
from engine.trust import (
    AuthenticationError,
    TooManyAttempts,
    anchor,
    link_identity,
    query,
    verify_with_anchor,
)


@pytest.fixture
def engine(clawops_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("CLAWOPS_DEMO_PAIRS", "20")
    eng = Engine.open()
    yield eng
    eng.close()


def _owner(engine: Engine) -> Caller:
    return engine.caller("owner")


def attack_wrong_key(engine: Engine) -> None:
    good = engine.trust.issue_key(_owner(engine), "acme-ops")
    for key in ("cok_deadbeef_" + "x" * 43, good.key[:-1] + ("y" if good.key[-1] != "y" else "z"), "Bearer nonsense"):
        with pytest.raises(AuthenticationError):
            engine.caller_for_key(key)
    assert len(query(engine.store, action="login.failed")) == 3


def attack_revoked_key(engine: Engine) -> None:
    from engine.trust import revoke_key

    issued = engine.trust.issue_key(_owner(engine), "acme-ops")
    assert engine.caller_for_key(issued.key).name == "acme-ops"
    revoke_key(engine.store, _owner(engine), issued.id)
    with pytest.raises(AuthenticationError):
        engine.caller_for_key(issued.key)
    assert query(engine.store, action="login.failed")[0].detail["reason"] == "revoked key"


def attack_viewer_mutates(engine: Engine) -> None:
    viewer = engine.caller_for_key(engine.trust.issue_key(_owner(engine), "globex-viewer").key)
    narrowed = engine.caller_for_key(engine.trust.issue_key(_owner(engine), "acme-ops", ["read"]).key)
    for caller in (viewer, narrowed):
        out = asyncio.run(
            engine.ops.call(caller, "restart", {"selector": {"provider": "vultr"}, "component": "gateway"})
        )
        assert (out.status, out.rule) == ("refused", "role")
    assert len(query(engine.store, action="refused.restart")) == 2


def attack_cross_tenant(engine: Engine) -> None:
    acme = engine.caller_for_key(engine.trust.issue_key(_owner(engine), "acme-ops").key)
    assert acme.tenant_id == "demo-acme"
    with engine.store.engine.connect() as conn:
        other = conn.execute(text("SELECT id FROM accounts WHERE tenant_id != 'demo-acme' LIMIT 1")).scalar_one()
    inspect = asyncio.run(engine.ops.call(acme, "instance_inspect", {"target": other}))
    restart = asyncio.run(engine.ops.call(acme, "restart", {"selector": {"accounts": [other]}, "component": "gateway"}))
    assert inspect.status == "error" and "visible to you" in inspect.message and other in inspect.message
    assert restart.status in ("error", "refused") and restart.plan is None


def attack_forged_identity(engine: Engine) -> None:
    link_identity(engine.store, _owner(engine), "acme-ops", "whatsapp", "+49 170 1234567")
    assert engine.caller_for_identity("whatsapp", "491701234567").name == "acme-ops"
    forged = [
        ("telegram", "491701234567"),  # the right number on the wrong channel
        ("telegram", "owner"),  # a display name is not an id
        ("whatsapp", "+49 170 1234568"),  # one digit off
        ("ssh", "root"),
    ]
    for channel, ext in forged:
        with pytest.raises(AuthenticationError):
            engine.caller_for_identity(channel, ext)
    assert len(query(engine.store, action="login.failed")) == len(forged)


def _until_throttled(attempt: Callable[[], object], limit: int = 40) -> int:
    """Repeat a failing login until the throttle answers; how many plain failures came first."""
    for n in range(limit):
        try:
            attempt()
        except TooManyAttempts:
            return n
        except AuthenticationError:
            continue
    raise AssertionError(f"{limit} failed logins in a row were never throttled")


def attack_repeated_wrong_keys(engine: Engine) -> None:
    good = engine.trust.issue_key(_owner(engine), "acme-ops")
    failures = _until_throttled(lambda: engine.trust.authenticate("cok_0badc0de_" + "z" * 43, source="203.0.113.66"))
    with pytest.raises(TooManyAttempts, match="try again in"):
        engine.trust.authenticate("cok_0badc0de_" + "y" * 43, source="203.0.113.66")  # more wrong keys: throttled
    assert (
        engine.trust.authenticate(good.key, source="203.0.113.66").name == "acme-ops"
    )  # a right key: never locked out
    assert 1 <= failures < 40 and len(query(engine.store, action="login.failed", limit=100)) == failures
    assert len(query(engine.store, action="login.throttled")) >= 1
    assert engine.trust.authenticate(good.key, source="198.51.100.3").name == "acme-ops"


def attack_repeated_forged_identity(engine: Engine) -> None:
    link_identity(engine.store, _owner(engine), "acme-ops", "telegram", "5550001")
    failures = _until_throttled(lambda: engine.caller_for_identity("telegram", "5550002"))
    assert 1 <= failures < 40 and len(query(engine.store, action="login.failed", limit=100)) == failures
    assert len(query(engine.store, action="login.throttled")) >= 1
    assert engine.caller_for_identity("telegram", "5550001").name == "acme-ops"


class _Crash(Exception):
    pass


def attack_interrupted_rotation(engine: Engine) -> None:
    vault = engine.trust.secrets
    values = {f"p/{i}": f"tok-{i}-abcdef{i:04d}" for i in range(30)}
    for name, value in values.items():
        vault.set(name, value)

    def crash(n: int) -> None:
        if n == 17:
            raise _Crash

    with pytest.raises(_Crash):
        vault.rotate(batch=5, progress=crash)
    assert {n: vault.get(n) for n in values} == values
    assert vault.rotate().resumed and vault.pending_rotation() == 0
    assert {n: vault.get(n) for n in values} == values


def attack_truncated_audit(engine: Engine) -> None:
    for name in ("a1", "a2", "a3"):
        engine.trust.secrets.set(name, f"value-{name}-123456")
    path = engine.trust.anchor_path
    anchor(engine.store, path)
    with engine.store.engine.begin() as conn:
        top = conn.execute(text("SELECT max(seq) FROM audit_entries")).scalar_one()
        conn.execute(text("DELETE FROM audit_entries WHERE seq = :s"), {"s": top})
        conn.execute(
            text("UPDATE audit_head SET seq = :s, hash = (SELECT hash FROM audit_entries WHERE seq = :s)"),
            {"s": top - 1},
        )
    report = verify_with_anchor(engine.store, path)
    assert report.problem is not None and "cut off" in report.problem.message


def attack_edited_audit(engine: Engine) -> None:
    engine.trust.secrets.set("x", "value-x-123456")
    with engine.store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET actor = 'mallory' WHERE seq = 1"))
    report = verify_with_anchor(engine.store, engine.trust.anchor_path)
    assert report.problem is not None and report.problem.seq == 1 and "edited" in report.problem.message


def attack_secret_in_tool_result(engine: Engine) -> None:
    token = "do-CANARY-5566778899aabbcc"
    engine.trust.secrets.set("digitalocean/token", token)
    with engine.store.engine.begin() as conn:
        conn.execute(
            text("UPDATE instances SET health_reason = :r WHERE account_id = 'acct-001'"),
            {"r": f"node log: DO_TOKEN={token}"},
        )
    client = EmbeddedClient(engine)
    result = asyncio.run(client.ask("show acct-001"))
    contract = str(result.to_contract())
    assert "acct-001" in contract and token not in contract and "[REDACTED]" in contract


def _inspecting_model(body: dict[str, Any]) -> Scripted:
    last = body["messages"][-1]["content"]
    if isinstance(last, list) and any(b.get("type") == "tool_result" for b in last):
        return say("[CMD] acct-001 dumped its environment into its health reason.")
    return use_tools(("instance_inspect", {"target": "acct-001"}))


def attack_secret_in_tool_result_to_the_model(engine: Engine) -> None:
    token = "do-CANARY-llm-5566778899aabbcc"
    engine.trust.secrets.set("digitalocean/token", token)
    with engine.store.engine.begin() as conn:
        conn.execute(
            text("UPDATE instances SET health_reason = :r WHERE account_id = 'acct-001'"),
            {"r": f"node log: DO_TOKEN={token}"},
        )

    async def turn() -> list[dict[str, Any]]:
        async with AnthropicEmulator(responder=_inspecting_model) as emu:
            settings = engine.settings.model_copy(
                update={"anthropic_api_key": SecretStr("sk-test-attacks"), "anthropic_base_url": emu.base_url}
            )
            brain = llm_brain_for(settings)
            assert brain is not None
            engine.conversation.llm = brain
            try:
                result = await engine.ask("show acct-001", session="attack")
            finally:
                engine.conversation.llm = None
                await brain.aclose()
            assert [c.tool for c in result.tool_calls] == ["instance_inspect"]
            return emu.requests

    sent = json.dumps(asyncio.run(turn()))
    assert token not in sent and "DO_TOKEN=[REDACTED]" in sent


ATTACKS: dict[str, Callable[[Engine], None]] = {
    "wrong key": attack_wrong_key,
    "revoked key": attack_revoked_key,
    "viewer mutates": attack_viewer_mutates,
    "tenant-scoped operator names another tenant's account": attack_cross_tenant,
    "forged channel identity": attack_forged_identity,
    "wrong keys again and again from one peer": attack_repeated_wrong_keys,
    "a forged identity tried again and again": attack_repeated_forged_identity,
    "interrupted rotation": attack_interrupted_rotation,
    "truncated audit log": attack_truncated_audit,
    "edited audit log": attack_edited_audit,
    "secret embedded in a tool result": attack_secret_in_tool_result,
    "secret embedded in a tool result, sent to the LLM brain": attack_secret_in_tool_result_to_the_model,
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_is_refused_or_detected(engine: Engine, attack: str) -> None:
    ATTACKS[attack](engine)
