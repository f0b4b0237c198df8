"""The clawnode WebSocket client: handshake, session loop and the reconnect policy.

One :class:`NodeClient` is one node.  It holds no threads and no per-node OS resources beyond its
socket, so many simulated nodes can share one event loop.  The reconnect policy follows the
reference with a faster start: jittered exponential backoff from 0.5 s to 30 s (tenacity computes the
bound), capped at 2 s for the first minute after a session ended so a node is back within about 2 s
of a restarted gateway reopening its port; dead link after 2 x ``tickIntervalMs``
without a frame (close 4000), and a decision per error code — wait on ``PAIRING_REQUIRED``, fall back
from a rejected device token to the shared/bootstrap one, stop on a shared-token mismatch that
cannot be retried, honour ``retryAfterMs`` on ``UNAVAILABLE``, and sign v2 when a gateway rejects v3.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import random
import ssl
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from tenacity import RetryCallState, wait_exponential
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from node import __version__
from node.commands import CommandRunner, InvokeOutcome
from node.config import NodeConfig
from node.errors import FatalConnectError
from node.health import HealthCollector, NodeFacts, host_stats_payload
from node.identity import DeviceIdentity
from node.protocol import (
    CANCEL_EVENT,
    CHALLENGE_EVENT,
    CLIENT_ID,
    CLIENT_MODE,
    HANDSHAKE_TIMEOUT_MS,
    HEALTH_EVENT,
    HOST_STATS_EVENT,
    INVOKE_REQUEST_EVENT,
    MAX_PAYLOAD_BYTES,
    MAX_PREAUTH_PAYLOAD_BYTES,
    MIN_NODE_PROTOCOL_VERSION,
    PROTOCOL_VERSION,
    SHUTDOWN_EVENT,
    TICK_INTERVAL_MS,
    CloseCode,
    DetailCode,
    ErrorCode,
    ErrorShape,
    EventFrame,
    FrameError,
    InvokeRequest,
    NodeHealthReport,
    RequestFrame,
    ResponseFrame,
    build_device_auth_payload,
    encode_frame,
    parse_frame,
)
from node.system import ProcSystem, System

__all__ = ["ConnectRefused", "NodeClient", "RequestFailed"]

log = logging.getLogger("clawnode")


class ConnectRefused(Exception):
    """The gateway answered ``connect`` with an error (carried for the reconnect decision)."""

    def __init__(self, error: ErrorShape) -> None:
        super().__init__(f"{error.code}/{error.detail_code}: {error.message}")
        self.error = error


class RequestFailed(Exception):
    def __init__(self, error: ErrorShape) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.error = error


class _LinkLost(Exception):
    """Internal: the session ended (dead link, simulated network loss, server close)."""


@dataclass
class ClientStats:
    connects: int = 0
    connect_attempts: int = 0
    refusals: dict[str, int] = field(default_factory=dict)
    health_sent: int = 0
    host_stats_sent: int = 0
    health_events_unsupported: int = 0
    """Sessions on which the gateway answered our ``clawops.health`` event ``unsupported_event`` (a real
    OpenClaw gateway): health then reaches ClawOps through its operator link, not as events."""
    invokes: int = 0
    dead_links: int = 0
    health_rtt_ms: deque[float] = field(default_factory=lambda: deque(maxlen=32))
    """Round trips of the last health reports (answered or refused), for benches and diagnostics."""


class NodeClient:
    """Runs one node until :meth:`stop` (or a fatal refusal, raised as :class:`FatalConnectError`)."""

    def __init__(
        self,
        config: NodeConfig,
        *,
        identity: DeviceIdentity | None = None,
        system: System | None = None,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        restart_cap_s: float = 2.0,
        restart_window_s: float = 60.0,
        settle_s: float = 3.0,
        signature_version: Literal["v2", "v3"] = "v3",
        rng: random.Random | None = None,
        watch_interval_s: float | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.config = config
        self.identity = identity or DeviceIdentity.load_or_create(config.state_path)
        self.system: System = system or ProcSystem(
            gateway_service=config.gateway_service,
            gateway_process=config.gateway_process,
            config_path=config.openclaw_config_path,
            data_dir=config.data_dir,
            log_path=config.log_path,
        )
        self.log = logger or log
        self.facts = NodeFacts(
            node_id=self.identity.device_id,
            hostname=config.hostname,
            account_id=config.account_id,
            instance_id=config.instance_id,
            provider=config.provider,
            region=config.region,
            tier=config.tier,
            role=config.role,
            version=__version__,
        )
        self.collector = HealthCollector(self.system, self.facts, probe_url=config.gateway_probe_url)
        self.runner = CommandRunner(
            self.system, self.collector, account_id=config.account_id, settle_s=settle_s, spool_dir=config.spool_dir
        )
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.restart_cap_s = restart_cap_s
        """While a lost session is recent, retries stay this close together: a restarting gateway returns."""
        self.restart_window_s = restart_window_s
        self._session_ended_at: float | None = None
        self._health_events = True
        """False once the gateway answered ``unsupported_event`` to ``clawops.health`` (this session)."""
        self.signature_version: Literal["v2", "v3"] = signature_version
        self.rng = rng or random.Random()
        self.watch_interval_s = watch_interval_s
        self.stats = ClientStats()
        self.hello: dict[str, Any] | None = None
        self.last_error: ErrorShape | None = None
        self.connected = asyncio.Event()
        self._stopping = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._pending: dict[str, asyncio.Future[ResponseFrame]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._bootstrap_spent = False
        self._device_token_rejected = False
        self._pairing_logged: str | None = None
        self._last_rx = time.monotonic()
        self._last_tx = time.monotonic()
        self._retry_after_s: float | None = None

    # --- public API -----------------------------------------------------------------------------------

    @property
    def device_id(self) -> str:
        return self.identity.device_id

    async def stop(self) -> None:
        self._stopping.set()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close(CloseCode.NORMAL, "clawnode stopping")

    async def wait_connected(self, timeout: float) -> None:
        await asyncio.wait_for(self.connected.wait(), timeout)

    async def run(self) -> None:
        """Connect, serve, reconnect; return after :meth:`stop`; raise FatalConnectError when retrying is futile."""
        attempt = 0
        while not self._stopping.is_set():
            if not self.system.network_available():
                await self._sleep(self._backoff(attempt))
                attempt += 1
                continue
            self.stats.connect_attempts += 1
            self._retry_after_s = None
            had_session = False
            try:
                await self._connect_once()
            except ConnectRefused as exc:
                self._on_refused(exc.error)  # raises FatalConnectError when we must stop
            except FatalConnectError:
                raise
            except (
                OSError,
                ConnectionClosed,
                InvalidHandshake,
                InvalidURI,
                TimeoutError,
                _LinkLost,
                FrameError,
            ) as exc:
                self.log.info(
                    "clawnode %s: link to %s ended: %s",
                    self.facts.hostname,
                    self.config.gateway,
                    type(exc).__name__ if not str(exc) else exc,
                )
            finally:
                had_session = self.connected.is_set()  # a session ran: the next retry starts the backoff over
                if had_session:
                    self._session_ended_at = time.monotonic()
                self.connected.clear()
                self._ws = None
                self._fail_pending()
            if self._stopping.is_set():
                break
            attempt = 0 if had_session else attempt + 1
            if had_session and self._retry_after_s is not None:
                # A restart announcement is a hint, not a ban: retrying early costs one refused connect.
                self._retry_after_s = min(self._retry_after_s, self.restart_cap_s)
            delay = self._retry_after_s if self._retry_after_s is not None else self._backoff(attempt)
            await self._sleep(delay)
        await self._cancel_tasks()
        self.runner.discard_archives()

    # --- connection -----------------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        """Delay before retry ``attempt`` (0 = the first): "equal jitter" under an exponential bound.

        The bound is ``backoff_initial_s * 2**attempt`` (tenacity's ``wait_exponential``) up to
        ``backoff_max_s`` — or up to ``restart_cap_s`` while the last session ended less than
        ``restart_window_s`` ago.  The delay is drawn from [bound/2, bound]: never zero, never in step
        with the rest of a fleet that lost the same gateway.
        """
        cap = self.backoff_max_s
        if self._session_ended_at is not None and time.monotonic() - self._session_ended_at < self.restart_window_s:
            cap = min(cap, self.restart_cap_s)
        state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]  # the strategy reads attempt_number only
        state.attempt_number = min(attempt, 30) + 1
        bound = wait_exponential(multiplier=self.backoff_initial_s, max=cap)(state)
        return bound * (0.5 + self.rng.random() / 2)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _auth(self) -> tuple[dict[str, str], str]:
        if self.identity.device_token and not self._device_token_rejected:
            return {"deviceToken": self.identity.device_token}, self.identity.device_token
        if self.config.bootstrap_token and not self._bootstrap_spent:
            return {"bootstrapToken": self.config.bootstrap_token}, self.config.bootstrap_token
        if self.config.token:
            return {"token": self.config.token}, self.config.token
        raise FatalConnectError(
            "clawnode has no usable credential: the device token was rejected and no shared token is "
            "configured; set 'token' in the config or re-provision the node.",
            DetailCode.AUTH_TOKEN_MISMATCH,
        )

    def connect_params(self, nonce: str, signed_at_ms: int) -> dict[str, Any]:
        """The ``connect`` params, strictly the documented fields (the server rejects unknown ones)."""
        auth, token = self._auth()
        platform = "linux"
        payload = build_device_auth_payload(
            self.signature_version,
            device_id=self.identity.device_id,
            client_id=CLIENT_ID,
            client_mode=CLIENT_MODE,
            role="node",
            scopes=[],
            signed_at_ms=signed_at_ms,
            token=token,
            nonce=nonce,
            platform=platform,
        )
        instance = self.config.instance_id or self.config.hostname
        return {
            "minProtocol": MIN_NODE_PROTOCOL_VERSION,
            "maxProtocol": PROTOCOL_VERSION,
            "client": {
                "id": CLIENT_ID,
                "displayName": self.config.display_name or self.config.hostname,
                "version": __version__,
                "platform": platform,
                "mode": CLIENT_MODE,
                "instanceId": instance[:128],
            },
            "role": "node",
            "scopes": [],
            "caps": ["system"],
            "commands": self.runner.command_names(),
            "auth": auth,
            "locale": "en-US",
            "userAgent": f"clawnode-py/{__version__}",
            "device": {
                "id": self.identity.device_id,
                "publicKey": self.identity.public_key_b64url,
                "signature": self.identity.sign(payload),
                "signedAt": signed_at_ms,
                "nonce": nonce,
            },
        }

    def _ssl_context(self) -> ssl.SSLContext | None:
        """With a pinned fingerprint the CA chain is not consulted; the pin is checked before we sign anything."""
        if not self.config.gateway.startswith("wss://") or not self.config.tls_fingerprint:
            return None
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def _check_pin(self, ws: ClientConnection) -> None:
        pin = self.config.tls_fingerprint
        if not pin:
            return
        sslobj = ws.transport.get_extra_info("ssl_object")
        der = sslobj.getpeercert(binary_form=True) if sslobj is not None else None
        seen = hashlib.sha256(der).hexdigest() if der else ""
        if not hmac.compare_digest(seen, pin.replace(":", "").lower()):
            # Not fatal: a hijacked route may heal, and an exited node would leave the VPS unmanaged.
            self.log.error(
                "clawnode %s: the gateway's TLS certificate (sha256 %s) does not match the pinned "
                "tls_fingerprint; not connecting, retrying in %.0f s",
                self.facts.hostname,
                seen or "none",
                self.backoff_max_s,
            )
            self.stats.refusals["TLS_PIN_MISMATCH"] = self.stats.refusals.get("TLS_PIN_MISMATCH", 0) + 1
            self._retry_after_s = self.backoff_max_s
            raise _LinkLost("TLS pin mismatch")

    async def _connect_once(self) -> None:
        timeout = HANDSHAKE_TIMEOUT_MS / 1000
        async with connect(
            self.config.gateway,
            open_timeout=timeout,
            close_timeout=2,
            max_size=MAX_PAYLOAD_BYTES,
            compression=None,
            ping_interval=None,
            max_queue=64,
            ssl=self._ssl_context(),
        ) as ws:
            self._ws = ws
            self._check_pin(ws)
            async with asyncio.timeout(timeout):
                challenge = parse_frame(await ws.recv(), max_bytes=MAX_PREAUTH_PAYLOAD_BYTES)
                if not isinstance(challenge, EventFrame) or challenge.event != CHALLENGE_EVENT:
                    raise FrameError("no_challenge", "the gateway did not open with connect.challenge")
                body = challenge.payload if isinstance(challenge.payload, dict) else {}
                nonce = body.get("nonce")
                if not isinstance(nonce, str) or not nonce:
                    raise FrameError("no_challenge", "connect.challenge without a nonce")
                ts = body.get("ts")
                signed_at = int(ts) if isinstance(ts, int) and not isinstance(ts, bool) else int(time.time() * 1000)
                req = RequestFrame(id=str(uuid.uuid4()), method="connect", params=self.connect_params(nonce, signed_at))
                used_auth = next(iter(req.params["auth"]))
                await ws.send(encode_frame(req))
                while True:
                    frame = parse_frame(await ws.recv())
                    if isinstance(frame, ResponseFrame) and frame.id == req.id:
                        break
            if not frame.ok:
                err = frame.error or ErrorShape(ErrorCode.INVALID_REQUEST, "connect refused")
                raise ConnectRefused(dataclasses.replace(err, details={**err.details, "_usedAuth": used_auth}))
            hello = frame.payload if isinstance(frame.payload, dict) else {}
            self._on_hello(hello, used_auth)
            await self._session(ws, hello)

    def _on_hello(self, hello: dict[str, Any], used_auth: str) -> None:
        self.hello = hello
        self.last_error = None
        self.stats.connects += 1
        self._pairing_logged = None
        if used_auth == "bootstrapToken":
            self._bootstrap_spent = True  # single use, whatever happens next
        auth = hello.get("auth") if isinstance(hello.get("auth"), dict) else {}
        assert isinstance(auth, dict)
        token = auth.get("deviceToken")
        if isinstance(token, str) and token:
            scopes = auth.get("scopes")
            self.identity.remember_token(
                token, str(auth.get("role") or "node"), [str(s) for s in scopes] if isinstance(scopes, list) else []
            )
            self._device_token_rejected = False
        self.log.info(
            "clawnode %s: connected to %s as %s (protocol %s, auth %s)",
            self.facts.hostname,
            self.config.gateway,
            self.identity.device_id[:12],
            hello.get("protocol"),
            auth.get("method"),
        )

    def _on_refused(self, error: ErrorShape) -> None:
        """Decide what the next attempt does; raise FatalConnectError when no retry can succeed."""
        self.last_error = error
        detail = error.detail_code or ""
        used = error.details.get("_usedAuth")
        self.stats.refusals[detail or error.code] = self.stats.refusals.get(detail or error.code, 0) + 1
        if detail == DetailCode.PAIRING_REQUIRED:
            request_id = str(error.details.get("requestId") or "")
            if self._pairing_logged != request_id:
                self.log.warning(
                    "clawnode %s: waiting for the operator to approve pairing (request %s, device %s)",
                    self.facts.hostname,
                    request_id or "?",
                    self.identity.device_id,
                )
                self._pairing_logged = request_id
            return
        if error.code == ErrorCode.UNAVAILABLE:
            if error.retry_after_ms is not None:
                self._retry_after_s = max(0.0, error.retry_after_ms / 1000)
            return
        if detail == DetailCode.PROTOCOL_MISMATCH:
            raise FatalConnectError(
                f"The gateway speaks a protocol clawnode {__version__} does not ({error.message}); upgrade clawnode.",
                detail,
            )
        if used == "deviceToken" and ("TOKEN" in detail or error.code == ErrorCode.NOT_PAIRED):
            if self.config.token or (self.config.bootstrap_token and not self._bootstrap_spent):
                # Revoked or rotated: forget it and pair again with the shared or bootstrap token.
                self.log.warning(
                    "clawnode %s: the gateway rejected our device token (%s); re-pairing",
                    self.facts.hostname,
                    detail or error.code,
                )
                self._device_token_rejected = True
                self.identity.remember_token(None, None, [])
                self._retry_after_s = 0.0
            else:
                # Nothing else to try: keep the token (a gateway restored from backup will know it
                # again) and retry slowly rather than exit and leave the VPS unmanaged.
                self.log.error(
                    "clawnode %s: the gateway rejected our device token (%s) and no other "
                    "credential is configured; retrying every %.0f s - re-provision this node "
                    "with a new bootstrap token if it persists",
                    self.facts.hostname,
                    detail or error.code,
                    self.backoff_max_s,
                )
                self._retry_after_s = self.backoff_max_s
            return
        if used == "bootstrapToken" and "TOKEN" in detail:
            self._bootstrap_spent = True
            if not self.config.token:
                raise FatalConnectError(
                    "The gateway rejected the bootstrap token (expired or already used) and no shared token is "
                    "configured; issue a new bootstrap token for this instance.",
                    detail,
                )
            self._retry_after_s = 0.0
            return
        if detail == DetailCode.AUTH_TOKEN_MISMATCH:
            can_retry = bool(error.details.get("canRetryWithDeviceToken"))
            if can_retry and self.identity.device_token:
                self._device_token_rejected = False
                return
            raise FatalConnectError(
                "The gateway rejected the shared token (gateway token mismatch); fix 'token' in the clawnode config.",
                detail,
            )
        if detail == DetailCode.SIGNATURE_INVALID:
            # Older gateways (and some peers) verify v2 only: try the other payload version next time.
            self.signature_version = "v2" if self.signature_version == "v3" else "v3"
            self.log.warning(
                "clawnode %s: signature rejected; retrying with a %s signature",
                self.facts.hostname,
                self.signature_version,
            )
            return
        self.log.warning(
            "clawnode %s: connect refused: %s/%s %s", self.facts.hostname, error.code, detail, error.message
        )

    # --- session --------------------------------------------------------------------------------------

    async def _session(self, ws: ClientConnection, hello: dict[str, Any]) -> None:
        policy = hello.get("policy") if isinstance(hello.get("policy"), dict) else {}
        assert isinstance(policy, dict)
        tick_ms = policy.get("tickIntervalMs")
        tick_s = (tick_ms if isinstance(tick_ms, int) and tick_ms > 0 else TICK_INTERVAL_MS) / 1000
        self._last_rx = time.monotonic()
        self.connected.set()
        session_tasks = [
            asyncio.create_task(self._watchdog(ws, tick_s)),
            asyncio.create_task(self._health_loop()),
            asyncio.create_task(self._publish_tools()),
        ]
        try:
            async for message in ws:
                self._last_rx = time.monotonic()
                try:
                    frame = parse_frame(message)
                except FrameError as exc:
                    self.log.debug("clawnode: ignoring bad frame from gateway: %s", exc)
                    continue
                self._dispatch(ws, frame)
        finally:
            for t in session_tasks:
                t.cancel()
            for t in session_tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        code = ws.close_code
        if code == CloseCode.DEAD_LINK:
            raise _LinkLost("dead link")
        if code in (CloseCode.SERVICE_RESTART, CloseCode.TRY_AGAIN_LATER):
            raise _LinkLost(f"gateway closed with {code} (restart/try again later)")
        if code not in (None, CloseCode.NORMAL) or not self._stopping.is_set():
            raise _LinkLost(f"gateway closed the link ({code} {ws.close_reason or ''})".strip())

    def _dispatch(self, ws: ClientConnection, frame: Any) -> None:
        if isinstance(frame, ResponseFrame):
            fut = self._pending.pop(frame.id, None)
            if fut is not None and not fut.done():
                fut.set_result(frame)
        elif isinstance(frame, EventFrame):
            if frame.event == INVOKE_REQUEST_EVENT:
                try:
                    req = InvokeRequest.from_payload(frame.payload)
                except FrameError as exc:
                    self.log.warning("clawnode: malformed invoke request ignored: %s", exc)
                    return
                self._spawn(self._serve_invoke(ws, req))
            elif frame.event == CANCEL_EVENT:
                body = frame.payload if isinstance(frame.payload, dict) else {}
                invoke_id = body.get("invokeId") or body.get("id")
                if isinstance(invoke_id, str):
                    self.runner.cancel(invoke_id)
            elif frame.event == SHUTDOWN_EVENT:
                body = frame.payload if isinstance(frame.payload, dict) else {}
                expected = body.get("restartExpectedMs")
                if isinstance(expected, (int, float)) and not isinstance(expected, bool) and 0 <= expected < 3.6e6:
                    self._retry_after_s = expected / 1000
        # `req` from a gateway and `cancel` frames are not part of the node role; ignored.

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _cancel_tasks(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    async def request(self, method: str, params: dict[str, Any], timeout: float = 15.0) -> Any:
        """Send a ``req`` on the live link and return its payload; raise RequestFailed on ``ok:false``."""
        ws = self._ws
        if ws is None:
            raise _LinkLost("not connected")
        frame = RequestFrame(id=str(uuid.uuid4()), method=method, params=params)
        fut: asyncio.Future[ResponseFrame] = asyncio.get_running_loop().create_future()
        self._pending[frame.id] = fut
        self._last_tx = time.monotonic()
        try:
            await ws.send(encode_frame(frame))
            res = await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(frame.id, None)
        if not res.ok:
            raise RequestFailed(res.error or ErrorShape(ErrorCode.INVALID_REQUEST, "request failed"))
        return res.payload

    async def send_request(self, method: str, params: dict[str, Any]) -> None:
        """Send a ``req`` without waiting for its ``res`` (which :meth:`_dispatch` then ignores)."""
        ws = self._ws
        if ws is None:
            raise _LinkLost("not connected")
        self._last_tx = time.monotonic()
        await ws.send(encode_frame(RequestFrame(id=str(uuid.uuid4()), method=method, params=params)))

    def _fail_pending(self) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(_LinkLost("link closed"))
        self._pending.clear()

    async def _watchdog(self, ws: ClientConnection, tick_s: float) -> None:
        interval = self.watch_interval_s or max(0.05, min(tick_s / 2, 15.0))
        while True:
            await asyncio.sleep(interval)
            if not self.system.network_available():
                self.log.info("clawnode %s: network down; dropping the link", self.facts.hostname)
                self.stats.dead_links += 1
                await ws.close(CloseCode.DEAD_LINK, "network down")
                return
            if time.monotonic() - self._last_rx > 2 * tick_s:
                self.log.warning(
                    "clawnode %s: no frame for %.0f s (2 x tick); reconnecting", self.facts.hostname, 2 * tick_s
                )
                self.stats.dead_links += 1
                await ws.close(CloseCode.DEAD_LINK, "dead link")
                return
            if time.monotonic() - self._last_tx >= tick_s:
                # Health reports slower than the tick: say we are alive, so the gateway keeps our link.
                self._spawn(self._presence())

    async def _presence(self) -> None:
        with contextlib.suppress(RequestFailed, TimeoutError, _LinkLost, ConnectionClosed):
            await self.request(
                "node.event", {"event": "node.presence.alive", "payload": {"ts": int(time.time() * 1000)}}
            )

    async def send_health(self) -> NodeHealthReport:
        """Collect a report and send it: as ``clawops.health`` where the gateway takes it (ClawOps's own
        gateway), and always as the standard ``node.host.stats`` when that is due."""
        report = await self.collector.collect()
        if self._health_events:
            start = time.perf_counter()
            try:
                ack = await self.request("node.event", {"event": HEALTH_EVENT, "payload": report.to_payload()})
            finally:
                self.stats.health_rtt_ms.append((time.perf_counter() - start) * 1000)
            if isinstance(ack, dict) and ack.get("handled") is False and ack.get("reason") == "unsupported_event":
                # A real OpenClaw gateway: it keeps node.host.stats, and ClawOps pulls the full report by
                # invoking clawops.health through its operator link.  Stop sending what nobody reads.
                self._health_events = False
                self.stats.health_events_unsupported += 1
                self.log.info(
                    "clawnode %s: the gateway does not take clawops.health events; sending node.host.stats "
                    "(ClawOps reads full health by invoking clawops.health)",
                    self.facts.hostname,
                )
            else:
                self.stats.health_sent += 1
        return report

    async def send_host_stats(self, report: NodeHealthReport | None = None) -> bool:
        """Send OpenClaw's standard ``node.host.stats`` event; True when the gateway kept it."""
        report = report or await self.collector.collect()
        payload = host_stats_payload(report, self.collector.cpu_count())
        if payload is None:
            return False
        ack = await self.request("node.event", {"event": HOST_STATS_EVENT, "payload": payload})
        self.stats.host_stats_sent += 1
        return isinstance(ack, dict) and ack.get("handled") is True

    async def _health_loop(self) -> None:
        self._health_events = True  # every gateway (re)connected to is asked again
        next_stats = 0.0
        while True:
            try:
                report = await self.send_health()
                if time.monotonic() >= next_stats:
                    next_stats = time.monotonic() + self.config.host_stats_interval_s
                    await self.send_host_stats(report)
            except RequestFailed as exc:
                # PAIRING_CHANGED: a real gateway re-checks a node whose surface approval just changed.
                level = logging.INFO if exc.error.detail_code == "PAIRING_CHANGED" else logging.WARNING
                self.log.log(level, "clawnode %s: gateway refused health report: %s", self.facts.hostname, exc)
            except (_LinkLost, ConnectionClosed):
                return
            except TimeoutError:
                self.log.info("clawnode %s: health report not acknowledged in time", self.facts.hostname)
            delay = self.config.health_interval_s if self._health_events else self.config.host_stats_interval_s
            await asyncio.sleep(min(delay, max(0.05, next_stats - time.monotonic())))

    async def _publish_tools(self) -> None:
        """Tool descriptors are dropped on disconnect, so republish after every (re)connect."""
        try:
            await self.request("node.pluginTools.update", {"tools": self.runner.plugin_tools()})
        except RequestFailed as exc:
            self.log.info("clawnode %s: gateway did not take our tools: %s", self.facts.hostname, exc)
        except (_LinkLost, ConnectionClosed, TimeoutError):
            return

    async def _serve_invoke(self, ws: ClientConnection, req: InvokeRequest) -> None:
        self.stats.invokes += 1
        seq = 0

        async def progress(chunk: str) -> None:
            nonlocal seq
            seq += 1
            with contextlib.suppress(RequestFailed, TimeoutError):
                await self.request(
                    "node.invoke.progress",
                    {"invokeId": req.id, "nodeId": self.identity.device_id, "seq": seq, "chunk": chunk},
                )

        outcome: InvokeOutcome = await self.runner.execute(req, progress)
        params: dict[str, Any] = {"id": req.id, "nodeId": self.identity.device_id, "ok": outcome.ok}
        if outcome.ok:
            params["payloadJSON"] = json.dumps(outcome.payload, separators=(",", ":"))
        else:
            err = outcome.error or ErrorShape(ErrorCode.COMMAND_FAILED, "failed")
            params["error"] = {"code": err.code, "message": err.message}
        # The result is the invoke's single terminal answer; the gateway's ack carries nothing we act on, so it
        # is not waited for (at a 10,000-node fan-out a future and a timer per invoke is measurable CPU).
        with contextlib.suppress(_LinkLost, ConnectionClosed):
            await self.send_request("node.invoke.result", params)
