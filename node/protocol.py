"""Wire types of the OpenClaw gateway protocol, as spoken by clawnode and the engine's gateway.

This module is the single source of truth for frame shapes, constants, error/close codes, the signed
device-auth payload and the ClawOps health-report event.  Both sides import it (``engine.gateway``
imports from here, never the reverse) so the two ends cannot drift apart.

The rule from the reference is *send strictly, parse leniently*: the encoders below emit exactly the
documented fields, the parser accepts extra fields a real gateway adds but refuses anything whose
required fields are missing or of the wrong type, with a :class:`FrameError` instead of a crash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = [
    "CANCEL_EVENT",
    "CHALLENGE_EVENT",
    "CLIENT_ID",
    "CLIENT_MODE",
    "DEVICE_SIGNATURE_SKEW_MS",
    "HEALTH_EVENT",
    "HOST_STATS_EVENT",
    "INVOKE_REQUEST_EVENT",
    "MAX_PAYLOAD_BYTES",
    "MAX_PREAUTH_PAYLOAD_BYTES",
    "MAX_PROGRESS_CHUNK_BYTES",
    "MIN_NODE_PROTOCOL_VERSION",
    "PROTOCOL_VERSION",
    "TICK_INTERVAL_MS",
    "CancelFrame",
    "CloseCode",
    "DetailCode",
    "ErrorCode",
    "ErrorShape",
    "EventFrame",
    "Frame",
    "FrameError",
    "InvokeRequest",
    "NodeHealthReport",
    "RequestFrame",
    "ResponseFrame",
    "b64url_decode",
    "b64url_encode",
    "build_device_auth_payload",
    "device_id_from_public_key",
    "encode_frame",
    "normalize_metadata",
    "parse_frame",
]

PROTOCOL_VERSION: Final = 4
"""What the gateway speaks (``PROTOCOL_VERSION`` upstream)."""
MIN_NODE_PROTOCOL_VERSION: Final = 3
"""Nodes may run N-1 (``MIN_NODE_PROTOCOL_VERSION`` upstream)."""
MAX_PREAUTH_PAYLOAD_BYTES: Final = 64 * 1024
"""Frames before ``hello-ok`` are capped at 64 KiB so an unauthenticated peer cannot make us buffer much."""
MAX_PAYLOAD_BYTES: Final = 25 * 1024 * 1024
"""``policy.maxPayload`` after auth (25 MiB, as OpenClaw 2026.9.6)."""
MAX_BUFFERED_BYTES: Final = 50 * 1024 * 1024
TICK_INTERVAL_MS: Final = 30_000
DEVICE_SIGNATURE_SKEW_MS: Final = 120_000
MAX_PROGRESS_CHUNK_BYTES: Final = 16 * 1024
HANDSHAKE_TIMEOUT_MS: Final = 15_000

CLIENT_ID: Final = "node-host"
"""``client.id`` is a closed enum upstream; a headless Linux node is ``node-host``."""
CLIENT_MODE: Final = "node"

CHALLENGE_EVENT: Final = "connect.challenge"
TICK_EVENT: Final = "tick"
SHUTDOWN_EVENT: Final = "shutdown"
INVOKE_REQUEST_EVENT: Final = "node.invoke.request"
CANCEL_EVENT: Final = "node.invoke.cancel"
HEALTH_EVENT: Final = "clawops.health"
"""``node.event`` name carrying a :class:`NodeHealthReport` (a real gateway answers ``handled:false``)."""
HOST_STATS_EVENT: Final = "node.host.stats"
"""OpenClaw's standard host-stats ``node.event`` (cpuCount, memory, load, disk); real gateways keep it."""


class ErrorCode:
    """Top-level ``error.code`` values; clients branch on these and on :class:`DetailCode`, never on text."""

    INVALID_REQUEST: Final = "INVALID_REQUEST"
    NOT_PAIRED: Final = "NOT_PAIRED"
    FORBIDDEN: Final = "FORBIDDEN"
    UNAVAILABLE: Final = "UNAVAILABLE"
    # Node-side invoke result codes (ours, alongside the official SYSTEM_RUN_DENIED etc.).
    COMMAND_NOT_ALLOWED: Final = "COMMAND_NOT_ALLOWED"
    TIMEOUT: Final = "TIMEOUT"
    CANCELLED: Final = "CANCELLED"
    COMMAND_FAILED: Final = "COMMAND_FAILED"


