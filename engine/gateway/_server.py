"""The engine's embedded node gateway: the server side of the OpenClaw protocol, node role only.

One asyncio WebSocket server, one small :class:`_Conn` per node, one shared tick loop (not one timer
per connection) so 10,000 nodes cost little more than their sockets.  Every refusal answers with the
reference's ``error.code``/``details.code`` and close code, is logged and counted in
:attr:`NodeGateway.stats`, and touches only the offending connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import ssl
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from engine.gateway._errors import CommandNotAllowed, GatewayError, NodeNotConnected
from engine.gateway._registry import Approval, DeviceRegistry, PairedDevice, PairingRequest
from node.commands import COMMANDS
from node.identity import load_public_key, raw_public_key, verify_signature
from node.protocol import (
    CANCEL_EVENT,
    CHALLENGE_EVENT,
    DEVICE_SIGNATURE_SKEW_MS,
    HANDSHAKE_TIMEOUT_MS,
    HEALTH_EVENT,
    HOST_STATS_EVENT,
    INVOKE_REQUEST_EVENT,
    MAX_BUFFERED_BYTES,
    MAX_PAYLOAD_BYTES,
    MAX_PREAUTH_PAYLOAD_BYTES,
    MAX_PROGRESS_CHUNK_BYTES,
    MIN_NODE_PROTOCOL_VERSION,
    PROTOCOL_VERSION,
    SHUTDOWN_EVENT,
    TICK_EVENT,
    TICK_INTERVAL_MS,
    CloseCode,
    DetailCode,
    ErrorCode,
    ErrorShape,
    EventFrame,
    FrameError,
    NodeHealthReport,
    RequestFrame,
    ResponseFrame,
    build_device_auth_payload,
    device_id_from_public_key,
    encode_frame,
    parse_frame,
)

__all__ = ["ConnectedNode", "GatewayStats", "InvokeResult", "NodeGateway"]

log = logging.getLogger("clawops.gateway")

SERVER_VERSION: Final = "clawops-gateway/0.1.0"

HealthCallback = Callable[[NodeHealthReport], Awaitable[None]]
ApproveCallback = Callable[[PairingRequest], Awaitable[bool | Approval]]
"""Decides a shared-token pairing request: False = leave pending, True or an Approval = pair now."""
ProgressCallback = Callable[[str, int, str], Awaitable[None]]
"""``(node_id, seq, chunk)`` for each ``node.invoke.progress`` of an invoke."""

_CONNECT_KEYS: Final = frozenset(
    {
        "minProtocol",
        "maxProtocol",
        "client",
        "role",
        "scopes",
        "caps",
        "commands",
        "permissions",
        "pathEnv",
        "auth",
        "device",
        "locale",
        "userAgent",
        "computerUse",
        "workerRuns",
    }
)
_CLIENT_KEYS: Final = frozenset(
    {
        "id",
        "displayName",
        "version",
        "platform",
        "mode",
        "deviceFamily",
        "modelIdentifier",
        "instanceId",
        "buildId",
        "timeZone",
    }
)
_CLIENT_IDS: Final = frozenset(
    {
        "webchat-ui",
        "openclaw-control-ui",
        "openclaw-browser-copilot",
        "openclaw-tui",
        "webchat",
        "cli",
        "gateway-client",
        "openclaw-macos",
        "openclaw-linux",
        "openclaw-ios",
        "openclaw-watchos",
        "openclaw-android",
        "node-host",
        "openclaw-worker",
        "test",
        "fingerprint",
        "openclaw-probe",
    }
)
_CLIENT_MODES: Final = frozenset({"webchat", "cli", "ui", "backend", "node", "worker", "probe", "test"})
_AUTH_KEYS: Final = frozenset(
    {
        "token",
        "bootstrapToken",
        "deviceToken",
        "password",
        "approvalRuntimeToken",
        "agentRuntimeIdentityToken",
    }
)
_DEVICE_KEYS: Final = frozenset({"id", "publicKey", "signature", "signedAt", "nonce"})
_TICK_SLICE: Final = 200
"""Ticks sent per event-loop slice."""
_REPLY_BUFFER_LIMIT: Final = 64 * 1024
"""Answers are written without awaiting while a node's unsent bytes stay below this."""
_TOOL_NAME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")

_NODE_METHODS: Final = frozenset(
    {
        "node.invoke.result",
        "node.invoke.progress",
        "node.event",
        "node.pluginTools.update",
        "health",
        "node.skills.update",
        "node.pending.pull",
        "node.pending.ack",
        "node.pending.drain",
        "node.pluginSurface.refresh",
        "skills.bins",
    }
)
_OPERATOR_PREFIXES: Final = ("node.", "device.", "config.", "sessions.", "chat.", "cron.", "agents.", "models.")


@dataclass(frozen=True, slots=True)
class InvokeResult:
    """The answer to one ``node.invoke``: a payload, or an error code from the node or the gateway."""

    node_id: str
    command: str
    ok: bool
    payload: Any = None
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectedNode:
    node_id: str
    display_name: str | None
    instance_id: str | None
    account_id: str | None
    remote_addr: str | None
    connected_at_ms: int
    protocol: int
    commands: tuple[str, ...]
    tools: tuple[str, ...]
    """Agent tool names the node published with ``node.pluginTools.update`` on this connection."""
    last_health: NodeHealthReport | None
    host_stats: dict[str, Any] | None = None
    """The node's last standard ``node.host.stats`` (with ``updatedAtMs``), as a real gateway keeps it."""


@dataclass
class GatewayStats:
    """Counters for logs, the bench and tests (refusals by ``details.code`` or ``error.code``)."""

    connections_opened: int = 0
    handshakes_ok: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    health_reports: int = 0
    invokes_sent: int = 0
    invoke_results: int = 0
    bad_frames_after_auth: int = 0


