"""Red team through the real fronts: ``clawops ask`` processes, the daemon's /v1/turns, the CLI against the daemon,
and a messaging channel.  They all meet the same decision gate; each attack asserts nothing ran.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from engine.api import run_turn
from engine.channels import Inbound, channel_turn
from engine.runtime import Engine
from engine.trust import add_operator, link_identity
from tests.clawops_cli import run_clawops
from tests.security.sec_gate_kit import PAIRS, Daemon, accounts, fleet, jobs, nothing_ran, words
from tests.tls_kit import tls

ROOT = Path(__file__).resolve().parents[2]


def clawops(home: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("CLAWOPS_")}
    full.update(
        {"CLAWOPS_HOME": str(home), "CLAWOPS_DEMO_PAIRS": str(PAIRS), "CLAWOPS_DEMO_PROVIDERS": "sim", **(env or {})}
    )
    proc = run_clawops(["ask", "--json", *args], env=full)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, object] = json.loads(proc.stdout)
    return out


def _db(home: Path) -> tuple[list[tuple[object, ...]], int]:
    db = sqlite3.connect(home / "clawops.db")
    try:
        rows = db.execute("SELECT id, state, role, tier, provider_server_id FROM instances ORDER BY id").fetchall()
        return rows, db.execute("SELECT count(*) FROM jobs").fetchone()[0]
    finally:
        db.close()


def test_cli_compound_teardowns_run_nothing(tmp_path: Path) -> None:
    clawops(tmp_path, "fleet status")
    before, _ = _db(tmp_path)
    out = clawops(tmp_path, f"tear down {words(accounts(1, 10))} and tear down {words(accounts(11, 10))}")
    calls = out["tool_calls"]
    assert isinstance(calls, list) and [c["status"] for c in calls] == ["planned", "planned"]
    assert _db(tmp_path) == (before, 0)


def test_cli_split_across_processes_waits(tmp_path: Path) -> None:
    first = clawops(tmp_path, f"restart docker on {words(accounts(1, 10))}")
    assert first["job"] is not None
    before = _db(tmp_path)
    second = clawops(tmp_path, "--session", "other", "restart docker on acct-020")
    assert second["job"] is None and isinstance(second["plan"], dict) and second["plan"]["requires_confirmation"]
    assert "scope" in second["plan"]  # the contract gains the fingerprint of what was shown
    assert _db(tmp_path) == before


# ----------------------------------------------------------------------------- the daemon
@pytest.fixture
def api_engine(clawops_home: Path) -> Iterator[Engine]:
    engine = Engine.open(demo_pairs=PAIRS, demo_providers="sim")
    owner = engine.caller("owner", "cli")
    add_operator(engine.store, owner, "alice", "operator")
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture
async def daemon_url(api_engine: Engine) -> AsyncIterator[str]:
    d = Daemon(api_engine)
    url = await d.start()
    try:
        yield url
    finally:
        await d.stop()


def _key(engine: Engine, name: str) -> str:
    return engine.trust.issue_key(engine.caller("owner", "cli"), name).key


async def _turn(url: str, key: str, message: str, **body: object) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=url, timeout=120, verify=tls()) as http:  # per turn: tests/tls_kit.py
        resp = await http.post(
            "/v1/turns", headers={"Authorization": f"Bearer {key}"}, json={"message": message, **body}
        )
    assert resp.status_code == 200, resp.text
    out: dict[str, object] = resp.json()
    return out


async def test_daemon_compound_restarts_wait(api_engine: Engine, daemon_url: str) -> None:
    before = fleet(api_engine)
    out = await _turn(
        daemon_url,
        _key(api_engine, "alice"),
        f"restart the gateway on {words(accounts(1, 6))} and restart docker on {words(accounts(11, 5))}",
    )
    calls = out["tool_calls"]
    assert isinstance(calls, list) and {c["status"] for c in calls} == {"planned"}
    nothing_ran(api_engine, before)


async def test_daemon_split_across_two_keys_of_one_operator_waits(api_engine: Engine, daemon_url: str) -> None:
    first, second = _key(api_engine, "alice"), _key(api_engine, "alice")
    await _turn(daemon_url, first, f"restart docker on {words(accounts(1, 10))}", session="k1")
    before, ran = fleet(api_engine), len(jobs(api_engine))
    out = await _turn(daemon_url, second, "restart docker on acct-030", session="k2")
    assert out["job"] is None
    nothing_ran(api_engine, before, ran)


async def test_daemon_go_from_another_operator_runs_nothing(api_engine: Engine, daemon_url: str) -> None:
    await _turn(daemon_url, _key(api_engine, "owner"), "tear down acct-021", session="s")
    before = fleet(api_engine)
    out = await _turn(daemon_url, _key(api_engine, "alice"), "go", session="s")
    assert "nothing waiting" in str(out["reply"])
    nothing_ran(api_engine, before)


async def test_cli_against_the_daemon_meets_the_same_gate(api_engine: Engine, daemon_url: str, tmp_path: Path) -> None:
    key = _key(api_engine, "alice")
    before = fleet(api_engine)
    out = await asyncio.to_thread(
        clawops,
        tmp_path,
        f"tear down {words(accounts(1, 3))}; tear down acct-030",
        env={"CLAWOPS_ENGINE_URL": daemon_url, "CLAWOPS_API_KEY": key},
    )
    calls = out["tool_calls"]
    assert isinstance(calls, list) and [c["status"] for c in calls] == ["planned", "planned"]
    nothing_ran(api_engine, before)


# ----------------------------------------------------------------------------- a messaging channel
async def test_a_channel_turn_meets_the_same_gate(api_engine: Engine) -> None:
    link_identity(api_engine.store, api_engine.caller("owner"), "alice", "telegram", "4242")
    turn = channel_turn(api_engine, run_turn)  # what the daemon's Telegram and WhatsApp channels run
    inbound = Inbound(channel="telegram", sender_id="4242", operator_id="alice", message_id="1", text="")
    await turn(inbound, f"restart docker on {words(accounts(1, 9))}")
    before, ran = fleet(api_engine), len(jobs(api_engine))
    reply = await turn(inbound, f"restart docker on {words(accounts(20, 2))} and tear down acct-031")
    assert "Confirm?" in str(reply)
    nothing_ran(api_engine, before, ran)


# ----------------------------------------------------------------------------- `clawops engine`, the real process
def test_the_engine_process_holds_splits_across_cli_processes_and_sessions(clawops_home: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAWOPS_")}
    env.update({"CLAWOPS_HOME": str(clawops_home), "CLAWOPS_DEMO_PAIRS": str(PAIRS), "CLAWOPS_DEMO_PROVIDERS": "sim"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "engine", "--port", "0"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        remote = {"CLAWOPS_ENGINE_URL": url, "CLAWOPS_API_KEY": (clawops_home / "owner.key").read_text().strip()}
        first = clawops(tmp_path, "--session", "a", f"restart docker on {words(accounts(1, 7))}", env=remote)
        assert first["job"] is not None
        second = clawops(tmp_path, "--session", "b", f"restart docker on {words(accounts(20, 4))}", env=remote)
        assert second["job"] is None and isinstance(second["plan"], dict) and second["plan"]["requires_confirmation"]
        compound = clawops(tmp_path, f"tear down {words(accounts(30, 2))} and tear down acct-033", env=remote)
        calls = compound["tool_calls"]
        assert isinstance(calls, list) and [c["status"] for c in calls] == ["planned", "planned"]
        stolen = clawops(tmp_path, "--session", "a", "go", env=remote)  # session a had nothing pending
        assert stolen["job"] is None
    finally:
        proc.terminate()
        proc.wait(timeout=90)
        if proc.stdout is not None:
            proc.stdout.close()
    db = sqlite3.connect(clawops_home / "clawops.db")
    try:  # Guardian's own heals may run in the daemon; of the operator's turns only the first ran
        ran = db.execute(
            "SELECT p.session_key, p.tool FROM jobs j JOIN plans p ON p.id = j.plan_id WHERE p.session_key != ''"
        ).fetchall()
        deleted = db.execute("SELECT count(*) FROM instances WHERE state = 'DELETED'").fetchone()[0]
    finally:
        db.close()
    assert ran == [("op-owner:a", "restart")] and deleted == 0


# ----------------------------------------------------------------------------- a stale "go", through the real CLI
@pytest.mark.parametrize(
    "between",
    [["blorp the frobnicators"], ["fleet status", "show acct-005"]],
    ids=["after-not-understood", "after-other-turns"],
)
def test_cli_a_go_that_is_not_about_the_plan_runs_nothing(tmp_path: Path, between: list[str]) -> None:
    """A "go" after a turn that was not understood, or several turns after the plan, confirms nothing."""
    session = ("--session", "night")
    planned = clawops(tmp_path, *session, f"restart docker on {words(accounts(1, 12))}")
    assert isinstance(planned["plan"], dict) and planned["plan"]["requires_confirmation"]
    before = _db(tmp_path)
    for message in between:
        clawops(tmp_path, *session, message)
    went = clawops(tmp_path, *session, "go")
    assert went["job"] is None and _db(tmp_path) == before
    assert "plan" in str(went["reply"]).lower()  # it says there is no live plan to confirm