class DetailCode:
    """``error.details.code`` values from the reference's error matrix (plus a few gateway-local ones)."""

    NONCE_MISMATCH: Final = "DEVICE_AUTH_NONCE_MISMATCH"
    SIGNATURE_INVALID: Final = "DEVICE_AUTH_SIGNATURE_INVALID"
    DEVICE_ID_MISMATCH: Final = "DEVICE_AUTH_DEVICE_ID_MISMATCH"
    SIGNATURE_EXPIRED: Final = "DEVICE_AUTH_SIGNATURE_EXPIRED"
    PROTOCOL_MISMATCH: Final = "PROTOCOL_MISMATCH"
    AUTH_TOKEN_MISMATCH: Final = "AUTH_TOKEN_MISMATCH"
    DEVICE_TOKEN_MISMATCH: Final = "AUTH_DEVICE_TOKEN_MISMATCH"
    BOOTSTRAP_TOKEN_INVALID: Final = "AUTH_BOOTSTRAP_TOKEN_INVALID"
    DEVICE_IDENTITY_REQUIRED: Final = "DEVICE_IDENTITY_REQUIRED"
    PAIRING_REQUIRED: Final = "PAIRING_REQUIRED"
    MISSING_SCOPE: Final = "MISSING_SCOPE"
    INVALID_FRAME: Final = "INVALID_FRAME"
    INVALID_PARAMS: Final = "INVALID_PARAMS"
    UNKNOWN_METHOD: Final = "UNKNOWN_METHOD"
    ROLE_NOT_ALLOWED: Final = "ROLE_NOT_ALLOWED"
    ACCOUNT_MISMATCH: Final = "ACCOUNT_MISMATCH"
    ALREADY_CONNECTED: Final = "ALREADY_CONNECTED"
    STARTING: Final = "startup-sidecars"


class CloseCode:
    """WebSocket close codes the reference uses."""

    NORMAL: Final = 1000
    PROTOCOL_ERROR: Final = 1002
    POLICY_VIOLATION: Final = 1008
    MESSAGE_TOO_BIG: Final = 1009
    SERVICE_RESTART: Final = 1012
    TRY_AGAIN_LATER: Final = 1013
    DEAD_LINK: Final = 4000


