"""The fixed command allowlist clawnode serves, and the runner that executes invokes safely.

Safety model: the node declares exactly these commands at connect and refuses anything else *on the
node*, whatever the gateway forwards — there is no generic "run this" command and no shell anywhere.
Each command has its own timeout (capped further by the invoke's ``timeoutMs``), commands run
concurrently (mutating ones one at a time, so a config apply never races a restart), a cancel kills
the task (and any child process), and a repeated idempotency key returns the first outcome instead of
restarting a service twice.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import secrets
import tempfile
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.health import HealthCollector
from node.protocol import MAX_PROGRESS_CHUNK_BYTES, ErrorCode, ErrorShape, InvokeRequest
from node.system import DockerUnavailable, System

__all__ = ["COMMANDS", "CommandRunner", "CommandSpec", "InvokeOutcome", "ProgressSink"]

ProgressSink = Callable[[str], Awaitable[None]]
"""Sends one ``node.invoke.progress`` chunk (≤ 16 KiB UTF-8) for the running invoke."""

_CONFIG_MAX_BYTES = 1024 * 1024
ARCHIVE_PIECE_BYTES = 4 * 1024 * 1024
"""Default piece of an archive read: 5.6 MB of base64, well inside a gateway's 25 MiB ``maxPayload``
even where the gateway repeats the result as ``payload`` and ``payloadJSON``."""
ARCHIVE_PIECE_MAX_BYTES = 8 * 1024 * 1024
ARCHIVE_KEEP_S = 1800.0
"""A built archive nobody finished reading is deleted after this long."""
_DIAGNOSE_CHECKS = ("disk", "memory", "docker", "gateway", "logs", "ws_probe")


class CommandFailed(Exception):
    """A command ran and failed; ``code`` becomes the invoke result's error code."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.details = details or {}


@dataclass(frozen=True, slots=True)
class InvokeOutcome:
    """The terminal answer of one invoke (``node.invoke.result``)."""

    ok: bool
    payload: Any = None
    error: ErrorShape | None = None


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    tool_name: str
    description: str
    parameters: dict[str, Any]
    timeout_s: float
    mutating: bool


_NO_PARAMS: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}

COMMANDS: dict[str, CommandSpec] = {
    spec.name: spec
    for spec in (
        CommandSpec(
            "clawops.health",
            "clawops_health",
            "Full health report of this VPS (CPU, memory, disk, "
            "load, docker, OpenClaw gateway process and WebSocket latency).",
            _NO_PARAMS,
            20,
            False,
        ),
        CommandSpec(
            "clawops.diagnose",
            "clawops_diagnose",
            "Read-only diagnostics: disk, memory, docker ps, gateway process, recent gateway log lines, "
            "outbound WebSocket probe.",
            {
                "type": "object",
                "properties": {
                    "checks": {"type": "array", "items": {"enum": list(_DIAGNOSE_CHECKS)}},
                    "log_lines": {"type": "integer", "minimum": 1, "maximum": 500},
                },
                "additionalProperties": False,
            },
            60,
            False,
        ),
        CommandSpec(
            "clawops.restart_gateway",
            "clawops_restart_gateway",
            "Restart the OpenClaw gateway service.",
            _NO_PARAMS,
            90,
            True,
        ),
        CommandSpec(
            "clawops.restart_docker", "clawops_restart_docker", "Restart the docker service.", _NO_PARAMS, 150, True
        ),
        CommandSpec(
            "clawops.config_apply",
            "clawops_config_apply",
            "Validate and apply an OpenClaw gateway config; keeps the previous version and rolls back if the "
            "gateway does not come back.  With rollback=true, restores the previous version instead.",
            {
                "type": "object",
                "properties": {
                    "config": {"type": "object"},
                    "validate_only": {"type": "boolean"},
                    "rollback": {"type": "boolean"},
                },
                "additionalProperties": False,
            },
            120,
            True,
        ),
        CommandSpec(
            "clawops.archive",
            "clawops_archive",
            "Export this account's data (tar.gz) before teardown: the first call builds the archive and returns "
            "its id, size and sha256; later calls with archive_id, offset and length read it in base64 pieces "
            "(bounded results any gateway carries); done=true deletes the node's copy.",
            {
                "type": "object",
                "properties": {
                    "account_id": {"type": "string"},
                    "archive_id": {"type": "string"},
                    "offset": {"type": "integer", "minimum": 0},
                    "length": {"type": "integer", "minimum": 1, "maximum": ARCHIVE_PIECE_MAX_BYTES},
                    "done": {"type": "boolean"},
                },
                "required": ["account_id"],
                "additionalProperties": False,
            },
            900,
            True,
        ),
    )
}


