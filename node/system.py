"""System access for clawnode, behind one small interface so it can be swapped.

:class:`ProcSystem` reads the real machine (``/proc``, ``statvfs``, the docker socket or CLI, systemd)
with *fixed* argv lists only — there is no code path that runs a string through a shell.
:class:`SimulatedSystem` supplies readings for tests, the provider emulators and the demo, with fault
knobs (full disk, dead gateway process, missing docker, flapping network, failing config apply), so a
simulated VPS is ACTIVE or DEGRADED for the same reasons a real one is.  Thousands of them can share
one process because they hold a few numbers and no OS resources.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import shutil
import tarfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = [
    "CommandOutput",
    "ContainerInfo",
    "DockerUnavailable",
    "ProcSystem",
    "SimulatedSystem",
    "System",
    "run_argv",
]


class DockerUnavailable(Exception):
    """Docker is not installed or not reachable; the message says which (a reportable fact)."""


@dataclass(frozen=True, slots=True)
class CommandOutput:
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    name: str
    state: str
    status: str
    image: str = ""


GATEWAY_PROCESS_NAMES: tuple[str, ...] = ("openclaw-gateway",)
"""What a running OpenClaw gateway calls itself: 2026.9 renames its process (``/proc/<pid>/comm`` and
``cmdline``) from ``node openclaw.mjs gateway run`` to ``openclaw-gateway``."""


def is_gateway_cmdline(cmdline: bytes, comm: bytes, process_hint: str = "openclaw") -> bool:
    """Whether one process (its raw NUL-separated ``cmdline`` and ``comm``) is an OpenClaw gateway.

    Knows the renamed process (``openclaw-gateway``, also as the first word of a rewritten cmdline),
    and the launch forms ``openclaw gateway run`` / ``node …/openclaw.mjs gateway`` (``process_hint``
    is the configured binary name).  A container's processes are the host's too, so a gateway in
    docker is found the same way when clawnode runs on the host.
    """
    names = {n.encode() for n in GATEWAY_PROCESS_NAMES}
    if comm.strip() and any(n[:15] == comm.strip() for n in names):  # comm is cut at 15 characters
        return True
    args = [a for a in cmdline.split(b"\0") if a]
    if not args:
        return False
    first = args[0].split(b" ")[0].rsplit(b"/", 1)[-1]
    if first in names:
        return True
    hint = process_hint.encode()
    return any(hint in a for a in args[:3]) and any(a == b"gateway" for a in args[1:5])


def is_gateway_container(container: ContainerInfo) -> bool:
    """A running container of the OpenClaw image (or named for it) counts as the gateway."""
    return container.state == "running" and (
        "openclaw" in container.image.lower() or "openclaw" in container.name.lower()
    )


class System(Protocol):
    """What the collectors and commands need from the host."""

    def read_proc(self, name: str) -> str:
        """Text of ``/proc/<name>`` (``stat``, ``meminfo``, ``loadavg``, ``uptime``); raises OSError."""
        ...

    def disk_usage(self, path: str) -> tuple[int, int]:
        """``(total_bytes, free_bytes)`` of the filesystem holding ``path``; raises OSError."""
        ...

    async def docker_containers(self) -> list[ContainerInfo]:
        """All containers; raises :class:`DockerUnavailable` when docker is absent or down."""
        ...

    def gateway_pid(self) -> int | None:
        """PID of the OpenClaw gateway process, or None when it is not running."""
        ...

    async def ws_probe(self, url: str, timeout: float) -> float:
        """Open a WebSocket to ``url`` and wait for its first frame; latency in ms; raises OSError."""
        ...

    async def logs_tail(self, lines: int) -> list[str]:
        """The last ``lines`` lines of the gateway's log."""
        ...

    async def restart_gateway(self) -> CommandOutput: ...

    async def restart_docker(self) -> CommandOutput: ...

    def read_config(self) -> str | None:
        """Current OpenClaw config text, or None when there is none yet."""
        ...

    def write_config(self, text: str) -> None: ...

    def read_previous_config(self) -> str | None:
        """The config text the last :meth:`write_config` replaced (the rollback copy), or None."""
        ...

    def remove_config(self) -> None:
        """Delete the config file (undoes a first apply, when there was no config before)."""
        ...

    def archive_chunks(self, chunk_size: int) -> AsyncIterator[bytes]:
        """The account's data as a gzip'd tar, in chunks (for teardown export)."""
        ...

    def network_available(self) -> bool:
        """False while the (simulated) network is down; real hosts always say True."""
        ...