class FrameError(ValueError):
    """A frame that is not valid JSON or not a valid protocol frame; ``reason`` is a short machine tag."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ErrorShape:
    """The ``error`` object of a failed ``res``."""

    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    retryable: bool = False
    retry_after_ms: int | None = None

    @property
    def detail_code(self) -> str | None:
        value = self.details.get("code")
        return value if isinstance(value, str) else None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            out["details"] = self.details
        if self.retryable:
            out["retryable"] = True
        if self.retry_after_ms is not None:
            out["retryAfterMs"] = self.retry_after_ms
        return out


@dataclass(frozen=True, slots=True)
class RequestFrame:
    id: str
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    traceparent: str | None = None
    type: Literal["req"] = "req"


@dataclass(frozen=True, slots=True)
class ResponseFrame:
    id: str
    ok: bool
    payload: Any = None
    error: ErrorShape | None = None
    type: Literal["res"] = "res"


@dataclass(frozen=True, slots=True)
class EventFrame:
    event: str
    payload: Any = None
    seq: int | None = None
    state_version: dict[str, Any] | None = None
    type: Literal["event"] = "event"


@dataclass(frozen=True, slots=True)
class CancelFrame:
    id: str
    type: Literal["cancel"] = "cancel"


Frame = RequestFrame | ResponseFrame | EventFrame | CancelFrame


def _require_str(obj: dict[str, Any], key: str, *, allow_empty: bool = False) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or (not allow_empty and not value):
        raise FrameError("invalid_frame", f"frame field {key!r} must be a non-empty string")
    return value


def parse_frame(data: str | bytes, *, max_bytes: int | None = None) -> Frame:
    """Decode one text frame; raise :class:`FrameError` for anything that is not a protocol frame.

    ``max_bytes`` is checked before JSON decoding so an oversized frame costs no parsing.
    """
    raw_len = len(data.encode("utf-8", "surrogatepass")) if isinstance(data, str) else len(data)
    if max_bytes is not None and raw_len > max_bytes:
        raise FrameError("too_large", f"frame of {raw_len} bytes exceeds the {max_bytes}-byte limit")
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise FrameError("malformed_json", "frame is not valid JSON") from exc
    if not isinstance(obj, dict):
        raise FrameError("invalid_frame", "frame must be a JSON object")
    kind = obj.get("type")
    if kind == "req":
        params = obj.get("params", {})
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise FrameError("invalid_frame", "req params must be an object")
        trace = obj.get("traceparent")
        return RequestFrame(
            id=_require_str(obj, "id"),
            method=_require_str(obj, "method"),
            params=params,
            traceparent=trace if isinstance(trace, str) else None,
        )
    if kind == "res":
        ok = obj.get("ok")
        if not isinstance(ok, bool):
            raise FrameError("invalid_frame", "res ok must be a boolean")
        error: ErrorShape | None = None
        if not ok:
            err = obj.get("error")
            if not isinstance(err, dict):
                raise FrameError("invalid_frame", "failed res must carry an error object")
            details = err.get("details")
            retry_after = err.get("retryAfterMs")
            error = ErrorShape(
                code=str(err.get("code") or ErrorCode.INVALID_REQUEST),
                message=str(err.get("message") or ""),
                details=details if isinstance(details, dict) else {},
                retryable=bool(err.get("retryable", False)),
                retry_after_ms=int(retry_after)
                if isinstance(retry_after, (int, float))
                and not isinstance(retry_after, bool)
                and retry_after == retry_after
                and abs(retry_after) < 2**53
                else None,
            )
        return ResponseFrame(id=_require_str(obj, "id"), ok=ok, payload=obj.get("payload"), error=error)
    if kind == "event":
        seq = obj.get("seq")
        state = obj.get("stateVersion")
        return EventFrame(
            event=_require_str(obj, "event"),
            payload=obj.get("payload"),
            seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
            state_version=state if isinstance(state, dict) else None,
        )
    if kind == "cancel":
        return CancelFrame(id=_require_str(obj, "id"))
    raise FrameError("invalid_frame", "unknown frame type")


def encode_frame(frame: Frame) -> str:
    """Serialise a frame with only the documented fields (compact JSON, UTF-8 safe)."""
    out: dict[str, Any]
    if isinstance(frame, RequestFrame):
        out = {"type": "req", "id": frame.id, "method": frame.method, "params": frame.params}
        if frame.traceparent:
            out["traceparent"] = frame.traceparent
    elif isinstance(frame, ResponseFrame):
        out = {"type": "res", "id": frame.id, "ok": frame.ok}
        if frame.ok:
            out["payload"] = frame.payload
        else:
            out["error"] = (frame.error or ErrorShape(ErrorCode.INVALID_REQUEST, "error")).to_wire()
    elif isinstance(frame, EventFrame):
        out = {"type": "event", "event": frame.event, "payload": frame.payload}
        if frame.seq is not None:
            out["seq"] = frame.seq
        if frame.state_version is not None:
            out["stateVersion"] = frame.state_version
    else:
        out = {"type": "cancel", "id": frame.id}
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False)


# --- device identity helpers -------------------------------------------------------------------------


def b64url_encode(data: bytes) -> str:
    """URL-safe base64 without ``=`` padding (the reference's rule for keys and signatures)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64URL_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64url_decode(text: str) -> bytes:
    """Inverse of :func:`b64url_encode`; re-adds padding and refuses characters outside the alphabet."""
    stripped = text.rstrip("=")
    if not stripped or any(ch not in _B64URL_ALPHABET for ch in stripped) or len(stripped) % 4 == 1:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


def device_id_from_public_key(raw_public_key: bytes) -> str:
    """``device.id`` = lowercase hex SHA-256 of the raw 32-byte Ed25519 public key."""
    return hashlib.sha256(raw_public_key).hexdigest()


def normalize_metadata(value: str | None) -> str:
    """v3 ``platform``/``deviceFamily``: trimmed, ASCII A-Z lowercased only (not Unicode casefold)."""
    if not value:
        return ""
    return value.strip().translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans({chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)})