_PLUGIN_TOOLS: list[dict[str, Any]] = [
    {
        "pluginId": "clawops",
        "name": s.tool_name,
        "description": s.description,
        "parameters": s.parameters,
        "command": s.name,
    }
    for s in COMMANDS.values()
]
"""Built once: every node publishes the same descriptors after every (re)connect."""


def _params_object(params: Any, allowed: set[str]) -> dict[str, Any]:
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise CommandFailed(ErrorCode.INVALID_REQUEST, "command params must be an object")
    extra = sorted(set(params) - allowed)
    if extra:
        raise CommandFailed(ErrorCode.INVALID_REQUEST, f"unknown param(s): {', '.join(extra)}")
    return params


class CommandRunner:
    """Executes allowlisted commands for one node."""

    def __init__(
        self,
        system: System,
        collector: HealthCollector,
        *,
        account_id: str | None,
        settle_s: float = 3.0,
        timeouts: dict[str, float] | None = None,
        dedupe_ttl_s: float = 600.0,
        dedupe_max: int = 512,
        spool_dir: str | None = None,
    ) -> None:
        self.system = system
        self.collector = collector
        self.account_id = account_id
        self.settle_s = settle_s
        self.timeouts = {name: spec.timeout_s for name, spec in COMMANDS.items()} | (timeouts or {})
        self._mutating = asyncio.Lock()
        self._running: dict[str, asyncio.Task[InvokeOutcome]] = {}
        self._by_key: OrderedDict[str, tuple[float, asyncio.Task[InvokeOutcome]]] = OrderedDict()
        self._dedupe_ttl_s = dedupe_ttl_s
        self._dedupe_max = dedupe_max
        self.executions: dict[str, int] = {}
        """How often each command body actually ran (dedupe hits are not counted)."""
        self.spool_dir = Path(spool_dir or Path(tempfile.gettempdir(), "clawnode-archives"))
        self._archives: dict[str, tuple[Path, float]] = {}
        """Built archives waiting to be read: id -> (file, built at, monotonic)."""

    @staticmethod
    def command_names() -> list[str]:
        return list(COMMANDS)

    @staticmethod
    def plugin_tools() -> list[dict[str, Any]]:
        """``node.pluginTools.update`` descriptors: every command as an agent-visible tool."""
        return _PLUGIN_TOOLS

    def cancel(self, invoke_id: str) -> bool:
        task = self._running.get(invoke_id)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    async def execute(self, request: InvokeRequest, progress: ProgressSink) -> InvokeOutcome:
        """Run one invoke to its terminal outcome; never raises (except for the caller's own cancel)."""
        spec = COMMANDS.get(request.command)
        if spec is None:
            return InvokeOutcome(
                False,
                error=ErrorShape(
                    ErrorCode.COMMAND_NOT_ALLOWED, f"command {request.command!r} is not on this node's allowlist"
                ),
            )
        key = request.idempotency_key
        now = time.monotonic()
        self._expire_keys(now)
        if key is not None and key in self._by_key:
            _, first = self._by_key[key]
            self._running.setdefault(request.id, first)
            try:
                return await asyncio.shield(first)
            except asyncio.CancelledError:
                if first.cancelled():
                    return InvokeOutcome(False, error=ErrorShape(ErrorCode.CANCELLED, "invoke was cancelled"))
                raise
            finally:
                self._running.pop(request.id, None)
        timeout = self.timeouts[spec.name]
        if request.timeout_ms is not None:
            timeout = min(timeout, request.timeout_ms / 1000)
        task = asyncio.create_task(self._run(spec, request.params, timeout, progress))
        self._running[request.id] = task
        if key is not None:
            self._by_key[key] = (now, task)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                return InvokeOutcome(False, error=ErrorShape(ErrorCode.CANCELLED, "invoke was cancelled"))
            task.cancel()
            raise
        finally:
            self._running.pop(request.id, None)

    def _expire_keys(self, now: float) -> None:
        while self._by_key:
            key, (ts, task) = next(iter(self._by_key.items()))
            if (now - ts > self._dedupe_ttl_s and task.done()) or len(self._by_key) > self._dedupe_max:
                self._by_key.popitem(last=False)
            else:
                break

    async def _run(self, spec: CommandSpec, params: Any, timeout: float, progress: ProgressSink) -> InvokeOutcome:
        self.executions[spec.name] = self.executions.get(spec.name, 0) + 1
        handler = getattr(self, "_cmd_" + spec.name.removeprefix("clawops."))
        try:
            async with asyncio.timeout(timeout):
                if spec.mutating and not _is_archive_read(spec.name, params):
                    async with self._mutating:
                        payload = await handler(params, progress)
                else:
                    payload = await handler(params, progress)
        except TimeoutError:
            return InvokeOutcome(
                False,
                error=ErrorShape(ErrorCode.TIMEOUT, f"{spec.name} did not finish within {timeout:g} s", retryable=True),
            )
        except CommandFailed as exc:
            return InvokeOutcome(False, error=ErrorShape(exc.code, str(exc), exc.details))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or an OS surprise must not kill the node's receive loop
            return InvokeOutcome(False, error=ErrorShape(ErrorCode.COMMAND_FAILED, f"{type(exc).__name__}: {exc}"))
        return InvokeOutcome(True, payload=payload)

    # --- command bodies --------------------------------------------------------------------------------

    async def _cmd_health(self, params: Any, progress: ProgressSink) -> Any:
        _params_object(params, set())
        return (await self.collector.collect()).to_payload()

    async def _cmd_diagnose(self, params: Any, progress: ProgressSink) -> Any:
        p = _params_object(params, {"checks", "log_lines"})
        checks = p.get("checks", list(_DIAGNOSE_CHECKS))
        if not isinstance(checks, list) or any(c not in _DIAGNOSE_CHECKS for c in checks):
            raise CommandFailed(ErrorCode.INVALID_REQUEST, f"checks must be a subset of {list(_DIAGNOSE_CHECKS)}")
        log_lines = p.get("log_lines", 50)
        if isinstance(log_lines, bool) or not isinstance(log_lines, int) or not 1 <= log_lines <= 500:
            raise CommandFailed(ErrorCode.INVALID_REQUEST, "log_lines must be an integer from 1 to 500")
        results: dict[str, Any] = {}
        for check in checks:
            try:
                results[check] = await self._diagnose_one(check, log_lines)
            except Exception as exc:
                results[check] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
            await progress(json.dumps({"check": check, "result": results[check]})[: MAX_PROGRESS_CHUNK_BYTES // 4])
        return {"ok": all(r.get("ok") for r in results.values()), "checks": results}

    async def _diagnose_one(self, check: str, log_lines: int) -> dict[str, Any]:
        sys = self.system
        if check == "disk":
            total, free = sys.disk_usage("/")
            used = 100 * (1 - free / total) if total else 100.0
            return {"ok": used < 90, "total_bytes": total, "free_bytes": free, "used_percent": round(used, 1)}
        if check == "memory":
            report = await self.collector.collect()
            pct = report.mem_used_percent
            return {
                "ok": pct is not None and pct < 95,
                "total_bytes": report.mem_total_bytes,
                "available_bytes": report.mem_available_bytes,
            }
        if check == "docker":
            try:
                containers = await sys.docker_containers()
            except DockerUnavailable as exc:
                return {"ok": False, "available": False, "error": str(exc)}
            return {
                "ok": True,
                "available": True,
                "containers": [{"name": c.name, "state": c.state, "status": c.status} for c in containers[:100]],
            }
        if check == "gateway":
            pid = sys.gateway_pid()
            return {"ok": pid is not None, "running": pid is not None, "pid": pid}
        if check == "logs":
            return {"ok": True, "lines": [line[:500] for line in await sys.logs_tail(log_lines)]}
        # ws_probe
        url = self.collector.probe_url
        if not url:
            return {"ok": False, "error": "no probe URL configured"}
        latency = await sys.ws_probe(url, 5)
        return {"ok": True, "latency_ms": round(latency, 2), "url": url}

    async def _restart(self, what: str, fn: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
        out = await fn()
        if not out.ok:
            raise CommandFailed(
                ErrorCode.COMMAND_FAILED,
                f"restart of {what} failed: {(out.stderr or out.stdout)[:300]}",
                {"exitCode": out.exit_code, "timedOut": out.timed_out},
            )
        return {"restarted": what, "exitCode": out.exit_code}

    async def _cmd_restart_gateway(self, params: Any, progress: ProgressSink) -> Any:
        _params_object(params, set())
        result = await self._restart("gateway", self.system.restart_gateway)
        if self.settle_s:
            await asyncio.sleep(self.settle_s)
        result["pid"] = self.system.gateway_pid()
        result["running"] = result["pid"] is not None
        return result

    async def _cmd_restart_docker(self, params: Any, progress: ProgressSink) -> Any:
        _params_object(params, set())
        return await self._restart("docker", self.system.restart_docker)

    async def _cmd_config_apply(self, params: Any, progress: ProgressSink) -> Any:
        p = _params_object(params, {"config", "validate_only", "rollback"})
        if p.get("rollback") is True:
            return await self._config_rollback(progress)
        config = p.get("config")
        if not isinstance(config, dict):
            raise CommandFailed(ErrorCode.INVALID_REQUEST, "config must be a JSON object")
        try:
            text = json.dumps(config, indent=2, sort_keys=True, allow_nan=False) + "\n"
        except (TypeError, ValueError) as exc:
            raise CommandFailed(ErrorCode.INVALID_REQUEST, f"config is not plain JSON: {exc}") from exc
        if len(text.encode()) > _CONFIG_MAX_BYTES:
            raise CommandFailed(ErrorCode.INVALID_REQUEST, "config is larger than 1 MiB")
        new_hash = hashlib.sha256(text.encode()).hexdigest()
        previous = self.system.read_config()
        prev_hash = hashlib.sha256(previous.encode()).hexdigest() if previous is not None else None
        if p.get("validate_only"):
            return {"valid": True, "applied": False, "sha256": new_hash}
        if previous == text:
            return {"valid": True, "applied": False, "unchanged": True, "sha256": new_hash}
        self.system.write_config(text)
        await progress("config written; restarting gateway")
        out = await self.system.restart_gateway()
        if self.settle_s:
            await asyncio.sleep(self.settle_s)
        if out.ok and self.system.gateway_pid() is not None:
            return {"valid": True, "applied": True, "sha256": new_hash, "previousSha256": prev_hash}
        if previous is not None:
            await progress("gateway did not come back; restoring the previous config")
            self.system.write_config(previous)
        else:
            await progress("gateway did not come back; removing the new config (there was none before)")
            self.system.remove_config()
        await self.system.restart_gateway()
        if self.settle_s:
            await asyncio.sleep(self.settle_s)
        running = self.system.gateway_pid() is not None
        state = "the gateway is running again" if running else "the gateway is still not running"
        if previous is not None:
            raise CommandFailed(
                "CONFIG_ROLLED_BACK",
                f"the gateway did not come back with the new config; the previous config was restored and {state}",
                {"restoredSha256": prev_hash, "gatewayRunning": running, "rejectedSha256": new_hash},
            )
        raise CommandFailed(
            "CONFIG_REMOVED",
            "the gateway did not come back with the new config; there was no previous config to roll back to, so "
            f"the new one was removed (the gateway runs on its defaults) and {state}",
            {"restoredSha256": None, "gatewayRunning": running, "rejectedSha256": new_hash},
        )

    async def _config_rollback(self, progress: ProgressSink) -> dict[str, Any]:
        """Put the previous config back (a halted rollout undoes its batches this way) and restart the gateway."""
        previous = self.system.read_previous_config()
        if previous is None:
            raise CommandFailed(ErrorCode.INVALID_REQUEST, "there is no previous config to roll back to")
        current = self.system.read_config()
        if current == previous:
            return {"rolledBack": False, "unchanged": True, "sha256": hashlib.sha256(previous.encode()).hexdigest()}
        self.system.write_config(previous)
        await progress("previous config restored; restarting gateway")
        out = await self.system.restart_gateway()
        if self.settle_s:
            await asyncio.sleep(self.settle_s)
        running = out.ok and self.system.gateway_pid() is not None
        if not running:
            raise CommandFailed(
                ErrorCode.COMMAND_FAILED,
                "the previous config was restored but the gateway is not running",
                {"gatewayRunning": False, "rolledBack": True},
            )
        return {
            "rolledBack": True,
            "sha256": hashlib.sha256(previous.encode()).hexdigest(),
            "replacedSha256": hashlib.sha256(current.encode()).hexdigest() if current is not None else None,
        }

    async def _cmd_archive(self, params: Any, progress: ProgressSink) -> Any:
        p = _params_object(params, {"account_id", "archive_id", "offset", "length", "done"})
        if self.account_id is None or p.get("account_id") != self.account_id:
            raise CommandFailed(ErrorCode.FORBIDDEN, "account_id does not match the account this node serves")
        self._expire_archives()
        archive_id = p.get("archive_id")
        if archive_id is None:
            if any(k in p for k in ("offset", "length", "done")):
                raise CommandFailed(
                    ErrorCode.INVALID_REQUEST, "offset, length and done need the archive_id the first call returned"
                )
            return await self._build_archive(progress)
        if not isinstance(archive_id, str) or archive_id not in self._archives:
            raise CommandFailed(
                ErrorCode.INVALID_REQUEST,
                "unknown or expired archive_id; start the export again (call clawops.archive with only account_id)",
            )
        path, _built = self._archives[archive_id]
        if p.get("done") is True:
            self._archives.pop(archive_id, None)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return {"archiveId": archive_id, "deleted": True}
        offset, length = p.get("offset", 0), p.get("length", ARCHIVE_PIECE_BYTES)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise CommandFailed(ErrorCode.INVALID_REQUEST, "offset must be a byte position (an integer from 0)")
        if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= ARCHIVE_PIECE_MAX_BYTES:
            raise CommandFailed(
                ErrorCode.INVALID_REQUEST, f"length must be an integer from 1 to {ARCHIVE_PIECE_MAX_BYTES}"
            )
        data, total = _read_piece(path, offset, length)
        return {
            "archiveId": archive_id,
            "offset": offset,
            "bytes": len(data),
            "totalBytes": total,
            "eof": offset + len(data) >= total,
            "encoding": "base64",
            "data": base64.b64encode(data).decode("ascii"),
        }

    async def _build_archive(self, progress: ProgressSink) -> dict[str, Any]:
        """Write the export to a private spool file and describe it; the caller reads it in pieces."""
        self.spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        archive_id = secrets.token_hex(12)
        path = self.spool_dir / f"{archive_id}.tar.gz"
        digest = hashlib.sha256()
        size = 0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                async for data in self.system.archive_chunks(1024 * 1024):
                    digest.update(data)
                    size += len(data)
                    fh.write(data)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            raise
        self._archives[archive_id] = (path, time.monotonic())
        await progress(f"archive built: {size} bytes")
        return {
            "archiveId": archive_id,
            "format": "tar.gz",
            "bytes": size,
            "sha256": digest.hexdigest(),
            "pieceBytes": ARCHIVE_PIECE_BYTES,
            "pieces": -(-size // ARCHIVE_PIECE_BYTES),
        }

    def _expire_archives(self) -> None:
        now = time.monotonic()
        for archive_id, (path, built) in list(self._archives.items()):
            if now - built > ARCHIVE_KEEP_S:
                self._archives.pop(archive_id, None)
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def discard_archives(self) -> None:
        """Delete every spooled archive (the node is stopping)."""
        for path, _ in self._archives.values():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self._archives.clear()


def _is_archive_read(name: str, params: Any) -> bool:
    """A piece read of a built archive: it neither waits behind nor blocks a restart or a config apply."""
    return name == "clawops.archive" and isinstance(params, dict) and isinstance(params.get("archive_id"), str)


def _read_piece(path: Path, offset: int, length: int) -> tuple[bytes, int]:
    with open(path, "rb") as fh:
        total = os.fstat(fh.fileno()).st_size
        fh.seek(offset)
        return fh.read(length), total
