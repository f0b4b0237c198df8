"""``clawops engine`` as an operator runs it: a process that prints its URL, logs JSON, stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.clawops_cli import run_clawops


def test_engine_command_serves_with_a_first_run_owner_key_and_stops_on_sigterm(clawops_home: Path) -> None:
    env = {**os.environ, "CLAWOPS_DEMO_PAIRS": "20", "CLAWOPS_DEMO_PROVIDERS": "sim"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "engine", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        key_file = clawops_home / "owner.key"
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        key = key_file.read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{url}/healthz", headers=headers, timeout=60).json()["operator"] == "owner"
        assert httpx.get(f"{url}/healthz", timeout=60).status_code == 401
        turn = httpx.post(f"{url}/v1/turns", headers=headers, json={"message": "fleet status"}, timeout=60)
        assert turn.status_code == 200 and turn.json()["reply"].startswith("[CMD]")
        _cli_against(url, key, env)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    messages = [r["msg"] for r in logs]
    assert messages.index("engine listening") < messages.index("engine stopped")
    assert key not in err  # the key went to the 0600 file, never to the log
    assert all({"ts", "level", "logger", "msg"} <= set(r) for r in logs)


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_clawops(args, env=env)


def _cli_against(url: str, key: str, env: dict[str, str]) -> None:
    """``clawops ask`` and ``clawops`` talk to the configured daemon; bad keys and URLs are one line each."""
    remote = {**env, "CLAWOPS_ENGINE_URL": url, "CLAWOPS_API_KEY": key}
    ok = _cli(["ask", "--json", "--session", "cli", "fleet status"], remote)
    assert ok.returncode == 0, ok.stderr
    assert set(json.loads(ok.stdout)) == {"reply", "agent", "tool_calls", "plan", "job"}
    history = httpx.get(
        f"{url}/v1/history", params={"session": "cli"}, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ).json()["messages"]
    assert [m["channel"] for m in history] == ["cli", "cli"]  # it ran in the daemon, as the key's operator
    for args in (["ask", "fleet status"], []):  # the chat refuses before drawing anything
        wrong = _cli(args, {**remote, "CLAWOPS_API_KEY": "claw_wrong_" + "k" * 30})
        assert wrong.returncode == 77 and len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr
        assert "claw_wrong" not in wrong.stderr
    down = _cli(["ask", "fleet status"], {**remote, "CLAWOPS_ENGINE_URL": "http://127.0.0.1:9"})
    assert down.returncode == 69 and "not reachable" in down.stderr and len(down.stderr.strip().splitlines()) == 1