def build_device_auth_payload(
    version: Literal["v2", "v3"],
    *,
    device_id: str,
    client_id: str,
    client_mode: str,
    role: str,
    scopes: list[str],
    signed_at_ms: int,
    token: str,
    nonce: str,
    platform: str | None = None,
    device_family: str | None = None,
) -> str:
    """The exact string a node signs (``buildDeviceAuthPayloadV3`` / v2 upstream)."""
    parts = [version, device_id, client_id, client_mode, role, ",".join(scopes), str(signed_at_ms), token, nonce]
    if version == "v3":
        parts += [normalize_metadata(platform), normalize_metadata(device_family)]
    return "|".join(parts)


# --- invokes -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InvokeRequest:
    """Payload of the ``node.invoke.request`` event (gateway -> node)."""

    id: str
    node_id: str
    command: str
    params: Any
    timeout_ms: int | None
    idempotency_key: str | None

    @classmethod
    def from_payload(cls, payload: Any) -> InvokeRequest:
        if not isinstance(payload, dict):
            raise FrameError("invalid_invoke", "invoke payload must be an object")
        params: Any = payload.get("params")
        params_json = payload.get("paramsJSON")
        if isinstance(params_json, str):
            try:
                params = json.loads(params_json)
            except ValueError as exc:
                raise FrameError("invalid_invoke", "paramsJSON is not valid JSON") from exc
        timeout = payload.get("timeoutMs")
        key = payload.get("idempotencyKey")
        return cls(
            id=_require_str(payload, "id"),
            node_id=str(payload.get("nodeId") or ""),
            command=_require_str(payload, "command"),
            params=params,
            timeout_ms=int(timeout)
            if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and 0 < timeout < 2**53
            else None,
            idempotency_key=key if isinstance(key, str) and key else None,
        )

    def to_payload(self, params_json: str | None = None) -> dict[str, Any]:
        """Wire payload; ``params_json`` lets a fan-out encode the same params once for every node."""
        out: dict[str, Any] = {
            "id": self.id,
            "nodeId": self.node_id,
            "command": self.command,
            "paramsJSON": params_json if params_json is not None else json.dumps(self.params, separators=(",", ":")),
        }
        if self.timeout_ms is not None:
            out["timeoutMs"] = self.timeout_ms
        if self.idempotency_key:
            out["idempotencyKey"] = self.idempotency_key
        return out


