"""How ClawOps sees nodes that sit behind a real OpenClaw gateway: an operator link.

A clawnode may be paired with a user's own OpenClaw gateway instead of the engine's embedded one.
That gateway keeps the standard ``node.host.stats`` event and answers our ``clawops.health`` event
``unsupported_event``, so health cannot be *pushed* to ClawOps through it.  Instead the engine
connects to that gateway as an **operator client** (``client.id`` ``gateway-client``, mode
``backend``, scopes ``operator.read`` + ``operator.write``, an Ed25519 device identity of its own)
and:

* lists nodes (``node.list``) and follows ``node.hostStats`` broadcasts (the gateway's own host stats);
* **pulls** the full ClawOps health report by invoking ``clawops.health`` on every connected node
  that offers it, every ``poll_interval_s`` and at once when a node (re)appears, and hands each
  report to the same ``on_health_report`` sink the embedded gateway uses (so it lands in
  ``health_reports`` and Guardian reads it like any other);
* runs any allowlisted command with :meth:`invoke` (bounded results, e.g. archive pieces).

A node's report names its instance from the node's own config; the operator of the real gateway
vouches for the node by approving it there.  On a remote gateway the engine's operator device needs
one approval too (``openclaw devices approve <requestId>``); the link logs the request id and waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from engine.gateway._server import InvokeResult
from engine.retry import Backoff
from node.commands import COMMANDS
from node.identity import DeviceIdentity
from node.protocol import (
    CHALLENGE_EVENT,
    MAX_PAYLOAD_BYTES,
    PROTOCOL_VERSION,
    ErrorCode,
    EventFrame,
    FrameError,
    NodeHealthReport,
    RequestFrame,
    ResponseFrame,
    build_device_auth_payload,
    encode_frame,
    parse_frame,
)

__all__ = ["OPERATOR_SCOPES", "OpenClawOperatorLink", "UpstreamNode"]

log = logging.getLogger("clawops.gateway.upstream")

OPERATOR_SCOPES: Final = ("operator.read", "operator.write")
HOST_STATS_BROADCAST: Final = "node.hostStats"
_HEALTH = "clawops.health"
_RETRY_S = 5.0
"""A node whose health poll failed (still pairing, busy) is asked again this soon."""

HealthSink = Callable[[NodeHealthReport], Awaitable[None]]


class UpstreamError(Exception):
    """The real gateway refused a request of ours (its error code and message)."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.details = details or {}


@dataclass
class UpstreamNode:
    """One node as the real gateway lists it, plus what ClawOps learned about it."""

    node_id: str
    display_name: str | None
    connected: bool
    commands: tuple[str, ...]
    host_stats: dict[str, Any] | None = None
    last_health: NodeHealthReport | None = None
    next_poll: float = 0.0
    """Monotonic time its next health poll is due (0 = at once)."""


@dataclass
class LinkStats:
    connects: int = 0
    refusals: dict[str, int] = field(default_factory=dict)
    health_reports: int = 0
    host_stats_events: int = 0
    polls_failed: int = 0