async def run_argv(argv: Sequence[str], timeout: float) -> CommandOutput:
    """Run a fixed argv (never a shell string) with a timeout; kills the process on timeout."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL
        )
    except FileNotFoundError:
        return CommandOutput(127, "", f"{argv[0]}: not found")
    except OSError as exc:
        return CommandOutput(126, "", f"{argv[0]}: {exc.strerror or exc}")
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        _kill(proc)
        return CommandOutput(-9, "", f"{argv[0]}: timed out after {timeout:g} s", timed_out=True)
    except asyncio.CancelledError:
        _kill(proc)  # node.invoke.cancel: the child must not outlive the invoke
        raise
    return CommandOutput(
        proc.returncode if proc.returncode is not None else -1,
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
    )


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


@dataclass
class ProcSystem:
    """The real host.  Paths and unit names come from the node config."""

    gateway_service: str = "openclaw-gateway"
    gateway_process: str = "openclaw"
    config_path: str = "/root/.openclaw/openclaw.json"
    data_dir: str = "/root/.openclaw"
    log_path: str | None = None
    docker_socket: str = "/var/run/docker.sock"
    proc_root: str = "/proc"

    def read_proc(self, name: str) -> str:
        return Path(self.proc_root, name).read_text(encoding="utf-8", errors="replace")

    def disk_usage(self, path: str) -> tuple[int, int]:
        st = os.statvfs(path)
        return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize

    async def docker_containers(self) -> list[ContainerInfo]:
        if os.path.exists(self.docker_socket):
            try:
                return await asyncio.wait_for(self._docker_via_socket(), 5)
            except (TimeoutError, OSError, ValueError):
                pass  # fall through to the CLI, which gives a clearer error
        if shutil.which("docker") is None:
            raise DockerUnavailable("docker is not installed")
        out = await run_argv(["docker", "ps", "-a", "--format", "{{json .}}"], 10)
        if not out.ok:
            raise DockerUnavailable(f"docker is not responding: {(out.stderr or out.stdout).strip()[:200]}")
        result = []
        for line in out.stdout.splitlines():
            with contextlib.suppress(ValueError):
                row = json.loads(line)
                result.append(
                    ContainerInfo(
                        str(row.get("Names", "")),
                        str(row.get("State", "")),
                        str(row.get("Status", "")),
                        str(row.get("Image", "")),
                    )
                )
        return result

    async def _docker_via_socket(self) -> list[ContainerInfo]:
        reader, writer = await asyncio.open_unix_connection(self.docker_socket)
        try:
            writer.write(b"GET /containers/json?all=1 HTTP/1.0\r\nHost: docker\r\n\r\n")
            await writer.drain()
            raw = await reader.read(8 * 1024 * 1024)
        finally:
            writer.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            raise ValueError("docker API error")
        rows = json.loads(body)
        return [
            ContainerInfo(
                ",".join(n.lstrip("/") for n in r.get("Names", [])),
                str(r.get("State", "")),
                str(r.get("Status", "")),
                str(r.get("Image", "")),
            )
            for r in rows
        ]

    def gateway_pid(self) -> int | None:
        try:
            entries = os.listdir(self.proc_root)
        except OSError:
            return None
        for entry in entries:
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                cmdline = Path(self.proc_root, entry, "cmdline").read_bytes()
            except OSError:
                continue
            try:
                comm = Path(self.proc_root, entry, "comm").read_bytes()
            except OSError:
                comm = b""
            if is_gateway_cmdline(cmdline, comm, self.gateway_process):
                return int(entry)
        return None

    def gateway_container_of(self, pid: int) -> str | None:
        """The container id (12 hex) a process runs in, from its cgroup path (docker, containerd, podman)."""
        try:
            text = Path(self.proc_root, str(pid), "cgroup").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        for part in text.replace("/", " ").replace(":", " ").replace("-", " ").replace(".", " ").split():
            if len(part) == 64 and all(c in "0123456789abcdef" for c in part):
                return part[:12]
        return None

    async def ws_probe(self, url: str, timeout: float) -> float:
        from websockets.asyncio.client import connect

        start = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                async with connect(url, open_timeout=timeout, compression=None, ping_interval=None) as ws:
                    await ws.recv()
        except (TimeoutError, OSError) as exc:
            raise OSError(f"websocket probe to {url} failed: {exc}") from exc
        except Exception as exc:  # websockets' handshake errors are not OSErrors
            raise OSError(f"websocket probe to {url} failed: {exc}") from exc
        return (time.perf_counter() - start) * 1000

    async def logs_tail(self, lines: int) -> list[str]:
        if self.log_path:
            try:
                with open(self.log_path, "rb") as fh:
                    fh.seek(0, os.SEEK_END)
                    size = fh.tell()
                    fh.seek(max(0, size - 256 * 1024))
                    text = fh.read().decode("utf-8", "replace")
                return text.splitlines()[-lines:]
            except OSError as exc:
                return [f"(log unreadable: {exc.strerror or exc})"]
        out = await run_argv(
            ["journalctl", "-u", self.gateway_service, "-n", str(int(lines)), "--no-pager", "-o", "cat"], 10
        )
        return (out.stdout or out.stderr).splitlines()[-lines:]

    async def restart_gateway(self) -> CommandOutput:
        return await run_argv(["systemctl", "restart", self.gateway_service], 60)

    async def restart_docker(self) -> CommandOutput:
        return await run_argv(["systemctl", "restart", "docker"], 120)

    def read_config(self) -> str | None:
        try:
            return Path(self.config_path).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def read_previous_config(self) -> str | None:
        try:
            return Path(self.config_path + ".prev").read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def write_config(self, text: str) -> None:
        """Atomic replace; the file it replaces is kept as ``<config>.prev`` (the rollback copy on disk).

        The new file gets the owner of the file it replaces (else of its folder): the gateway usually
        runs as another user (the container's ``node``), and a root-owned 0600 config would lock it out.
        """
        path = Path(self.config_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        prev = path.with_name(path.name + ".prev")
        if path.exists():
            shutil.copy2(path, prev)
        else:  # nothing is replaced: an older rollback copy would be a lie about "the previous config"
            with contextlib.suppress(FileNotFoundError):
                prev.unlink()
        owner = (path if path.exists() else path.parent).stat()
        tmp = path.with_name(path.name + ".clawnode-tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
            if (owner.st_uid, owner.st_gid) != (os.geteuid(), os.getegid()):
                with contextlib.suppress(PermissionError):  # not root: the file stays ours, as before
                    os.fchown(fh.fileno(), owner.st_uid, owner.st_gid)
        os.replace(tmp, path)

    def remove_config(self) -> None:
        """Delete the config (the state before the first apply: the gateway runs on its defaults)."""
        with contextlib.suppress(FileNotFoundError):
            Path(self.config_path).unlink()

    async def archive_chunks(self, chunk_size: int) -> AsyncIterator[bytes]:
        buf = io.BytesIO()

        def build() -> None:
            with tarfile.open(fileobj=buf, mode="w:gz") as tar:
                if os.path.isdir(self.data_dir):
                    tar.add(self.data_dir, arcname=os.path.basename(self.data_dir.rstrip("/")) or "data")

        await asyncio.to_thread(build)
        data = buf.getvalue()
        for i in range(0, len(data), chunk_size):
            yield data[i : i + chunk_size]

    def network_available(self) -> bool:
        return True


@dataclass
class SimulatedSystem:
    """Readings for a simulated VPS, driven by fault knobs the emulators and tests flip at will.

    ``restart_gateway()`` revives a dead gateway and ``restart_docker()`` a stopped docker, so a heal
    step taken by the Guardian has the same visible effect on a simulated node as on a real one.
    """

    hostname: str = "sim-node"
    cpu_busy_percent: float = 7.0
    mem_total_bytes: int = 4 * 1024**3
    mem_used_bytes: int = 1024**3
    disk_total_bytes: int = 80 * 1024**3
    disk_used_bytes: int = 12 * 1024**3
    disk_full: bool = False
    gateway_dead: bool = False
    docker_missing: bool = False
    docker_stopped: bool = False
    containers: int = 2
    network_flap_period_s: float | None = None
    network_down: bool = False
    config_apply_breaks_gateway: bool = False
    ws_latency_ms: float = 3.0
    boot_time: float = field(default_factory=time.time)
    config_text: str | None = None
    previous_config: str | None = None
    archive_bytes: int = 48 * 1024
    gateway_restarts: int = 0
    docker_restarts: int = 0
    _ticks: int = 0
    _gateway_config_broken: bool = False
    _baseline_config: str | None = None

    def __post_init__(self) -> None:
        self._baseline_config = self.config_text

    def trust_current_config(self) -> None:
        """The config now in place is one the gateway runs with (``config_apply_breaks_gateway`` spares it)."""
        self._baseline_config = self.config_text

    def read_proc(self, name: str) -> str:
        if name == "stat":
            # Cumulative jiffies grow by 100 per read so two reads give cpu_busy_percent.
            self._ticks += 1
            busy = int(self.cpu_busy_percent * self._ticks)
            idle = int((100 - self.cpu_busy_percent) * self._ticks)
            return f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\n"
        if name == "meminfo":
            total_kb = self.mem_total_bytes // 1024
            avail_kb = (self.mem_total_bytes - self.mem_used_bytes) // 1024
            return f"MemTotal: {total_kb} kB\nMemFree: {avail_kb} kB\nMemAvailable: {avail_kb} kB\n"
        if name == "loadavg":
            load = self.cpu_busy_percent / 50
            return f"{load:.2f} {load:.2f} {load:.2f} 1/100 4242\n"
        if name == "uptime":
            up = max(0.0, time.time() - self.boot_time)
            return f"{up:.2f} {up * 1.8:.2f}\n"
        raise FileNotFoundError(name)

    def disk_usage(self, path: str) -> tuple[int, int]:
        if self.disk_full:
            return self.disk_total_bytes, 0
        return self.disk_total_bytes, self.disk_total_bytes - self.disk_used_bytes

    async def docker_containers(self) -> list[ContainerInfo]:
        if self.docker_missing:
            raise DockerUnavailable("docker is not installed")
        if self.docker_stopped:
            raise DockerUnavailable("docker is not responding: cannot connect to the docker daemon")
        # The first container is the user's OpenClaw gateway: it exits when the gateway dies, as a real one does.
        up = self._gateway_up()
        gateway = ContainerInfo(
            "openclaw-gateway",
            "running" if up else "exited",
            "Up 3 hours" if up else "Exited (1) 2 minutes ago",
            "ghcr.io/openclaw/openclaw:2026.9.6",
        )
        others = [
            ContainerInfo(f"sidecar-{i}", "running", "Up 3 hours", "busybox:1") for i in range(1, self.containers)
        ]
        return [gateway, *others][: self.containers]

    def _gateway_up(self) -> bool:
        return not self.gateway_dead and not self._gateway_config_broken

    def gateway_pid(self) -> int | None:
        return 4242 if self._gateway_up() else None

    async def ws_probe(self, url: str, timeout: float) -> float:
        if not self._gateway_up() or not self.network_available():
            raise OSError(f"websocket probe to {url} failed: connection refused")
        return self.ws_latency_ms

    async def logs_tail(self, lines: int) -> list[str]:
        state = "ready" if self._gateway_up() else "exited with code 1"
        return [f"[sim {self.hostname}] gateway {state}"][-lines:]

    async def restart_gateway(self) -> CommandOutput:
        self.gateway_restarts += 1
        self.gateway_dead = False
        # With the knob set, any config other than the one the VPS booted with keeps the gateway down.
        self._gateway_config_broken = self.config_apply_breaks_gateway and self.config_text != self._baseline_config
        return CommandOutput(0, "", "")

    async def restart_docker(self) -> CommandOutput:
        if self.docker_missing:
            return CommandOutput(5, "", "Failed to restart docker.service: Unit docker.service not found.")
        self.docker_restarts += 1
        self.docker_stopped = False
        return CommandOutput(0, "", "")

    def read_config(self) -> str | None:
        return self.config_text

    def read_previous_config(self) -> str | None:
        return self.previous_config

    def write_config(self, text: str) -> None:
        self.previous_config = self.config_text
        self.config_text = text

    def remove_config(self) -> None:
        self.config_text = None

    async def archive_chunks(self, chunk_size: int) -> AsyncIterator[bytes]:
        seed = hashlib.sha256(self.hostname.encode()).digest()
        remaining = self.archive_bytes
        while remaining > 0:
            n = min(chunk_size, remaining)
            yield (seed * (n // len(seed) + 1))[:n]
            remaining -= n
            await asyncio.sleep(0)

    def network_available(self) -> bool:
        if self.network_down:
            return False
        if self.network_flap_period_s:
            # Down for the second half of every period: deterministic, shared clock, no timers.
            return (time.monotonic() % self.network_flap_period_s) < self.network_flap_period_s / 2
        return True
