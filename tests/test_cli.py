"""``clawops`` as a user runs it: real processes, the JSON contract, and bad input."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clawops_cli import run_clawops

CONTRACT_KEYS = {"reply", "agent", "tool_calls", "plan", "job"}


def clawops(
    home: Path, *args: str, env: dict[str, str] | None = None, fresh_interpreter: bool = False
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CLAWOPS_")}
    full_env.update({"CLAWOPS_HOME": str(home), "CLAWOPS_DEMO_PAIRS": "850", **(env or {})})
    return run_clawops(args, env=full_env, fresh_interpreter=fresh_interpreter)


def test_ask_json_fleet_status_is_the_contract_with_real_counts(tmp_path: Path) -> None:
    # A brand-new interpreter, as the user's shell starts it (the other tests fork a warm one: tests/clawops_cli.py).
    proc = clawops(tmp_path, "ask", "--json", "fleet status", fresh_interpreter=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == CONTRACT_KEYS and out["agent"] == "commander"
    (call,) = out["tool_calls"]
    assert call["tool"] == "fleet_status" and call["status"] == "done"
    assert call["result"]["instances"] == 1700 and call["result"]["accounts"] == 850
    assert len(call["result"]["by_provider"]) >= 3
    # The counts are the store's: check them against SQLite directly.
    db = sqlite3.connect(tmp_path / "clawops.db")
    degraded = db.execute("SELECT count(*) FROM instances WHERE state = 'DEGRADED'").fetchone()[0]
    assert call["result"]["by_state"]["DEGRADED"] == degraded > 0
    assert out["plan"] is None and out["job"] is None
    assert "DEMO" in out["reply"]


def test_dry_run_restart_returns_a_restart_plan(tmp_path: Path) -> None:
    proc = clawops(tmp_path, "ask", "--json", "--dry-run", "restart everything degraded on vultr")
    out = json.loads(proc.stdout)
    (call,) = out["tool_calls"]
    assert call["tool"] == "restart" and call["status"] == "planned"
    assert call["args"] == {"selector": {"provider": "vultr", "state": "DEGRADED"}, "component": "gateway"}
    assert out["plan"]["id"].startswith("pl-") and out["job"] is None
    assert {"id", "summary", "requires_confirmation", "affected_users", "monthly_cost_delta"} <= set(out["plan"])


def test_big_restart_without_yes_waits_and_session_go_runs_it(tmp_path: Path) -> None:
    planned = json.loads(clawops(tmp_path, "ask", "--json", "--session", "ops", "restart everything on vultr").stdout)
    assert planned["tool_calls"][0]["status"] == "planned"
    assert planned["plan"]["requires_confirmation"] is True and planned["plan"]["affected_users"] > 10
    assert planned["job"] is None
    went = json.loads(clawops(tmp_path, "ask", "--json", "--session", "ops", "Go.").stdout)
    assert went["job"]["status"] == "succeeded" and went["tool_calls"][0]["status"] == "done"


def test_scoped_operator_cannot_see_another_tenant(tmp_path: Path) -> None:
    clawops(tmp_path, "ask", "fleet status")  # seed
    db = sqlite3.connect(tmp_path / "clawops.db")
    foreign = db.execute("SELECT account_id FROM instances WHERE tenant_id != 'demo-acme' LIMIT 1").fetchone()[0]
    own_total = db.execute("SELECT count(*) FROM instances WHERE tenant_id = 'demo-acme'").fetchone()[0]
    status = json.loads(clawops(tmp_path, "--operator", "acme-ops", "ask", "--json", "fleet status").stdout)
    assert status["tool_calls"][0]["result"]["instances"] == own_total < 1700
    peek = clawops(tmp_path, "--operator", "acme-ops", "ask", "--json", f"show {foreign}")
    assert peek.returncode != 0
    assert json.loads(peek.stdout)["tool_calls"][0]["status"] == "error"


def test_audit_verify_passes_then_names_the_tampered_entry(tmp_path: Path) -> None:
    clawops(tmp_path, "ask", "--yes", "restart everything degraded on vultr")
    ok = clawops(tmp_path, "audit", "verify")
    assert ok.returncode == 0 and "audit chain OK" in ok.stdout
    db = sqlite3.connect(tmp_path / "clawops.db")
    db.execute("UPDATE audit_entries SET actor = 'mallory' WHERE seq = 3")
    db.commit()
    bad = clawops(tmp_path, "audit", "verify")
    assert bad.returncode == 2
    assert "#3" in bad.stderr and "was edited" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize(
    ("setup", "args", "words"),
    [
        ("typo", ["ask", "fleet status"], "Unknown setting 'confirm_treshold'"),
        ("corrupt", ["ask", "fleet status"], "not a valid SQLite database"),
        ("pg-down", ["ask", "fleet status"], "Cannot reach the database"),
        ("none", ["--operator", "nobody", "ask", "fleet status"], "No active operator named 'nobody'"),
    ],
)
def test_bad_input_is_one_sentence_without_traceback(tmp_path: Path, setup: str, args: list[str], words: str) -> None:
    env: dict[str, str] = {}
    if setup == "typo":
        (tmp_path / "config.toml").write_text("confirm_treshold = 5\n")
    elif setup == "corrupt":
        (tmp_path / "clawops.db").write_bytes(b"garbage" * 1000)
    elif setup == "pg-down":
        env["CLAWOPS_DATABASE_URL"] = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    proc = clawops(tmp_path, *args, env=env)
    assert proc.returncode != 0
    assert words in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    if setup == "corrupt":
        assert (tmp_path / "clawops.db").read_bytes() == b"garbage" * 1000


def test_unknown_target_exits_non_zero_with_a_sentence(tmp_path: Path) -> None:
    proc = clawops(tmp_path, "ask", "show acct-99999")
    assert proc.returncode == 1 and "No account acct-99999 is visible to you" in proc.stdout


def test_emulate_prints_its_base_url_first_and_serves_the_vendor_api(tmp_path: Path) -> None:
    import httpx

    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAWOPS_")}
    env["CLAWOPS_HOME"] = str(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "emulate", "hetzner", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:") and base.endswith("/v1")
        reply = httpx.get(f"{base}/servers", headers={"Authorization": "Bearer any-token"}, timeout=10)
        assert reply.status_code == 200 and "servers" in reply.json()
        assert httpx.get(f"{base}/servers", timeout=10).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_emulate_unknown_provider_is_a_usage_error(tmp_path: Path) -> None:
    proc = clawops(tmp_path, "emulate", "aws")
    assert proc.returncode == 64 and "No emulator for 'aws'" in proc.stderr and "Traceback" not in proc.stderr


def test_ask_provider_health_reports_every_provider_from_its_emulated_status_page(tmp_path: Path) -> None:
    proc = clawops(tmp_path, "ask", "--json", "provider health")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    (call,) = out["tool_calls"]
    assert call["tool"] == "provider_health" and call["status"] == "done"
    providers = call["result"]["providers"]
    assert set(providers) == {"hetzner", "digitalocean", "vultr", "contabo", "hostinger"}
    assert {p["status"]["indicator"] for p in providers.values()} == {"operational"}
    assert sum(p["primaries"] for p in providers.values()) == 850
    assert all(f"{name}: operational" in out["reply"] for name in providers)
