"""``clawops job stop ID`` / ``clawops job status``: the same turn as typing it, from a script."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

from engine.runtime import Engine
from tests.clawops_cli import run_clawops

ROOT = Path(__file__).resolve().parents[2]


def _clawops(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAWOPS_")}
    env.update({"CLAWOPS_HOME": str(home), "CLAWOPS_DEMO_PAIRS": "40", "CLAWOPS_DEMO_PROVIDERS": "sim"})
    return run_clawops(args, env=env)


def test_job_stop_stops_a_job_left_unfinished_and_job_status_shows_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    os.environ["CLAWOPS_HOME"] = str(home)
    try:
        engine = Engine.open(demo_pairs=40, demo_providers="sim")
        try:
            planned = asyncio.run(engine.ask("restart everything on hetzner", session="cli"))
            assert planned.plan is not None
            _, job_id, _ = engine.ops.confirm_plan(engine.caller(), planned.plan["id"])
        finally:
            engine.close()
    finally:
        del os.environ["CLAWOPS_HOME"]
    stopped = _clawops(home, "job", "stop", job_id, "--json")
    assert stopped.returncode == 0, stopped.stderr
    contract = json.loads(stopped.stdout)
    assert contract["tool_calls"][0]["tool"] == "job_stop"
    assert contract["tool_calls"][0]["result"]["job"]["status"] == "stopped"
    status = _clawops(home, "job", "status", job_id)
    assert status.returncode == 0 and "stopped" in status.stdout
    again = _clawops(home, "job", "stop", job_id)
    assert again.returncode == 1 and "already stopped" in again.stdout and "Traceback" not in again.stderr


def test_flags_read_naturally_in_help(tmp_path: Path) -> None:
    shown = _clawops(tmp_path, "ask", "--help")
    assert "--json" in shown.stdout and "<bool>" not in shown.stdout
    assert "<str>" in shown.stdout or "--session" in shown.stdout  # options with a value still say so