class _Refusal(Exception):
    """Internal: refuse the current request (and maybe close) with a reference error."""

    def __init__(
        self,
        code: str,
        detail: str | None,
        message: str,
        close: int | None = CloseCode.POLICY_VIOLATION,
        *,
        close_reason: str | None = None,
        counter: str | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.error = ErrorShape(code, message, {"code": detail, **details} if detail else dict(details))
        self.close = close
        self.close_reason = message if close_reason is None else close_reason
        """OpenClaw closes with the error message as the reason (a few cases add to it)."""
        self.counter = counter or detail or code


@dataclass
class _PendingInvoke:
    node_id: str
    command: str
    future: asyncio.Future[InvokeResult]
    on_progress: ProgressCallback | None


@dataclass(eq=False)
class _Conn:
    ws: ServerConnection
    device_id: str
    device: PairedDevice
    display_name: str | None
    client_instance_id: str | None
    protocol: int
    commands: frozenset[str]
    connected_at_ms: int
    remote_addr: str | None
    seq: int = 0
    last_rx: float = field(default_factory=time.monotonic)
    tools: list[dict[str, Any]] = field(default_factory=list)
    last_health: NodeHealthReport | None = None
    host_stats: dict[str, Any] | None = None
    """The node's last ``node.host.stats`` (with the gateway's ``updatedAtMs``)."""
    id_json: str = ""
    """``device_id`` as a JSON string, encoded once for the invoke frames."""

    def __post_init__(self) -> None:
        self.id_json = json.dumps(self.device_id)


class NodeGateway:
    """Serves nodes on ``ws://host:port/``; the engine talks to them through :meth:`invoke`/:meth:`fan_out`.

    ``token`` is the shared node token (``CLAWOPS_GATEWAY_TOKEN``).  ``on_health_report`` receives every
    health report (stamped with the account/instance the device was paired for).  ``approve_pairing``
    decides pairing requests that come with the shared token: return True to pair at once, False to
    leave the request pending for :meth:`approve` (no callback = always pending).  Bootstrap tokens
    from :meth:`issue_bootstrap_token` pair without approval, exactly once.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 18789,
        token: str | None = None,
        *,
        on_health_report: HealthCallback | None = None,
        approve_pairing: ApproveCallback | None = None,
        registry: DeviceRegistry | None = None,
        command_allowlist: Iterable[str] | None = None,
        tick_interval_ms: int = TICK_INTERVAL_MS,
        idle_timeout_s: float | None = None,
        handshake_timeout_s: float = HANDSHAKE_TIMEOUT_MS / 1000,
        max_preauth_bytes: int = MAX_PREAUTH_PAYLOAD_BYTES,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        clock: Callable[[], float] = time.time,
        ssl_context: ssl.SSLContext | None = None,
        auto_approve_local: bool = False,
    ) -> None:
        self.host = host
        self.ssl_context = ssl_context
        self._port = port
        self._token = token
        self.on_health_report = on_health_report
        self.approve_pairing = approve_pairing
        self.auto_approve_local = auto_approve_local
        """Pair a new device that connects directly from loopback with the shared token without asking, as
        OpenClaw does by default.  Off by default here: the engine's gateway often sits behind a TLS proxy on
        the same machine, where every remote node would look local (proxied connects never qualify)."""
        self.registry = registry or DeviceRegistry(clock=clock)
        self.command_allowlist = frozenset(command_allowlist if command_allowlist is not None else COMMANDS)
        self._config_hash = "sha256:" + hashlib.sha256(",".join(sorted(self.command_allowlist)).encode()).hexdigest()
        self.tick_interval_ms = tick_interval_ms
        self.idle_timeout_s = idle_timeout_s if idle_timeout_s is not None else 3 * tick_interval_ms / 1000
        """A node silent this long is dead (its VPS vanished without a FIN): close 4000 and forget it."""
        self.handshake_timeout_s = handshake_timeout_s
        self.max_preauth_bytes = max_preauth_bytes
        self.max_payload_bytes = max_payload_bytes
        self.clock = clock
        self.stats = GatewayStats()
        self.boot_id = str(uuid.uuid4())
        self._conns: dict[str, _Conn] = {}
        self._invokes: dict[str, _PendingInvoke] = {}
        self._invoke_seq = 0
        self._server: Server | None = None
        self._tick_task: asyncio.Task[None] | None = None
        self._bg: set[asyncio.Future[None]] = set()
        self._started_ms = 0
        self._on_stop: list[Callable[[], Awaitable[None]]] = []
        self.upstream: Any = None
        """The engine's operator link to a real OpenClaw gateway, when it has one (stopped with this gateway)."""

    # --- lifecycle -----------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (useful with ``port=0``)."""
        if self._server is not None:
            for sock in self._server.sockets:
                return int(sock.getsockname()[1])
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'wss' if self.ssl_context else 'ws'}://{host}:{self.port}/"

    async def start(self) -> None:
        if self._server is not None:
            return
        try:
            self._server = await serve(
                self._handle,
                self.host,
                self._port,
                max_size=self.max_preauth_bytes,
                compression=None,
                ping_interval=None,
                max_queue=16,
                write_limit=MAX_BUFFERED_BYTES // 1024,
                close_timeout=2,
                backlog=4096,
                logger=logging.getLogger("clawops.gateway.ws"),
                ssl=self.ssl_context,
                create_connection=_Connection,
            )
        except OSError as exc:
            raise GatewayError(
                f"The node gateway cannot listen on {self.host}:{self._port} ({exc.strerror or exc}); "
                "free the port or set CLAWOPS_GATEWAY_PORT."
            ) from exc
        self._started_ms = int(self.clock() * 1000)
        self._tick_task = asyncio.create_task(self._tick_loop())
        log.info("node gateway listening on %s", self.url)

    def on_stop(self, fn: Callable[[], Awaitable[None]]) -> None:
        """Run ``fn`` when the gateway stops (the engine's operator link to a real gateway stops with it)."""
        self._on_stop.append(fn)

    async def stop(self, *, restart_expected_ms: int | None = None) -> None:
        """Tell nodes (``shutdown`` event), close them with 1012, fail pending invokes, stop listening."""
        for fn in self._on_stop:
            with contextlib.suppress(Exception):
                await fn()
        self._on_stop.clear()
        if self._server is None:
            return
        if self._tick_task is not None:
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick_task
        payload: dict[str, Any] = {"reason": "gateway stopping"}
        if restart_expected_ms is not None:
            payload["restartExpectedMs"] = restart_expected_ms
        conns = list(self._conns.values())
        for conn in conns:
            self._send_event(conn, SHUTDOWN_EVENT, payload)
        self._server.close(close_connections=False)
        await asyncio.gather(
            *(c.ws.close(CloseCode.SERVICE_RESTART, "gateway restarting") for c in conns), return_exceptions=True
        )
        self._server.close()
        await self._server.wait_closed()
        self._server = None
        for pending in list(self._invokes.values()):
            if not pending.future.done():
                pending.future.set_result(
                    InvokeResult(
                        pending.node_id,
                        pending.command,
                        False,
                        error_code=ErrorCode.UNAVAILABLE,
                        error_message="gateway stopped",
                    )
                )
        self._invokes.clear()

    # --- pairing API -----------------------------------------------------------------------------------

    def issue_bootstrap_token(self, instance_id: str, account_id: str, ttl_s: float | None = None) -> str:
        """A single-use token for cloud-init: the first node to connect with it is paired to this instance."""
        return self.registry.issue_bootstrap_token(instance_id, account_id, ttl_s)

    def pending_pairings(self) -> list[PairingRequest]:
        return self.registry.pending()

    def approve(self, request_id: str, *, account_id: str | None = None, instance_id: str | None = None) -> str:
        """Approve a pending request (operator action); the node pairs on its next retry.  Returns the device id."""
        req = self.registry.take_pending(request_id)
        if req is None:
            raise GatewayError(f"No pending pairing request {request_id}; list them again, it may have expired.")
        self.registry.pair(
            req.device_id,
            req.public_key,
            approved_via="operator",
            account_id=account_id,
            instance_id=instance_id,
            display_name=req.display_name,
        )
        return req.device_id

    async def revoke(self, device_id: str) -> bool:
        """Unpair a device and drop its connection; its device token stops working."""
        found = self.registry.revoke(device_id)
        conn = self._conns.get(device_id)
        if conn is not None:
            await conn.ws.close(CloseCode.POLICY_VIOLATION, "device revoked")
        return found

    def drop(self, device_id: str) -> None:
        """Close a device's connection without waiting (its pairing was revoked elsewhere)."""
        conn = self._conns.get(device_id)
        if conn is not None:
            self._background(conn.ws.close(CloseCode.POLICY_VIOLATION, "device revoked"))

    def connected_nodes(self) -> list[ConnectedNode]:
        return [self._view(c) for c in self._conns.values()]

    def connected_node(self, node_id: str) -> ConnectedNode | None:
        """One node's live connection (O(1), for callers that look up a single instance's node)."""
        conn = self._conns.get(node_id)
        return self._view(conn) if conn is not None else None

    @staticmethod
    def _view(c: _Conn) -> ConnectedNode:
        return ConnectedNode(
            c.device_id,
            c.display_name,
            c.device.instance_id or c.client_instance_id,
            c.device.account_id,
            c.remote_addr,
            c.connected_at_ms,
            c.protocol,
            tuple(sorted(c.commands)),
            tuple(t["name"] for t in c.tools),
            c.last_health,
            c.host_stats,
        )

    def is_connected(self, node_id: str) -> bool:
        return node_id in self._conns

    # --- invokes -------------------------------------------------------------------------------------------

    async def invoke(
        self,
        node_id: str,
        command: str,
        params: Any = None,
        *,
        timeout_s: float = 30.0,
        idempotency_key: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> InvokeResult:
        """Run an allowlisted command on one node and wait for its single terminal result.

        Raises CommandNotAllowed / NodeNotConnected; every other failure (node error, timeout,
        disconnect) is an ``InvokeResult`` with ``ok=False`` so fan-outs can collect them.
        """
        if command not in self.command_allowlist:
            self.stats.refusals[ErrorCode.COMMAND_NOT_ALLOWED] += 1
            log.warning("refused invoke of non-allowlisted command %r on %s", command, node_id[:12])
            raise CommandNotAllowed(command)
        conn = self._conns.get(node_id)
        if conn is None:
            raise NodeNotConnected(node_id)
        if command not in conn.commands:
            self.stats.refusals[ErrorCode.COMMAND_NOT_ALLOWED] += 1
            raise CommandNotAllowed(command)
        params_json = json.dumps({} if params is None else params, separators=(",", ":"))
        invoke_id, fut = self._start_invoke(
            conn, command, self._invoke_tail(command, params_json, timeout_s, idempotency_key), on_progress
        )
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout_s)
        except TimeoutError:
            self._cancel_on_node(conn, invoke_id)
            return _timeout_result(node_id, command, timeout_s)
        except asyncio.CancelledError:
            self._cancel_on_node(conn, invoke_id)
            raise
        finally:
            self._invokes.pop(invoke_id, None)

    @staticmethod
    def _invoke_tail(command: str, params_json: str, timeout_s: float, idempotency_key: str | None) -> str:
        """The part of a ``node.invoke.request`` payload that is the same for every node of a fan-out, encoded once."""
        tail = (
            f'"command":{json.dumps(command)},"paramsJSON":{json.dumps(params_json, ensure_ascii=False)},'
            f'"timeoutMs":{max(1, int(timeout_s * 1000))}'
        )
        if idempotency_key:
            tail += f',"idempotencyKey":{json.dumps(idempotency_key, ensure_ascii=False)}'
        return tail

    def _start_invoke(
        self,
        conn: _Conn,
        command: str,
        tail: str,
        on_progress: ProgressCallback | None,
    ) -> tuple[str, asyncio.Future[InvokeResult]]:
        """Register the pending invoke and send ``node.invoke.request``.

        The frame is assembled from the pre-encoded ``tail`` (see :meth:`_invoke_tail`) rather than
        serialised per node: the same bytes ``encode_frame`` would produce, for a fraction of the cost.
        """
        # Unique per gateway run (boot id + counter): a uuid4 per invoke costs a urandom call at 10k-node fan-outs.
        self._invoke_seq += 1
        invoke_id = f"{self.boot_id[:8]}-{self._invoke_seq:x}"
        fut: asyncio.Future[InvokeResult] = asyncio.get_running_loop().create_future()
        self._invokes[invoke_id] = _PendingInvoke(conn.device_id, command, fut, on_progress)
        self.stats.invokes_sent += 1
        conn.seq += 1
        broadcast(
            [conn.ws],
            f'{{"type":"event","event":"{INVOKE_REQUEST_EVENT}","payload":{{"id":"{invoke_id}",'
            f'"nodeId":{conn.id_json},{tail}}},"seq":{conn.seq}}}',
        )
        return invoke_id, fut

    def _cancel_on_node(self, conn: _Conn, invoke_id: str) -> None:
        self._send_event(conn, CANCEL_EVENT, {"invokeId": invoke_id, "nodeId": conn.device_id})

    async def fan_out(
        self,
        command: str,
        params: Any = None,
        *,
        node_ids: Iterable[str] | None = None,
        timeout_s: float = 30.0,
        idempotency_key: str | None = None,
    ) -> dict[str, InvokeResult]:
        """Invoke ``command`` on many nodes at once (all connected ones by default); one result per node."""
        if command not in self.command_allowlist:
            self.stats.refusals[ErrorCode.COMMAND_NOT_ALLOWED] += 1
            raise CommandNotAllowed(command)
        targets = list(self._conns) if node_ids is None else list(dict.fromkeys(node_ids))
        # One timer and no task per node: at 10,000 nodes per-invoke wait_for/gather overhead dominates.
        params_json = json.dumps({} if params is None else params, separators=(",", ":"))
        tail = self._invoke_tail(command, params_json, timeout_s, idempotency_key)
        results: dict[str, InvokeResult] = {}
        started: dict[asyncio.Future[InvokeResult], tuple[str, _Conn]] = {}
        for node_id in targets:
            conn = self._conns.get(node_id)
            if conn is None:
                results[node_id] = InvokeResult(
                    node_id,
                    command,
                    False,
                    error_code=ErrorCode.UNAVAILABLE,
                    error_message=str(NodeNotConnected(node_id)),
                )
            elif command not in conn.commands:
                self.stats.refusals[ErrorCode.COMMAND_NOT_ALLOWED] += 1
                results[node_id] = InvokeResult(
                    node_id,
                    command,
                    False,
                    error_code=ErrorCode.COMMAND_NOT_ALLOWED,
                    error_message=str(CommandNotAllowed(command)),
                )
            else:
                invoke_id, fut = self._start_invoke(conn, command, tail, None)
                started[fut] = (invoke_id, conn)
        try:
            if started:
                await asyncio.wait(started, timeout=timeout_s)
        finally:
            for fut, (invoke_id, conn) in started.items():
                self._invokes.pop(invoke_id, None)
                if fut.done():
                    results[conn.device_id] = fut.result()
                else:
                    fut.cancel()
                    self._cancel_on_node(conn, invoke_id)
                    results[conn.device_id] = _timeout_result(conn.device_id, command, timeout_s)
        return {node_id: results[node_id] for node_id in targets}

    # --- connection handling -----------------------------------------------------------------------------

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    async def _reply(self, conn: _Conn, frame: ResponseFrame) -> None:
        """Answer a node's request: written at once while its socket keeps up, awaited (backpressure) when not.

        ``broadcast`` skips the send lock and the drain wait, which is most of a small ack's cost; a node
        that stops reading its answers fills only its own buffer up to the limit, then waits like any send.
        """
        transport = conn.ws.transport
        if transport is not None and transport.get_write_buffer_size() < _REPLY_BUFFER_LIMIT:
            broadcast([conn.ws], encode_frame(frame))
        else:
            await conn.ws.send(encode_frame(frame))

    def _send_event(self, conn: _Conn, event: str, payload: Any) -> None:
        conn.seq += 1
        broadcast([conn.ws], encode_frame(EventFrame(event, payload, seq=conn.seq)))

    async def _tick_loop(self) -> None:
        """One timer for all connections: a tick every ``tickIntervalMs`` is the nodes' liveness signal.

        The sends are spread over the first tenth of the interval in small slices, so 10,000 ticks
        neither stall this event loop for half a second nor wake every node in the same instant.
        """
        interval = self.tick_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            started = time.monotonic()
            conns = list(self._conns.values())
            slices = max(1, min(len(conns) // _TICK_SLICE, 100))
            for i in range(slices):
                ts = int(self.clock() * 1000)
                now = time.monotonic()
                for conn in conns[i::slices]:
                    if self._conns.get(conn.device_id) is not conn:
                        continue
                    if now - conn.last_rx > self.idle_timeout_s:
                        self.stats.refusals["DEAD_LINK"] += 1
                        log.warning(
                            "node %s silent for %.0f s; closing its link", conn.device_id[:12], now - conn.last_rx
                        )
                        del self._conns[conn.device_id]
                        self._background(conn.ws.close(CloseCode.DEAD_LINK, "dead link"))
                        continue
                    self._send_event(conn, TICK_EVENT, {"ts": ts})
                await asyncio.sleep(interval / 10 / slices)
            # keep the period fixed however long the spread took
            interval = max(0.0, self.tick_interval_ms / 1000 - (time.monotonic() - started))

    async def _refuse(self, ws: ServerConnection, req_id: str, refusal: _Refusal) -> None:
        self.stats.refusals[refusal.counter] += 1
        remote = _remote(ws)
        log.warning("node gateway refused %s: %s/%s %s", remote, refusal.error.code, refusal.counter, refusal)
        with contextlib.suppress(ConnectionClosed):
            await ws.send(encode_frame(ResponseFrame(req_id, False, error=refusal.error)))
            if refusal.close is not None:
                await ws.close(refusal.close, _reason(refusal.close_reason))

    async def _handle(self, ws: ServerConnection) -> None:
        self.stats.connections_opened += 1
        nonce = str(uuid.uuid4())
        challenge_ts = int(self.clock() * 1000)
        try:
            await ws.send(
                encode_frame(EventFrame(CHALLENGE_EVENT, {"nonce": nonce, "ts": challenge_ts, "capabilities": []}))
            )
            try:
                raw = await asyncio.wait_for(ws.recv(), self.handshake_timeout_s)
            except TimeoutError:
                self.stats.refusals["HANDSHAKE_TIMEOUT"] += 1
                await ws.close(CloseCode.POLICY_VIOLATION, "handshake timeout")
                return
            conn = await self._handshake(ws, raw, nonce)
            if conn is None:
                return
            await self._serve(conn)
        except ConnectionClosed as exc:
            if exc.sent is not None and exc.sent.code == CloseCode.MESSAGE_TOO_BIG:
                self.stats.refusals["FRAME_TOO_LARGE"] += 1
                log.warning("node gateway closed %s: frame too large", _remote(ws))

    async def _handshake(self, ws: ServerConnection, raw: str | bytes, nonce: str) -> _Conn | None:
        req_id = "connect"
        try:
            try:
                frame = parse_frame(raw, max_bytes=self.max_preauth_bytes)
            except FrameError as exc:
                if exc.reason == "malformed_json":  # as OpenClaw: no answer, a normal close with no reason
                    self.stats.refusals[DetailCode.INVALID_FRAME] += 1
                    log.warning("node gateway closed %s: malformed JSON before connect", _remote(ws))
                    await ws.close(CloseCode.NORMAL, "")
                    return None
                raise _Refusal(
                    ErrorCode.INVALID_REQUEST, None, f"invalid handshake: {exc}", counter=DetailCode.INVALID_FRAME
                ) from exc
            if isinstance(frame, RequestFrame):
                req_id = frame.id
            if not isinstance(frame, RequestFrame) or frame.method != "connect":
                raise _Refusal(
                    ErrorCode.INVALID_REQUEST,
                    None,
                    "invalid handshake: first request must be connect",
                    counter=DetailCode.INVALID_FRAME,
                )
            params = frame.params
            _validate_connect(params)
            role = params["role"]
            min_p, max_p = params["minProtocol"], params["maxProtocol"]
            floor = MIN_NODE_PROTOCOL_VERSION if role == "node" else PROTOCOL_VERSION
            if max_p < floor or min_p > PROTOCOL_VERSION or min_p > max_p:
                raise _Refusal(
                    ErrorCode.INVALID_REQUEST,
                    DetailCode.PROTOCOL_MISMATCH,
                    "protocol mismatch",
                    close=CloseCode.PROTOCOL_ERROR,
                    clientMinProtocol=min_p,
                    clientMaxProtocol=max_p,
                    expectedProtocol=PROTOCOL_VERSION,
                    minimumProbeProtocol=MIN_NODE_PROTOCOL_VERSION,
                )
            if role != "node":
                raise _Refusal(
                    ErrorCode.INVALID_REQUEST,
                    DetailCode.ROLE_NOT_ALLOWED,
                    f"this gateway serves the node role only, not {role!r}",
                )
            device = params.get("device")
            if not isinstance(device, dict):
                raise _Refusal(ErrorCode.NOT_PAIRED, DetailCode.DEVICE_IDENTITY_REQUIRED, "device identity required")
            conn = await self._authenticate(ws, req_id, params, device, nonce)
        except _Refusal as refusal:
            await self._refuse(ws, req_id, refusal)
            return None
        except Exception:  # a check we did not foresee must still end in a refusal, not a 1011
            log.exception("node gateway: unexpected error checking a connect; refusing it")
            self.stats.refusals["UNEXPECTED"] += 1  # a bug to fix: the fuzz test asserts this stays 0
            await self._refuse(
                ws,
                req_id,
                _Refusal(ErrorCode.INVALID_REQUEST, None, "invalid connect params", counter=DetailCode.INVALID_PARAMS),
            )
            return None
        self.stats.handshakes_ok += 1
        ws.protocol.max_message_size = self.max_payload_bytes
        return conn

    async def _authenticate(
        self, ws: ServerConnection, req_id: str, params: dict[str, Any], device: dict[str, Any], nonce: str
    ) -> _Conn:
        client: dict[str, Any] = params["client"]
        device_id: str = device["id"]
        try:
            key = load_public_key(device["publicKey"])
        except ValueError as exc:
            raise _Refusal(
                ErrorCode.INVALID_REQUEST,
                DetailCode.DEVICE_ID_MISMATCH,
                "device identity mismatch",
                reason="device-id-mismatch",
            ) from exc
        if device_id_from_public_key(raw_public_key(key)) != device_id:
            raise _Refusal(
                ErrorCode.INVALID_REQUEST,
                DetailCode.DEVICE_ID_MISMATCH,
                "device identity mismatch",
                reason="device-id-mismatch",
            )
        signed_at: int = device["signedAt"]
        if abs(int(self.clock() * 1000) - signed_at) > DEVICE_SIGNATURE_SKEW_MS:
            raise _Refusal(
                ErrorCode.INVALID_REQUEST,
                DetailCode.SIGNATURE_EXPIRED,
                "device signature expired",
                reason="device-signature-stale",
            )
        if not hmac.compare_digest(device["nonce"].encode("utf-8", "surrogatepass"), nonce.encode()):
            raise _Refusal(
                ErrorCode.INVALID_REQUEST,
                DetailCode.NONCE_MISMATCH,
                "device nonce mismatch",
                reason="device-nonce-mismatch",
            )
        auth: dict[str, str] = params["auth"]
        token = auth.get("token") or auth.get("deviceToken") or auth.get("bootstrapToken") or ""
        scopes: list[str] = params.get("scopes", [])
        common = dict(
            device_id=device_id,
            client_id=client["id"],
            client_mode=client["mode"],
            role=params["role"],
            scopes=scopes,
            signed_at_ms=signed_at,
            token=token,
            nonce=nonce,
        )
        v3 = build_device_auth_payload(
            "v3", platform=client.get("platform"), device_family=client.get("deviceFamily"), **common
        )
        if not verify_signature(key, v3, device["signature"]):
            v2 = build_device_auth_payload("v2", **common)
            if not verify_signature(key, v2, device["signature"]):
                raise _Refusal(
                    ErrorCode.INVALID_REQUEST,
                    DetailCode.SIGNATURE_INVALID,
                    "device signature invalid",
                    reason="device-signature",
                )

        paired = self.registry.get(device_id)
        if paired is not None and paired.public_key != device["publicKey"]:
            # Same id, other encoding of the key (PEM vs raw) is fine; a different key cannot have the same id.
            paired.public_key = device["publicKey"]
        commands = [c for c in params.get("commands", []) if isinstance(c, str)]
        display = client.get("displayName")
        client_instance = client.get("instanceId")
        new_token: str | None = None
        method: str
        if "token" in auth:
            if self._token is None or not hmac.compare_digest(
                auth["token"].encode("utf-8", "surrogatepass"), self._token.encode()
            ):
                # As OpenClaw: a device-bound client may always try its device token instead.
                raise _Refusal(
                    ErrorCode.INVALID_REQUEST,
                    DetailCode.AUTH_TOKEN_MISMATCH,
                    "unauthorized: gateway token mismatch (provide gateway auth token)",
                    authReason="token_mismatch",
                    canRetryWithDeviceToken=True,
                    recommendedNextStep="retry_with_device_token",
                )
            method = "token"
            if paired is None:
                req = self.registry.request_pairing(
                    device_id,
                    device["publicKey"],
                    display_name=display,
                    client_instance_id=client_instance,
                    remote_addr=_remote(ws),
                    commands=commands,
                )
                decision: bool | Approval = False
                if self.auto_approve_local and _direct_loopback(ws):
                    decision = True  # OpenClaw approves direct loopback connects silently
                elif self.approve_pairing is not None:
                    try:
                        decision = await self.approve_pairing(req)
                    except Exception:
                        log.exception("approve_pairing callback failed; leaving request %s pending", req.request_id)
                if decision and self.registry.take_pending(req.request_id) is not None:
                    binding = decision if isinstance(decision, Approval) else Approval()
                    paired, new_token = self.registry.pair(
                        device_id,
                        device["publicKey"],
                        approved_via="callback",
                        account_id=binding.account_id,
                        instance_id=binding.instance_id,
                        display_name=display,
                    )
                else:
                    raise _Refusal(
                        ErrorCode.NOT_PAIRED,
                        DetailCode.PAIRING_REQUIRED,
                        "pairing required: device is not approved yet",
                        close_reason=f"pairing required: device is not approved yet (requestId: {req.request_id})",
                        deviceId=device_id,
                        reason="not-paired",
                        remediationHint="Approve this device from the pending pairing requests.",
                        requestId=req.request_id,
                        requestedRole="node",
                    )
            else:
                new_token = self.registry.rotate_token(device_id)
        elif "deviceToken" in auth:
            if paired is None or not self.registry.check_device_token(device_id, auth["deviceToken"]):
                raise _Refusal(
                    ErrorCode.INVALID_REQUEST,
                    DetailCode.DEVICE_TOKEN_MISMATCH,
                    "unauthorized: device token mismatch (rotate/reissue device token)",
                    authReason="device_token_mismatch",
                    canRetryWithDeviceToken=False,
                    recommendedNextStep="update_auth_credentials",
                )
            method = "device-token"
        elif "bootstrapToken" in auth:
            grant = self.registry.peek_bootstrap(auth["bootstrapToken"])
            if grant is None:
                raise _Refusal(
                    ErrorCode.INVALID_REQUEST,
                    DetailCode.BOOTSTRAP_TOKEN_INVALID,
                    "unauthorized: bootstrap token invalid, expired or already used",
                )
            if paired is not None and paired.account_id not in (None, grant.account_id):
                raise _Refusal(ErrorCode.FORBIDDEN, DetailCode.ACCOUNT_MISMATCH, "device is paired to another account")
            # Consume, and trust only what consuming returned: another engine on the same store may
            # have taken the token between the peek and here, and it pairs exactly one device.
            if self.registry.consume_bootstrap(auth["bootstrapToken"]) is None:
                raise _Refusal(
                    ErrorCode.INVALID_REQUEST,
                    DetailCode.BOOTSTRAP_TOKEN_INVALID,
                    "unauthorized: bootstrap token invalid, expired or already used",
                )
            paired, new_token = self.registry.pair(
                device_id,
                device["publicKey"],
                approved_via="bootstrap",
                account_id=grant.account_id,
                instance_id=grant.instance_id,
                display_name=display,
            )
            method = "bootstrap-token"
        else:
            raise _Refusal(
                ErrorCode.INVALID_REQUEST,
                DetailCode.AUTH_TOKEN_MISMATCH,
                "unauthorized: unsupported credential for the node role",
                canRetryWithDeviceToken=False,
            )
        assert paired is not None

        protocol = min(params["maxProtocol"], PROTOCOL_VERSION)
        conn = _Conn(
            ws=ws,
            device_id=device_id,
            device=paired,
            display_name=display,
            client_instance_id=client_instance,
            protocol=protocol,
            commands=frozenset(commands) & self.command_allowlist,
            connected_at_ms=int(self.clock() * 1000),
            remote_addr=_remote(ws),
        )
        auth_out: dict[str, Any] = {"method": method, "role": "node", "scopes": []}
        if new_token is not None:
            auth_out["deviceToken"] = new_token
            auth_out["issuedAtMs"] = int(self.clock() * 1000)
        # The same fields as OpenClaw 2026.9's hello-ok (tests/node/fixtures/openclaw_frames.json), so a client
        # written against one parses the other; agent/session fields carry neutral values here.
        hello = {
            "type": "hello-ok",
            "protocol": protocol,
            "server": {
                "version": SERVER_VERSION,
                "buildId": SERVER_VERSION,
                "bootId": self.boot_id,
                "connId": str(uuid.uuid4()),
                "controlUiBuildSource": "none",
            },
            "features": {
                "methods": sorted(_NODE_METHODS),
                "events": [CHALLENGE_EVENT, TICK_EVENT, SHUTDOWN_EVENT, INVOKE_REQUEST_EVENT, CANCEL_EVENT],
                "capabilities": [],
            },
            "snapshot": {
                "presence": [],
                "health": {},
                "stateVersion": {"presence": 1, "health": 1},
                "uptimeMs": int(self.clock() * 1000) - self._started_ms,
                "appliedConfigHash": self._config_hash,
                "sessionDefaults": {
                    "defaultAgentId": "main",
                    "mainKey": "main",
                    "mainSessionKey": "agent:main:main",
                    "modelConfigured": False,
                    "ownership": "sole",
                    "scope": "per-sender",
                    "selectionRequired": False,
                },
                "suspension": {"phase": "accepting"},
            },
            "auth": auth_out,
            "policy": {
                "maxPayload": self.max_payload_bytes,
                "maxBufferedBytes": MAX_BUFFERED_BYTES,
                "tickIntervalMs": self.tick_interval_ms,
                "allowedSessionVisibilities": [],
                "attachments": {"maxBytes": 0, "maxImageBytes": 0},
                "hasMultipleSessionSharingIdentities": False,
            },
        }
        await ws.send(encode_frame(ResponseFrame(req_id, True, hello)))
        old = self._conns.get(device_id)
        self._conns[device_id] = conn
        if old is not None:
            log.info("node %s reconnected; closing its previous connection", device_id[:12])
            self._background(old.ws.close(CloseCode.NORMAL, "superseded by a newer connection"))
        return conn

    async def _serve(self, conn: _Conn) -> None:
        ws = conn.ws
        try:
            async for raw in ws:
                conn.last_rx = time.monotonic()
                try:
                    frame = parse_frame(raw, max_bytes=self.max_payload_bytes)
                except FrameError as exc:
                    self.stats.bad_frames_after_auth += 1
                    self.stats.refusals[DetailCode.INVALID_FRAME] += 1
                    await ws.send(
                        encode_frame(
                            ResponseFrame(
                                "invalid",
                                False,
                                error=ErrorShape(
                                    ErrorCode.INVALID_REQUEST,
                                    f"invalid frame: {exc}",
                                    {"code": DetailCode.INVALID_FRAME},
                                ),
                            )
                        )
                    )
                    continue
                if isinstance(frame, RequestFrame):
                    try:
                        payload = await self._dispatch(conn, frame)
                    except _Refusal as refusal:
                        self.stats.refusals[refusal.counter] += 1
                        log.warning("node %s: refused %s: %s", conn.device_id[:12], frame.method, refusal)
                        await ws.send(encode_frame(ResponseFrame(frame.id, False, error=refusal.error)))
                        if refusal.close is not None:
                            await ws.close(refusal.close, _reason(refusal.close_reason))
                            return
                        continue
                    except Exception:  # an unforeseen input: answer it, keep the node connected
                        log.exception("node %s: unexpected error handling %s", conn.device_id[:12], frame.method)
                        self.stats.refusals["UNEXPECTED"] += 1
                        await ws.send(
                            encode_frame(
                                ResponseFrame(
                                    frame.id,
                                    False,
                                    error=ErrorShape(
                                        ErrorCode.INVALID_REQUEST, "invalid params", {"code": DetailCode.INVALID_PARAMS}
                                    ),
                                )
                            )
                        )
                        continue
                    await self._reply(conn, ResponseFrame(frame.id, True, payload))
                # res/event/cancel from a node carry nothing we act on.
        finally:
            if self._conns.get(conn.device_id) is conn:
                del self._conns[conn.device_id]
            for invoke_id, pending in list(self._invokes.items()):
                if (
                    pending.node_id == conn.device_id
                    and self._conns.get(conn.device_id) is None
                    and not pending.future.done()
                ):
                    pending.future.set_result(
                        InvokeResult(
                            pending.node_id,
                            pending.command,
                            False,
                            error_code=ErrorCode.UNAVAILABLE,
                            error_message="node disconnected",
                        )
                    )
                    self._invokes.pop(invoke_id, None)

    async def _dispatch(self, conn: _Conn, frame: RequestFrame) -> Any:
        method, p = frame.method, frame.params
        if method == "node.event":
            return await self._on_node_event(conn, p)
        if method == "node.invoke.result":
            return self._on_invoke_result(conn, p)
        if method == "node.invoke.progress":
            return await self._on_invoke_progress(conn, p)
        if method == "node.pluginTools.update":
            return self._on_tools(conn, p)
        if method == "health":
            return {"ok": True, "ts": int(self.clock() * 1000)}
        if method in _NODE_METHODS:
            return {"ok": True, "handled": False}
        if method == "connect":
            raise _Refusal(ErrorCode.INVALID_REQUEST, DetailCode.ALREADY_CONNECTED, "already connected", close=None)
        if method.startswith(_OPERATOR_PREFIXES):
            raise _Refusal(
                ErrorCode.INVALID_REQUEST, DetailCode.ROLE_NOT_ALLOWED, "unauthorized role: node", close=None
            )
        raise _Refusal(
            ErrorCode.INVALID_REQUEST, DetailCode.UNKNOWN_METHOD, f"unknown method: {method[:64]}", close=None
        )

    async def _on_node_event(self, conn: _Conn, p: dict[str, Any]) -> Any:
        event = p.get("event")
        if not isinstance(event, str):
            raise _Refusal(
                ErrorCode.INVALID_REQUEST, DetailCode.INVALID_PARAMS, "node.event needs an event name", close=None
            )
        if event == HOST_STATS_EVENT:
            return self._on_host_stats(conn, event, p)
        if event != HEALTH_EVENT:
            return {"ok": True, "event": event, "handled": False, "reason": "unsupported_event"}
        body = p.get("payload")
        if body is None and isinstance(p.get("payloadJSON"), str):
            try:
                body = json.loads(p["payloadJSON"])
            except ValueError as exc:
                raise _Refusal(
                    ErrorCode.INVALID_REQUEST, DetailCode.INVALID_PARAMS, "payloadJSON is not JSON", close=None
                ) from exc
        try:
            report = NodeHealthReport.from_payload(body, node_id=conn.device_id)
        except FrameError as exc:
            raise _Refusal(ErrorCode.INVALID_REQUEST, DetailCode.INVALID_PARAMS, str(exc), close=None) from exc
        bound = conn.device
        if bound.account_id is not None and report.account_id not in (None, bound.account_id):
            raise _Refusal(
                ErrorCode.FORBIDDEN, DetailCode.ACCOUNT_MISMATCH, "node reported an account it is not paired for"
            )
        if bound.instance_id is not None and report.instance_id not in (None, bound.instance_id):
            raise _Refusal(
                ErrorCode.FORBIDDEN, DetailCode.ACCOUNT_MISMATCH, "node reported an instance it is not paired for"
            )
        report = dataclasses.replace(
            report,
            account_id=bound.account_id or report.account_id,
            instance_id=bound.instance_id or report.instance_id,
        )
        conn.last_health = report
        self.stats.health_reports += 1
        if self.on_health_report is not None:
            try:
                await self.on_health_report(report)
            except Exception:
                log.exception("health report handler failed for node %s", conn.device_id[:12])
                raise _Refusal(
                    ErrorCode.UNAVAILABLE, None, "health report not stored; retry later", close=None
                ) from None
        return {"ok": True, "event": event, "handled": True, "reason": "persisted"}

    def _on_host_stats(self, conn: _Conn, event: str, p: dict[str, Any]) -> dict[str, Any]:
        """OpenClaw's standard ``node.host.stats``: kept per connection, acknowledged as the real gateway does."""
        body = p.get("payload")
        if body is None and isinstance(p.get("payloadJSON"), str):
            with contextlib.suppress(ValueError):
                body = json.loads(p["payloadJSON"])
        if not _valid_host_stats(body):
            return {"ok": True, "event": event, "handled": False, "reason": "invalid_payload"}
        assert isinstance(body, dict)
        conn.host_stats = {**body, "updatedAtMs": int(self.clock() * 1000)}
        return {"ok": True, "event": event, "handled": True, "reason": "updated"}

    def _on_invoke_result(self, conn: _Conn, p: dict[str, Any]) -> Any:
        invoke_id = p.get("id")
        pending = self._invokes.get(invoke_id) if isinstance(invoke_id, str) else None
        if pending is None or pending.node_id != conn.device_id:
            # Late (already timed out) or not ours: acknowledge without effect, as the reference does.
            return {"ok": True, "ignored": True}
        self.stats.invoke_results += 1
        ok = p.get("ok") is True
        if ok:
            payload = p.get("payload")
            if "payloadJSON" in p and isinstance(p["payloadJSON"], str):
                try:
                    payload = json.loads(p["payloadJSON"])
                except ValueError:
                    payload = None
            result = InvokeResult(conn.device_id, pending.command, True, payload)
        else:
            err = p.get("error") if isinstance(p.get("error"), dict) else {}
            assert isinstance(err, dict)
            result = InvokeResult(
                conn.device_id,
                pending.command,
                False,
                error_code=str(err.get("code") or "ERROR"),
                error_message=str(err.get("message") or ""),
            )
        if not pending.future.done():
            pending.future.set_result(result)
        return {"ok": True}

    async def _on_invoke_progress(self, conn: _Conn, p: dict[str, Any]) -> Any:
        invoke_id, chunk, seq = p.get("invokeId"), p.get("chunk"), p.get("seq")
        if not isinstance(chunk, str) or len(chunk.encode("utf-8", "replace")) > MAX_PROGRESS_CHUNK_BYTES:
            raise _Refusal(
                ErrorCode.INVALID_REQUEST, DetailCode.INVALID_PARAMS, "progress chunk must be ≤ 16 KiB text", close=None
            )
        pending = self._invokes.get(invoke_id) if isinstance(invoke_id, str) else None
        if pending is None or pending.node_id != conn.device_id:
            return {"ok": True, "ignored": True}
        if pending.on_progress is not None:
            try:
                await pending.on_progress(conn.device_id, seq if isinstance(seq, int) else 0, chunk)
            except Exception:  # the caller's sink failing must not cost the node its connection
                log.exception("progress handler failed for invoke %s", invoke_id)
        return {"ok": True}

    def _on_tools(self, conn: _Conn, p: dict[str, Any]) -> Any:
        tools = p.get("tools")
        if not isinstance(tools, list):
            raise _Refusal(ErrorCode.INVALID_REQUEST, DetailCode.INVALID_PARAMS, "tools must be a list", close=None)
        accepted = [
            t
            for t in tools
            if isinstance(t, dict)
            and isinstance(t.get("name"), str)
            and _TOOL_NAME.match(t["name"])
            and isinstance(t.get("command"), str)
            and t["command"] in conn.commands
        ]
        conn.tools = accepted
        return {"nodeId": conn.device_id, "tools": accepted}


def _timeout_result(node_id: str, command: str, timeout_s: float) -> InvokeResult:
    return InvokeResult(
        node_id,
        command,
        False,
        error_code=ErrorCode.TIMEOUT,
        error_message=f"{command} did not answer within {timeout_s:g} s",
    )


def _remote(ws: ServerConnection) -> str | None:
    addr = ws.remote_address
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return None


class _Connection(ServerConnection):
    """OpenClaw closes an oversized frame with 1009 and no reason; websockets would put its own text there."""

    def __init__(self, protocol: Any, *args: Any, **kwargs: Any) -> None:
        fail = protocol.fail

        def fail_quietly(code: int, reason: str = "") -> None:
            fail(code, "" if code == CloseCode.MESSAGE_TOO_BIG else reason)

        protocol.fail = fail_quietly
        super().__init__(protocol, *args, **kwargs)


def _reason(text: str) -> str:
    """A close reason fits in 123 bytes of UTF-8."""
    data = text.encode("utf-8", "replace")
    return text if len(data) <= 123 else data[:123].decode("utf-8", "ignore")


_FORWARDING_HEADERS: Final = ("forwarded", "x-forwarded-for", "x-real-ip", "x-forwarded-host")


def _direct_loopback(ws: ServerConnection) -> bool:
    """A connect from this machine that did not come through a proxy (which would make a remote look local)."""
    addr = ws.remote_address
    host = addr[0] if isinstance(addr, tuple) and addr else None
    if not isinstance(host, str):
        return False
    try:
        loopback = ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False
    request = ws.request
    headers = request.headers if request is not None else None
    return loopback and not (headers is not None and any(h in headers for h in _FORWARDING_HEADERS))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_HOST_STATS_KEYS: Final = frozenset(
    {"cpuCount", "loadAverage", "memoryTotalBytes", "memoryFreeBytes", "diskTotalBytes", "diskAvailableBytes"}
)


def _valid_host_stats(body: Any) -> bool:
    """OpenClaw's ``NodeHostStatsPayloadSchema``: closed, integers, free <= total, disk values as a pair."""
    if not isinstance(body, dict) or set(body) - _HOST_STATS_KEYS:
        return False
    cpu, total, free = body.get("cpuCount"), body.get("memoryTotalBytes"), body.get("memoryFreeBytes")
    if not (isinstance(cpu, int) and isinstance(total, int) and isinstance(free, int)) or any(
        isinstance(v, bool) for v in (cpu, total, free)
    ):
        return False
    if not (1 <= cpu <= 4096 and 0 <= free <= total):
        return False
    load = body.get("loadAverage")
    if load is not None and not (
        isinstance(load, list)
        and len(load) == 3
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in load)
    ):
        return False
    disk_total, disk_free = body.get("diskTotalBytes"), body.get("diskAvailableBytes")
    if disk_total is None:
        return disk_free is None
    if (
        not isinstance(disk_total, int)
        or not isinstance(disk_free, int)
        or isinstance(disk_free, bool)
        or isinstance(disk_total, bool)
    ):
        return False
    return 0 <= disk_free <= disk_total


def _validate_connect(params: dict[str, Any]) -> None:
    """Strict ``ConnectParamsSchema`` check (additionalProperties:false), before anything is trusted."""

    def bad(what: str) -> _Refusal:
        return _Refusal(
            ErrorCode.INVALID_REQUEST, None, f"invalid connect params: {what}", counter=DetailCode.INVALID_PARAMS
        )

    extra = set(params) - _CONNECT_KEYS
    if extra:
        raise bad(f"at root: unexpected property {sorted(extra)[0]!r}")
    if not _is_int(params.get("minProtocol")) or not _is_int(params.get("maxProtocol")):
        raise bad("minProtocol/maxProtocol must be integers")
    client = params.get("client")
    if not isinstance(client, dict) or set(client) - _CLIENT_KEYS:
        raise bad("client")
    cid, mode = client.get("id"), client.get("mode")
    if not isinstance(cid, str) or cid not in _CLIENT_IDS or not isinstance(mode, str) or mode not in _CLIENT_MODES:
        raise bad("client.id/client.mode")
    for key in _CLIENT_KEYS - {"id", "mode"}:
        if key in client and not isinstance(client[key], str):
            raise bad(f"client.{key}")
    if not isinstance(params.get("role"), str) or params["role"] not in ("operator", "node", "worker"):
        raise bad("role")
    for key in ("scopes", "caps", "commands"):
        value = params.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or len(value) > 1024:
            raise bad(key)
    auth = params.get("auth")
    if (
        not isinstance(auth, dict)
        or not auth
        or set(auth) - _AUTH_KEYS
        or not all(isinstance(v, str) and v for v in auth.values())
    ):
        raise bad("auth must carry a credential")
    device = params.get("device")
    if device is not None:
        if not isinstance(device, dict) or set(device) != _DEVICE_KEYS:
            raise bad("device")
        if not (
            isinstance(device["id"], str)
            and isinstance(device["publicKey"], str)
            and isinstance(device["signature"], str)
            and isinstance(device["nonce"], str)
            and _is_int(device["signedAt"])
        ):
            raise bad("device field types")
