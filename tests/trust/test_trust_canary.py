"""Canary secrets planted everywhere, realistic flows run, every output grepped: no canary may show.

Planted: a provider token in the secret store, the gateway token in the environment (a settings
secret), an API key (shown once at issue, never again), the provider token echoed into a node's
health reason (a tool result) and quoted in an audit entry's detail, and typed as an operator name.
With the LLM brain on (the Messages API emulator on loopback), every request the model was sent is
grepped as well.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text as sa_text

from engine import audit
from engine.brain.emulator import AnthropicEmulator, Scripted, say, use_tools
from engine.store import open_store
from tests.clawops_cli import run_clawops

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hz-CANARY-9f8e7d6c5b4a39281706"
GATEWAY = "gw-CANARY-0a1b2c3d4e5f60718293"
MODEL_KEY = "sk-CANARY-model-a1b2c3d4e5f6a7b8"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAWOPS_")}
    env.update({"CLAWOPS_HOME": str(home), "CLAWOPS_DEMO_PAIRS": "20", "CLAWOPS_GATEWAY_TOKEN": GATEWAY})
    return env


def clawops(
    home: Path, *args: str, stdin: str | None = None, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_clawops(args, stdin=stdin, env={**_env(home), **(extra_env or {})})


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Path, str]:
    home = tmp_path / "home"
    first = clawops(home, "secrets", "set", "hetzner/token", stdin=TOKEN + "\n")
    assert first.returncode == 0, first.stderr
    added = clawops(home, "operator", "add", "mallory", "--role", "viewer", "--key")
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip().splitlines()[-1]
    assert key.startswith("cok_") and TOKEN not in added.stdout + added.stderr
    db = sqlite3.connect(home / "clawops.db")
    with db:
        db.execute(
            "UPDATE instances SET health_reason = ? WHERE account_id = 'acct-001'",
            (f"gateway crashed; env dump: HETZNER_TOKEN={TOKEN} CLAWOPS_GATEWAY_TOKEN={GATEWAY}",),
        )
    db.close()
    store = open_store(f"sqlite:///{home / 'clawops.db'}")
    with store.session() as s:
        audit.append(
            s,
            actor="triage@owner",
            action="agent.decision",
            target="acct-001",
            detail={"quoted_tool_result": f"token {TOKEN}", "api_key_seen": key},
        )
    store.dispose()
    return home, key


def test_no_canary_in_any_output(planted: tuple[Path, str]) -> None:
    home, key = planted
    runs = {
        "ask inspect": clawops(home, "ask", "--json", "show acct-001"),
        "ask inspect text": clawops(home, "ask", "show acct-001"),
        "ask echo": clawops(home, "ask", "--json", f"my hetzner token is {TOKEN}, use key {key}"),
        "ask refused": clawops(home, "--operator", "mallory", "ask", "--json", "restart everything on vultr"),
        "bad operator": clawops(home, "--operator", TOKEN, "ask", "fleet status"),
        "audit query": clawops(home, "audit", "query", "--json", "--limit", "500"),
        "audit query text": clawops(home, "audit", "query", "--limit", "500"),
        "audit verify": clawops(home, "audit", "verify"),
        "secrets list": clawops(home, "secrets", "list", "--json"),
        "secrets rotate": clawops(home, "secrets", "rotate"),
        "operator list": clawops(home, "operator", "list", "--json"),
        "bad secret name": clawops(home, "secrets", "set", "no good", stdin=TOKEN),
    }
    # The flows really ran (a canary scan over failures proves nothing).
    assert runs["ask inspect"].returncode == 0 and "acct-001" in runs["ask inspect"].stdout
    assert "[REDACTED]" in runs["ask inspect"].stdout  # the token was there, and was masked
    assert runs["ask refused"].returncode == 3 and "viewer" in runs["ask refused"].stdout
    assert runs["bad operator"].returncode != 0 and "No active operator" in runs["bad operator"].stderr
    assert "agent.decision" in runs["audit query"].stdout and "[REDACTED]" in runs["audit query"].stdout
    assert "hetzner/token" in runs["secrets list"].stdout and runs["secrets rotate"].returncode == 0
    assert runs["bad secret name"].returncode == 64
    leaks = [
        f"{name}: {canary[:12]}…"
        for name, proc in runs.items()
        for canary in (TOKEN, GATEWAY, key)
        if canary in proc.stdout or canary in proc.stderr
    ]
    assert leaks == []


def test_no_canary_in_logs_of_an_embedded_turn(planted: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.client import EmbeddedClient

    home, key = planted
    for k, v in _env(home).items():
        monkeypatch.setenv(k, v)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    client = EmbeddedClient.open()
    try:
        result = asyncio.run(client.ask("show acct-001"))
        logging.getLogger("clawops.test").warning("turn done: %s / %s", result.to_contract(), TOKEN)
        logging.getLogger("engine.operations").error("provider call failed with key %s", key)
    finally:
        client.close()
        root.removeHandler(handler)
        root.setLevel(old_level)
    text = stream.getvalue()
    assert "turn done" in text and "[REDACTED]" in text
    assert TOKEN not in text and GATEWAY not in text and key not in text
    assert TOKEN not in str(result.to_contract())


def _model(body: dict[str, Any]) -> Scripted:
    """A model that inspects acct-001 once per turn, then answers."""
    last = body["messages"][-1]["content"]
    if isinstance(last, list) and any(b.get("type") == "tool_result" for b in last):
        return say("[CMD] acct-001's gateway crashed and dumped its environment; rotate that token.")
    return use_tools(("instance_inspect", {"target": "acct-001"}))


@pytest.fixture
def model() -> Iterator[AnthropicEmulator]:
    """The Messages API emulator on loopback, served from a thread so that CLI subprocesses can reach it."""
    emu = AnthropicEmulator(responder=_model)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(emu.start(), loop).result(30)
    try:
        yield emu
    finally:
        asyncio.run_coroutine_threadsafe(emu.close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


def test_no_canary_in_what_the_model_is_sent(planted: tuple[Path, str], model: AnthropicEmulator) -> None:
    home, key = planted
    llm = {"CLAWOPS_ANTHROPIC_API_KEY": MODEL_KEY, "CLAWOPS_ANTHROPIC_BASE_URL": model.base_url}
    runs = {
        "inspect": clawops(home, "ask", "--json", "--session", "c", "look at acct-001", extra_env=llm),
        "pasted": clawops(
            home, "ask", "--json", "--session", "c", f"is it this token {TOKEN} or this key {key}?", extra_env=llm
        ),
    }
    assert all(r.returncode == 0 for r in runs.values()), [r.stderr[-800:] for r in runs.values()]
    assert all(json.loads(r.stdout)["tool_calls"][0]["tool"] == "instance_inspect" for r in runs.values())
    assert len(model.requests) == 4  # two turns, each: the question, then the tool result
    sent = json.dumps(model.requests, ensure_ascii=False)
    leaks = [c[:12] for c in (TOKEN, GATEWAY, key, MODEL_KEY) if c in sent]
    leaks += [
        f"{name}: {c[:12]}"
        for name, proc in runs.items()
        for c in (TOKEN, GATEWAY, key, MODEL_KEY)
        if c in proc.stdout or c in proc.stderr
    ]
    assert leaks == []
    # the canaries were on their way to the model (the node's env dump in the tool result, the pasted
    # token in the operator's message and then in the session history) and arrived masked
    assert "HETZNER_TOKEN=[REDACTED] CLAWOPS_GATEWAY_TOKEN=[REDACTED]" in sent
    assert "is it this token [REDACTED] or this key [REDACTED]?" in json.dumps(model.requests[2]["messages"])


async def test_no_canary_in_what_the_daemon_answers(clawops_home: Path) -> None:
    """A daemon never decrypted the token another process stored; its answers are masked all the same."""
    from aiohttp.test_utils import TestClient, TestServer

    from engine.api._server import create_app
    from engine.runtime import Engine
    from engine.trust import KeyRing, Redactor, SecretStore

    engine = Engine.open(demo_pairs=20, demo_providers="sim")
    try:
        # The CLI of another process stored it: this process's redactor has never seen the value.
        elsewhere = SecretStore(engine.store, KeyRing.load(engine.settings.home, environ={}), redactor=Redactor())
        elsewhere.set("hetzner/token", TOKEN)
        engine.trust.redactor = Redactor()  # this daemon's own, empty redactor
        with engine.store.engine.begin() as conn:
            conn.execute(
                sa_text("UPDATE instances SET health_reason = :r WHERE account_id = 'acct-001'"),
                {"r": f"env dump: HETZNER_TOKEN={TOKEN}"},
            )
        key = engine.trust.issue_key(engine.caller("owner"), "owner").key
        client = TestClient(TestServer(create_app(engine)))
        await client.start_server()
        try:
            resp = await client.post(
                "/v1/turns", json={"message": "show acct-001"}, headers={"Authorization": f"Bearer {key}"}
            )
            body = await resp.text()
        finally:
            await client.close()
        assert resp.status == 200 and "acct-001" in body
        assert TOKEN not in body and "HETZNER_TOKEN=[REDACTED]" in body
    finally:
        engine.close()
