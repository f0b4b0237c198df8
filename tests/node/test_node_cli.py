"""`clawnode run --config FILE` as a real process against the embedded gateway, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import sys
from pathlib import Path

from engine.gateway import NodeGateway
from tests.node.clawnode_testkit import SHARED_TOKEN, until

ROOT = Path(__file__).resolve().parents[2]


async def test_clawnode_run_process(gateway: NodeGateway, tmp_path: Path) -> None:
    state = tmp_path / "state" / "node.json"
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "gateway": gateway.url,
                "token": SHARED_TOKEN,
                "hostname": "cli-node",
                "provider": "sim",
                "region": "eu-sim-lab1",
                "tier": "nano",
                "role": "primary",
                "account_id": "acct-001",
                "state_path": str(state),
                "health_interval_s": 0.5,
                "gateway_probe_url": None,
                "openclaw_config_path": str(tmp_path / "openclaw.json"),
                "data_dir": str(tmp_path / "data"),
            }
        )
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "node.cli",
        "run",
        "--config",
        str(config),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await until(lambda: len(gateway.connected_nodes()) == 1, timeout=30)
        [node] = gateway.connected_nodes()
        res = await gateway.invoke(node.node_id, "clawops.health", timeout_s=15)
        # Real /proc readings from this machine: an OpenClaw gateway runs here only while a real-gateway test does.
        from node.system import ProcSystem

        assert res.ok and res.payload["hostname"] == "cli-node"
        assert res.payload["memory"]["totalBytes"] > 0
        assert res.payload["gateway"]["running"] is (ProcSystem().gateway_pid() is not None)
        assert stat.S_IMODE(os.stat(state).st_mode) == 0o600
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 20)
    assert code == 0
    assert proc.stderr is not None
    log = (await proc.stderr.read()).decode()
    assert "connected to" in log and SHARED_TOKEN not in log  # never log the credential