# --- health reports ----------------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if f == f and abs(f) != float("inf") else None


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class NodeHealthReport:
    """One health report from a node, as carried by ``node.event`` ``clawops.health``.

    Every reading is optional: a collector that failed leaves ``None`` and writes why into
    ``errors`` (``{"docker": "docker not installed"}``), because a missing reading is itself a fact
    the Guardian should see, not a reason for the node to stop reporting.
    """

    node_id: str
    hostname: str
    account_id: str | None
    instance_id: str | None
    provider: str | None
    region: str | None
    tier: str | None
    role: str | None
    ts_ms: int
    clawnode_version: str
    cpu_percent: float | None = None
    load_1: float | None = None
    load_5: float | None = None
    load_15: float | None = None
    mem_total_bytes: int | None = None
    mem_available_bytes: int | None = None
    disk_total_bytes: int | None = None
    disk_free_bytes: int | None = None
    uptime_s: float | None = None
    docker_available: bool | None = None
    docker_running: int | None = None
    docker_containers: int | None = None
    gateway_running: bool | None = None
    gateway_pid: int | None = None
    gateway_ws_latency_ms: float | None = None
    gateway_container: str | None = None
    """The container the gateway runs in (id or name), None for a gateway on the host."""
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def mem_used_percent(self) -> float | None:
        if not self.mem_total_bytes or self.mem_available_bytes is None:
            return None
        return 100.0 * (1 - self.mem_available_bytes / self.mem_total_bytes)

    @property
    def disk_used_percent(self) -> float | None:
        if not self.disk_total_bytes or self.disk_free_bytes is None:
            return None
        return 100.0 * (1 - self.disk_free_bytes / self.disk_total_bytes)

    def to_payload(self) -> dict[str, Any]:
        return {
            "nodeId": self.node_id,
            "hostname": self.hostname,
            "accountId": self.account_id,
            "instanceId": self.instance_id,
            "provider": self.provider,
            "region": self.region,
            "tier": self.tier,
            "role": self.role,
            "ts": self.ts_ms,
            "clawnodeVersion": self.clawnode_version,
            "cpu": {"percent": self.cpu_percent, "load": [self.load_1, self.load_5, self.load_15]},
            "memory": {"totalBytes": self.mem_total_bytes, "availableBytes": self.mem_available_bytes},
            "disk": {"totalBytes": self.disk_total_bytes, "freeBytes": self.disk_free_bytes},
            "uptimeS": self.uptime_s,
            "docker": {
                "available": self.docker_available,
                "running": self.docker_running,
                "containers": self.docker_containers,
            },
            "gateway": {
                "running": self.gateway_running,
                "pid": self.gateway_pid,
                "wsLatencyMs": self.gateway_ws_latency_ms,
                "container": self.gateway_container,
            },
            "errors": dict(self.errors),
        }

    @classmethod
    def from_payload(cls, payload: Any, *, node_id: str | None = None) -> NodeHealthReport:
        """Lenient decode; ``node_id`` (the authenticated device) overrides whatever the payload claims."""
        if not isinstance(payload, dict):
            raise FrameError("invalid_health", "health payload must be an object")

        def sub(key: str) -> dict[str, Any]:
            value = payload.get(key)
            return value if isinstance(value, dict) else {}

        cpu, mem, disk, docker, gw = sub("cpu"), sub("memory"), sub("disk"), sub("docker"), sub("gateway")
        raw_load = cpu.get("load")
        load: list[Any] = raw_load if isinstance(raw_load, list) else []
        load3 = [_num(x) for x in ([*load, None, None, None])[:3]]
        ts = _num(payload.get("ts"))
        errors = payload.get("errors")

        def opt_int(value: Any) -> int | None:
            n = _num(value)
            return int(n) if n is not None and abs(n) < 2**63 else None

        def opt_bool(value: Any) -> bool | None:
            return value if isinstance(value, bool) else None

        hostname = payload.get("hostname")
        return cls(
            node_id=node_id or str(payload.get("nodeId") or ""),
            hostname=hostname if isinstance(hostname, str) else "",
            account_id=_opt_str(payload.get("accountId")),
            instance_id=_opt_str(payload.get("instanceId")),
            provider=_opt_str(payload.get("provider")),
            region=_opt_str(payload.get("region")),
            tier=_opt_str(payload.get("tier")),
            role=_opt_str(payload.get("role")),
            ts_ms=int(ts) if ts is not None and abs(ts) < 2**53 else 0,
            clawnode_version=str(payload.get("clawnodeVersion") or ""),
            cpu_percent=_num(cpu.get("percent")),
            load_1=load3[0],
            load_5=load3[1],
            load_15=load3[2],
            mem_total_bytes=opt_int(mem.get("totalBytes")),
            mem_available_bytes=opt_int(mem.get("availableBytes")),
            disk_total_bytes=opt_int(disk.get("totalBytes")),
            disk_free_bytes=opt_int(disk.get("freeBytes")),
            uptime_s=_num(payload.get("uptimeS")),
            docker_available=opt_bool(docker.get("available")),
            docker_running=opt_int(docker.get("running")),
            docker_containers=opt_int(docker.get("containers")),
            gateway_running=opt_bool(gw.get("running")),
            gateway_pid=opt_int(gw.get("pid")),
            gateway_ws_latency_ms=_num(gw.get("wsLatencyMs")),
            gateway_container=_opt_str(gw.get("container")),
            errors={str(k): str(v) for k, v in errors.items()} if isinstance(errors, dict) else {},
        )