class OpenClawOperatorLink:
    """An operator connection to one real OpenClaw gateway (see the module docstring)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        identity: DeviceIdentity | None = None,
        identity_path: str | Path | None = None,
        on_health_report: HealthSink | None = None,
        poll_interval_s: float = 30.0,
        display_name: str = "clawops-engine",
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.url = url
        self._token = token
        self.identity = identity or DeviceIdentity.load_or_create(identity_path)
        self.on_health_report = on_health_report
        self.poll_interval_s = poll_interval_s
        self.display_name = display_name
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.reconnect = Backoff(initial=backoff_initial_s, maximum=backoff_max_s, jitter=backoff_initial_s)
        """Waits between reconnects (tenacity's, ``engine.retry``): doubling to the cap, with jitter."""
        self.nodes: dict[str, UpstreamNode] = {}
        self.stats = LinkStats()
        self.hello: dict[str, Any] | None = None
        self.last_error: UpstreamError | None = None
        self.connected = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._pending: dict[str, asyncio.Future[ResponseFrame]] = {}
        self._task: asyncio.Task[None] | None = None
        self._poll_wakeup = asyncio.Event()
        self._stopping = False

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="openclaw-operator-link")

    async def stop(self) -> None:
        self._stopping = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close(1000, "clawops stopping")
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def wait_connected(self, timeout: float) -> None:
        await asyncio.wait_for(self.connected.wait(), timeout)

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            had_session = False
            try:
                await self._session()
            except UpstreamError as exc:
                self.last_error = exc
                key = str(exc.details.get("code") or exc.code)
                self.stats.refusals[key] = self.stats.refusals.get(key, 0) + 1
                if key == "PAIRING_REQUIRED":
                    log.warning(
                        "ClawOps's operator device %s waits for approval on %s: run `openclaw devices "
                        "approve %s` there",
                        self.identity.device_id[:12],
                        self.url,
                        exc.details.get("requestId", "?"),
                    )
                else:
                    log.warning("OpenClaw gateway %s refused ClawOps's operator link: %s", self.url, exc)
            except (OSError, ConnectionClosed, InvalidHandshake, InvalidURI, TimeoutError, FrameError) as exc:
                log.info("operator link to %s ended: %s", self.url, exc or type(exc).__name__)
            finally:
                had_session = self.connected.is_set()
                self.connected.clear()
                self._ws = None
                for fut in self._pending.values():
                    if not fut.done():
                        fut.set_exception(ConnectionError("operator link closed"))
                self._pending.clear()
            if self._stopping:
                return
            attempt = 0 if had_session else attempt + 1
            await asyncio.sleep(self.reconnect.wait(min(attempt, 30) + 1))

    def _connect_params(self, nonce: str, signed_at: int) -> dict[str, Any]:
        auth: dict[str, str]
        if self.identity.device_token:
            auth, token = {"deviceToken": self.identity.device_token}, self.identity.device_token
        else:
            auth, token = {"token": self._token}, self._token
        payload = build_device_auth_payload(
            "v3",
            device_id=self.identity.device_id,
            client_id="gateway-client",
            client_mode="backend",
            role="operator",
            scopes=list(OPERATOR_SCOPES),
            signed_at_ms=signed_at,
            token=token,
            nonce=nonce,
            platform="linux",
        )
        return {
            "minProtocol": PROTOCOL_VERSION,
            "maxProtocol": PROTOCOL_VERSION,
            "client": {
                "id": "gateway-client",
                "displayName": self.display_name,
                "version": "clawops",
                "platform": "linux",
                "mode": "backend",
            },
            "role": "operator",
            "scopes": list(OPERATOR_SCOPES),
            "caps": [],
            "auth": auth,
            "userAgent": "clawops-engine",
            "device": {
                "id": self.identity.device_id,
                "publicKey": self.identity.public_key_b64url,
                "signature": self.identity.sign(payload),
                "signedAt": signed_at,
                "nonce": nonce,
            },
        }

    async def _session(self) -> None:
        async with connect(
            self.url,
            open_timeout=15,
            close_timeout=2,
            max_size=2 * MAX_PAYLOAD_BYTES,
            compression=None,
            ping_interval=None,
        ) as ws:
            self._ws = ws
            async with asyncio.timeout(15):
                challenge = parse_frame(await ws.recv())
                if not isinstance(challenge, EventFrame) or challenge.event != CHALLENGE_EVENT:
                    raise FrameError("no_challenge", "the gateway did not open with connect.challenge")
                body = challenge.payload if isinstance(challenge.payload, dict) else {}
                nonce, ts = str(body.get("nonce") or ""), body.get("ts")
                signed_at = ts if isinstance(ts, int) and not isinstance(ts, bool) else int(time.time() * 1000)
                req = RequestFrame(str(uuid.uuid4()), "connect", self._connect_params(nonce, signed_at))
                used_device_token = "deviceToken" in req.params["auth"]
                await ws.send(encode_frame(req))
                while True:
                    frame = parse_frame(await ws.recv())
                    if isinstance(frame, ResponseFrame) and frame.id == req.id:
                        break
            if not frame.ok:
                err = frame.error
                if used_device_token:  # rotated or revoked: pair again with the shared token next time
                    self.identity.remember_token(None, None, [])
                raise UpstreamError(
                    err.code if err else ErrorCode.INVALID_REQUEST,
                    err.message if err else "connect refused",
                    err.details if err else {},
                )
            hello = frame.payload if isinstance(frame.payload, dict) else {}
            auth = hello.get("auth") if isinstance(hello.get("auth"), dict) else {}
            assert isinstance(auth, dict)
            if isinstance(auth.get("deviceToken"), str):
                self.identity.remember_token(auth["deviceToken"], "operator", list(OPERATOR_SCOPES))
            self.hello = hello
            self.last_error = None
            self.stats.connects += 1
            self.connected.set()
            log.info(
                "operator link connected to OpenClaw gateway %s (%s)",
                self.url,
                (hello.get("server") or {}).get("version") if isinstance(hello.get("server"), dict) else "?",
            )
            poller = asyncio.create_task(self._poll_loop())
            try:
                async for raw in ws:
                    try:
                        frame = parse_frame(raw)
                    except FrameError:
                        continue
                    if isinstance(frame, ResponseFrame):
                        fut = self._pending.pop(frame.id, None)
                        if fut is not None and not fut.done():
                            fut.set_result(frame)
                    elif isinstance(frame, EventFrame):
                        self._on_event(frame)
            finally:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await poller

    def _on_event(self, frame: EventFrame) -> None:
        body = frame.payload if isinstance(frame.payload, dict) else {}
        if frame.event == HOST_STATS_BROADCAST:
            node_id = body.get("nodeId")
            if isinstance(node_id, str):
                self.stats.host_stats_events += 1
                node = self.nodes.get(node_id)
                if node is None:  # a node we have not listed yet: list and poll now
                    self._poll_wakeup.set()
                elif isinstance(body.get("hostStats"), dict):
                    node.host_stats = body["hostStats"]
        elif frame.event in ("node.pair.resolved", "presence"):
            self._poll_wakeup.set()  # nodes come and go: look again

    # --- requests -----------------------------------------------------------------------------------

    async def request(self, method: str, params: dict[str, Any], timeout: float = 30.0) -> Any:
        ws = self._ws
        if ws is None or not self.connected.is_set():
            raise ConnectionError(f"the operator link to {self.url} is not connected")
        frame = RequestFrame(str(uuid.uuid4()), method, params)
        fut: asyncio.Future[ResponseFrame] = asyncio.get_running_loop().create_future()
        self._pending[frame.id] = fut
        try:
            await ws.send(encode_frame(frame))
            res = await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(frame.id, None)
        if not res.ok:
            err = res.error
            raise UpstreamError(
                err.code if err else ErrorCode.INVALID_REQUEST,
                err.message if err else "failed",
                err.details if err else {},
            )
        return res.payload

    async def list_nodes(self) -> list[UpstreamNode]:
        """``node.list``: every node the real gateway knows, merged into :attr:`nodes`."""
        payload = await self.request("node.list", {})
        rows = payload.get("nodes") if isinstance(payload, dict) else None
        seen: set[str] = set()
        for row in rows if isinstance(rows, list) else []:
            if not isinstance(row, dict) or not isinstance(row.get("nodeId"), str):
                continue
            node_id = row["nodeId"]
            seen.add(node_id)
            commands = tuple(c for c in row.get("commands") or [] if isinstance(c, str))
            node = self.nodes.get(node_id)
            if node is None:
                node = self.nodes[node_id] = UpstreamNode(node_id, None, False, ())
            node.display_name = row.get("displayName") if isinstance(row.get("displayName"), str) else None
            node.connected = row.get("connected") is not False
            node.commands = commands
            if isinstance(row.get("hostStats"), dict):
                node.host_stats = row["hostStats"]
        for gone in set(self.nodes) - seen:
            self.nodes.pop(gone, None)
        return list(self.nodes.values())

    async def invoke(
        self,
        node_id: str,
        command: str,
        params: Any = None,
        *,
        timeout_s: float = 30.0,
        idempotency_key: str | None = None,
    ) -> InvokeResult:
        """``node.invoke`` through the real gateway; any failure is an ``InvokeResult`` with ``ok=False``."""
        req = {
            "nodeId": node_id,
            "command": command,
            "params": {} if params is None else params,
            "timeoutMs": max(1, int(timeout_s * 1000)),
            "idempotencyKey": idempotency_key or str(uuid.uuid4()),
        }
        try:
            payload = await self.request("node.invoke", req, timeout=timeout_s + 5)
        except UpstreamError as exc:
            node_error = exc.details.get("nodeError")
            if isinstance(node_error, dict) and node_error.get("code"):
                # The node ran the command and failed: the gateway wraps the node's own error in UNAVAILABLE.
                return InvokeResult(
                    node_id,
                    command,
                    False,
                    error_code=str(node_error["code"]),
                    error_message=str(node_error.get("message") or ""),
                )
            return InvokeResult(
                node_id,
                command,
                False,
                error_code=str(exc.details.get("code") or exc.code),
                error_message=str(exc).split(": ", 1)[-1],
            )
        except (ConnectionError, ConnectionClosed) as exc:
            return InvokeResult(node_id, command, False, error_code=ErrorCode.UNAVAILABLE, error_message=str(exc))
        except TimeoutError:
            return InvokeResult(
                node_id,
                command,
                False,
                error_code=ErrorCode.TIMEOUT,
                error_message=f"{command} did not answer within {timeout_s:g} s",
            )
        body = payload if isinstance(payload, dict) else {}
        if body.get("ok") is False:
            err = body.get("error") if isinstance(body.get("error"), dict) else {}
            assert isinstance(err, dict)
            return InvokeResult(
                node_id,
                command,
                False,
                error_code=str(err.get("code") or "ERROR"),
                error_message=str(err.get("message") or ""),
            )
        result = body.get("payload")
        if result is None and isinstance(body.get("payloadJSON"), str):
            with contextlib.suppress(ValueError):
                result = json.loads(body["payloadJSON"])
        return InvokeResult(node_id, command, True, result)

    # --- health polling ------------------------------------------------------------------------------

    async def poll_health(self, node_id: str) -> NodeHealthReport | None:
        """Invoke ``clawops.health`` on one node and hand the report to the sink; None when it failed."""
        result = await self.invoke(node_id, _HEALTH, {}, timeout_s=COMMANDS[_HEALTH].timeout_s + 5)
        node = self.nodes.get(node_id)
        if node is not None:  # a failed poll is tried again soon, an answered one after the interval
            node.next_poll = time.monotonic() + (self.poll_interval_s if result.ok else _RETRY_S)
        if not result.ok:
            self.stats.polls_failed += 1
            log.info(
                "health poll of node %s through %s failed: %s %s",
                node_id[:12],
                self.url,
                result.error_code,
                result.error_message,
            )
            return None
        try:
            report = NodeHealthReport.from_payload(result.payload, node_id=node_id)
        except FrameError:
            self.stats.polls_failed += 1
            return None
        if node is not None:
            node.last_health = report
        self.stats.health_reports += 1
        if self.on_health_report is not None:
            try:
                await self.on_health_report(report)
            except Exception:
                log.exception("health report handler failed for node %s", node_id[:12])
        return report

    async def poll_once(self, *, due_only: bool = False) -> int:
        """List nodes and poll the connected ones that offer ``clawops.health``; how many answered.

        ``due_only``: only nodes whose next poll is due (the loop's rule; new nodes are due at once).
        """
        nodes = await self.list_nodes()
        now = time.monotonic()
        targets = [
            n.node_id for n in nodes if n.connected and _HEALTH in n.commands and (not due_only or n.next_poll <= now)
        ]
        reports = await asyncio.gather(*(self.poll_health(n) for n in targets))
        return sum(1 for r in reports if r is not None)

    async def _poll_loop(self) -> None:
        while True:
            self._poll_wakeup.clear()
            try:
                await self.poll_once(due_only=True)
            except (UpstreamError, ConnectionError, TimeoutError) as exc:
                log.info("health poll through %s failed: %s", self.url, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poll_wakeup.wait(), min(self.poll_interval_s, _RETRY_S))
