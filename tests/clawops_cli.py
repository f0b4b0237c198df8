"""Run the ``clawops`` CLI as a separate process, the way a user's shell does, but without paying Python's and the
engine's start-up for every call.

Why: about 150 tests run the real CLI, and each fresh interpreter spends ~1.5 s of CPU importing the engine
(sqlalchemy, pydantic models, the tool registry) before doing ~0.3 s of work. On the 2-core test machine that
start-up was the largest single cost of the suite.

How: one *fork server* per test process imports ``app.cli`` and the engine once, then forks a child for each call.
The child is a new process with its own pid, session, working directory, environment, stdin, stdout and stderr; it
runs the same entry point as the ``clawops`` script (``app.cli.main``) and exits with its exit code. Nothing runs in
the server before a fork except imports (no threads, no event loop, no engine), so a child starts from the state
a fresh interpreter has after importing those modules.

What it does not cover: the interpreter's own start-up and import of the engine. Tests that are about that (the
README commands, ``--help`` speed, ``python -m app.cli``) pass ``fresh_interpreter=True`` and get a real
``subprocess.run``; the benchmarks measure start-up time.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

__all__ = ["ROOT", "run_clawops"]

ROOT = Path(__file__).resolve().parents[1]

# Modules the server imports before forking: what nearly every CLI command needs.
_PRELOAD = (
    "app.cli",
    "engine.client",
    "engine.runtime",
    "engine.scheduler",
    "engine.demo_providers",
    "alembic.command",
    "alembic.runtime.environment",
    "alembic.script",
    "alembic.ddl.sqlite",
    "alembic.ddl.postgresql",
    "sqlalchemy.dialects.sqlite",
    "mako.template",
    "pygments.lexers.python",
)


def run_clawops(
    args: list[str] | tuple[str, ...],
    *,
    env: Mapping[str, str],
    cwd: str | Path = ROOT,
    stdin: str | None = None,
    timeout: float = 120.0,
    fresh_interpreter: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``clawops ARGS`` with exactly ``env`` as its environment; return its exit code and captured output.

    Same contract as ``subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True)``;
    a call that overruns ``timeout`` kills the child and raises ``subprocess.TimeoutExpired``.
    """
    argv = [sys.executable, "-m", "app.cli", *args]
    if fresh_interpreter or os.environ.get("CLAWOPS_TEST_FORK_SERVER") == "0":
        return subprocess.run(
            argv,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            env=dict(env),
            cwd=cwd,
            timeout=timeout,
        )
    return _server().run(list(args), dict(env), str(cwd), stdin or "", timeout, argv)


class _ForkServer:
    """Client side: one server process, one connection per call (calls may overlap, e.g. from threads)."""

    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="clawops-fork-")
        self.path = os.path.join(self._dir, "server.sock")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, self.path],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline()
        if ready.strip() != b"ready":
            raise RuntimeError(f"the CLI fork server did not start (said {ready!r})")
        atexit.register(self.close)

    def run(
        self, args: list[str], env: dict[str, str], cwd: str, stdin: str, timeout: float, argv: list[str]
    ) -> subprocess.CompletedProcess[str]:
        with tempfile.TemporaryDirectory(prefix="clawops-call-") as tmp:
            files = {name: os.path.join(tmp, name) for name in ("stdin", "stdout", "stderr")}
            Path(files["stdin"]).write_text(stdin, encoding="utf-8")
            request = json.dumps({"args": args, "env": env, "cwd": cwd, **files}).encode()
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.connect(self.path)
                conn.sendall(struct.pack("!I", len(request)) + request)
                conn.settimeout(timeout)
                pid = struct.unpack("!i", _read_exactly(conn, 4))[0]
                try:
                    status = _read_exactly(conn, 4)
                except TimeoutError:
                    _kill_group(pid)
                    raise subprocess.TimeoutExpired(
                        argv, timeout, _read(files["stdout"]), _read(files["stderr"])
                    ) from None
                code = struct.unpack("!i", status)[0] if status else -1
            return subprocess.CompletedProcess(argv, code, _read(files["stdout"]), _read(files["stderr"]))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        try:
            os.unlink(self.path)
            os.rmdir(self._dir)
        except OSError:
            pass


_lock = threading.Lock()
_instance: _ForkServer | None = None


def _server() -> _ForkServer:
    global _instance
    with _lock:
        if _instance is None or _instance.proc.poll() is not None:
            _instance = _ForkServer()
        return _instance


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    """``size`` bytes, or b"" when the peer closed first (a child killed by a signal closes without a status)."""
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return b""
        data += chunk
    return data


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# ---------------------------------------------------------------------------------------------- the server side


def _serve(path: str) -> None:
    import importlib

    sys.path[0] = str(ROOT)  # as under ``python -m``: the project, not tests/, comes first
    for name in _PRELOAD:
        importlib.import_module(name)
    # The offline brain's word list is built on first use, not at import: build it once here, not in every child.
    from engine.brain._offline import _lexicon

    _lexicon()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel; their status goes by socket
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    listener.settimeout(1.0)
    parent = os.getppid()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            if os.getppid() != parent:  # the test process is gone (killed): do not outlive it
                return
            continue
        conn.settimeout(None)
        size = struct.unpack("!I", _read_exactly(conn, 4))[0]
        request = json.loads(_read_exactly(conn, size))
        pid = os.fork()
        if pid == 0:
            listener.close()
            _child(conn, request)  # never returns
        conn.close()


def _child(conn: socket.socket, request: dict[str, object]) -> None:
    code = 70
    try:
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        conn.sendall(struct.pack("!i", os.getpid()))
        os.chdir(str(request["cwd"]))
        env = request["env"]
        assert isinstance(env, dict)
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in env.items()})
        time.tzset()  # a fresh interpreter reads TZ at start-up
        for fd, name, mode in (
            (0, "stdin", os.O_RDONLY),
            (1, "stdout", os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
            (2, "stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        ):
            opened = os.open(str(request[name]), mode, 0o600)
            os.dup2(opened, fd)
            os.close(opened)
        args = request["args"]
        assert isinstance(args, list)
        sys.argv = ["clawops", *(str(a) for a in args)]
        from app.cli import main

        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
        except BaseException:  # the same as an uncaught exception in a fresh interpreter: traceback, exit 1
            import traceback

            traceback.print_exc()
            code = 1
    finally:
        try:
            atexit._run_exitfuncs()  # what a fresh interpreter does at exit (logging flushes its handlers)
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass
        try:
            conn.sendall(struct.pack("!i", code))
        finally:
            os._exit(code)


if __name__ == "__main__":
    _serve(sys.argv[1])
