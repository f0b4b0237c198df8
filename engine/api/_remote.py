"""``RemoteClient``: the chat's client interface over a ``clawops engine`` daemon.

``engine.client`` (above this package) picks it or the embedded client (``open_client``); this module never
imports the client layer.

Same methods as the embedded client.  Turns stream over the WebSocket; if the
daemon is down or restarting, the message stays queued here, the chat is told
(:class:`ConnectionLost`), and the message is sent once the daemon is back
(:class:`ConnectionRestored`).  It is resent only if the daemon never said it
accepted it (``turn_started``): a turn the daemon had started is never sent
twice, because "provision 20" run twice is worse than a clear error.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.api._errors import EngineUnavailable, Unauthorized
from engine.api._history import HistoryMessage
from engine.api._wire import audit_from_wire, event_from_wire, progress_from_wire, turn_from_wire
from engine.audit import AuditReport
from engine.conversation import ToolCall, TurnResult
from engine.errors import ClawOpsError, InputError, NotFound, StoreError, TooManyAttempts
from engine.events import EngineEvent, FeedItem, TurnFailed, TurnFinished, TurnStarted
from engine.operations import JobProgress
from engine.retry import Backoff
from engine.tls import default_tls_context

__all__ = ["ClientEvent", "ConnectionLost", "ConnectionRestored", "RemoteClient", "key_checker"]

MAX_FRAME = 8 * 1024 * 1024

ENGINE_LINK = Backoff(initial=0.2, maximum=2.0)
"""Reconnecting to the daemon: 0.2, 0.4, 0.8, 1.6, then every 2 s, until the turn's deadline or close()
(network errors and websocket failures retry; a refused API key never does)."""


@dataclass(frozen=True, slots=True)
class ConnectionLost:
    """The daemon went away (down or restarting); ``message`` says what happens to what was typed."""

    message: str


@dataclass(frozen=True, slots=True)
class ConnectionRestored:
    """The daemon is back; a queued message is being sent now."""

    message: str


ClientEvent = EngineEvent | ConnectionLost | ConnectionRestored


class _Retry(Exception):
    """The daemon refused a turn because it is shutting down: not accepted, so safe to resend."""


def _raise_for(status: int, body: Any, url: str) -> None:
    message = body.get("error") if isinstance(body, dict) else None
    message = str(message or f"The engine at {url} answered HTTP {status}; see its log.")
    if status == 401:
        raise Unauthorized(message)
    if status == 429:
        wait = body.get("retry_after") if isinstance(body, dict) else None
        raise TooManyAttempts(message, float(wait) if isinstance(wait, int | float) else 60.0)  # says when to retry
    if status == 404:
        raise NotFound(message)
    if status == 400:
        raise InputError(message)
    if status == 503:
        raise StoreError(message)
    raise ClawOpsError(message)


class RemoteClient:
    """One operator's connection to a daemon, authenticated by API key."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        channel: str = "tui",
        retry_for: float = 60.0,
        timeout: float = 120.0,
        check: bool = True,
    ) -> None:
        """``retry_for``: how long a queued message waits for an unreachable daemon before giving up.
        ``check`` asks the daemon who we are now, so a wrong key or URL is one clear error at start."""
        self.url = url.rstrip("/")
        self.channel = channel
        self.retry_for = retry_for
        self.timeout = timeout
        self._key = api_key
        self._closed = False
        self.operator: str | None = None
        self._demo = False
        if check:
            who = self._get_sync("/v1/whoami")
            self.operator = str(who.get("operator"))
            self._demo = bool(who.get("demo"))

    def __repr__(self) -> str:  # never the key
        return f"RemoteClient(url={self.url!r}, operator={self.operator!r})"

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"}

    @property
    def _ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http") + "/v1/stream"

    def _unreachable(self, exc: BaseException) -> EngineUnavailable:
        return EngineUnavailable(
            f"The engine at {self.url} is not reachable ({type(exc).__name__}); "
            "start it with 'clawops engine' or check engine_url."
        )

    def _get_sync(self, path: str, **params: Any) -> Any:
        import httpx

        try:
            resp = httpx.get(
                self.url + path,
                headers=self._headers,
                params=params,
                timeout=self.timeout,
                verify=default_tls_context(),
            )
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        return self._decode(resp)

    def _decode(self, resp: Any) -> Any:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code >= 400:
            _raise_for(resp.status_code, body, self.url)
        return body

    async def _request(self, method: str, path: str, *, json_body: Any = None, params: Any = None) -> Any:
        import httpx

        try:
            async with httpx.AsyncClient(timeout=self.timeout, verify=default_tls_context()) as http:
                resp = await http.request(method, self.url + path, headers=self._headers, json=json_body, params=params)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        return self._decode(resp)

    # ------------------------------------------------------------------ the client interface
    async def ask(
        self,
        message: str,
        *,
        session: str | None = None,
        dry_run: bool = False,
        yes: bool = False,
        call: ToolCall | None = None,
    ) -> TurnResult:
        """One turn over HTTP; an unreachable daemon is an immediate :class:`EngineUnavailable`."""
        body: dict[str, Any] = {
            "message": message,
            "session": session,
            "dry_run": dry_run,
            "yes": yes,
            "channel": self.channel,
        }
        if call is not None:
            body["call"] = call.to_wire()
        data = await self._request("POST", "/v1/turns", json_body=body, params={"detail": "full"})
        return turn_from_wire(data)

    async def stream(
        self, message: str, *, session: str | None = None, call: ToolCall | None = None
    ) -> AsyncIterator[ClientEvent]:
        """The turn as events; waits for (and tells about) an unreachable daemon instead of losing the message."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus, WebSocketException

        turn_id = secrets.token_hex(8)
        frame = json.dumps(
            {
                "op": "turn",
                "id": turn_id,
                "message": message,
                "session": session,
                "channel": self.channel,
                **({"call": call.to_wire()} if call is not None else {}),
            }
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_for
        delays = ENGINE_LINK.delays()
        lost = False
        accepted = False
        while True:
            try:
                async with connect(
                    self._ws_url,
                    additional_headers=self._headers,
                    max_size=MAX_FRAME,
                    open_timeout=10,
                    ping_interval=20,
                    ping_timeout=60,
                ) as ws:
                    if lost:
                        lost = False
                        yield ConnectionRestored(f"Reconnected to the engine at {self.url}; sending your message.")
                    await ws.send(frame)
                    async for raw in ws:
                        data = json.loads(raw)
                        if data.get("type") == "retry" and data.get("turn") == turn_id:
                            raise _Retry
                        if data.get("type") != "event" or data.get("turn") != turn_id:
                            continue
                        event = event_from_wire(data)
                        if isinstance(event, TurnStarted):
                            accepted = True
                        yield event
                        if isinstance(event, TurnFinished | TurnFailed):
                            return
                    raise ConnectionError("closed")
            except InvalidStatus as exc:
                if exc.response.status_code == 401:
                    yield TurnFailed(_one_line(exc.response.body) or "The engine refused the API key.")
                    return
                failure: BaseException = exc
            except (OSError, TimeoutError, WebSocketException, _Retry) as exc:
                failure = exc
            if accepted:
                yield TurnFailed(
                    "The connection to the engine dropped while it worked on this; it was not sent "
                    "again (so nothing runs twice). Check the outcome with /status."
                )
                return
            if loop.time() >= deadline:
                yield TurnFailed(
                    f"The engine at {self.url} is still unreachable after {self.retry_for:.0f} s; your "
                    "message was not sent. Press Up to send it again."
                )
                return
            if not lost:
                lost = True
                yield ConnectionLost(
                    f"The engine at {self.url} is not reachable ({type(failure).__name__}); your "
                    "message is kept and will be sent once it is back."
                )
            await asyncio.sleep(next(delays))

    async def ask_voice(
        self, audio: Path, *, session: str | None = None, dry_run: bool = False, yes: bool = False
    ) -> Any:
        """A voice note over the daemon: heard on this machine, sent as text, the reply spoken here.

        The recording never leaves the operator's machine; the daemon gets the transcript, exactly as if
        it had been typed (so history, redaction and the feed are the same).
        """
        from engine.briefer import ask_voice
        from engine.config import load_settings

        out_dir = load_settings().home / "voice"
        return await ask_voice(
            audio, lambda text: self.ask(text, session=session, dry_run=dry_run, yes=yes), out_dir=out_dir
        )

    @property
    def whoami(self) -> str:
        """The operator the daemon knows this key as."""
        return str(self.operator)

    async def feed(self) -> AsyncIterator[FeedItem | JobProgress | ConnectionLost | ConnectionRestored]:
        """Every operator's turns as they finish and job progress as it happens; reconnects by itself until
        :meth:`close`."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus, WebSocketException

        delays = ENGINE_LINK.delays()
        lost = False
        while not self._closed:
            try:
                async with connect(
                    self._ws_url,
                    additional_headers=self._headers,
                    max_size=MAX_FRAME,
                    open_timeout=10,
                    ping_interval=20,
                    ping_timeout=60,
                ) as ws:
                    await ws.send(json.dumps({"op": "subscribe"}))
                    if lost:
                        lost = False
                        yield ConnectionRestored(f"Reconnected to the engine at {self.url}.")
                    delays = ENGINE_LINK.delays()
                    async for raw in ws:
                        data = json.loads(raw)
                        if data.get("type") == "feed":
                            yield FeedItem.from_wire(data)
                        elif data.get("type") == "job":
                            yield progress_from_wire(data)
            except InvalidStatus as exc:
                if exc.response.status_code == 401:
                    raise Unauthorized(_one_line(exc.response.body) or "The engine refused the API key.") from None
            except (OSError, TimeoutError, WebSocketException):
                pass
            if self._closed:
                return
            if not lost:
                lost = True
                yield ConnectionLost(f"Lost the engine at {self.url}; reconnecting.")
            await asyncio.sleep(next(delays))

    def audit_verify(self) -> AuditReport:
        return audit_from_wire(self._get_sync("/v1/audit/verify"))

    async def history(self, session: str | None, limit: int = 200) -> list[HistoryMessage]:
        params: dict[str, Any] = {"limit": limit}
        if session is not None:
            params["session"] = session
        data = await self._request("GET", "/v1/history", params=params)
        return [HistoryMessage.from_wire(m) for m in data["messages"]]

    async def search(self, text: str, limit: int = 50) -> list[HistoryMessage]:
        data = await self._request("GET", "/v1/search", params={"q": text, "limit": limit})
        return [HistoryMessage.from_wire(m) for m in data["messages"]]

    def redact(self, text: str) -> str:
        """The daemon scrubs secrets before they leave it; nothing more is known here."""
        return text

    @property
    def is_demo(self) -> bool:
        return self._demo

    def close(self) -> None:
        self._closed = True


def _one_line(body: bytes | bytearray | None) -> str:
    if not body:
        return ""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    return str(data.get("error", "")) if isinstance(data, dict) else ""


def key_checker(*, config_file: Path | None = None) -> Callable[..., str]:
    """``(key, source=peer) -> operator name`` (or :class:`Unauthorized` / :class:`TooManyAttempts`) for front
    ends that guard a door, like ``clawops web``.

    Asks the daemon when ``engine_url`` is set (the daemon then throttles by this front end's address), else
    this machine's store, throttling failed keys by the browser's own address.
    """
    from engine.api._auth import default_authenticator
    from engine.config import load_settings

    settings = load_settings(config_file)
    if settings.engine_url:
        url = settings.engine_url

        def ask_daemon(key: str, source: str | None = None) -> str:
            client = RemoteClient(url, key, check=True)
            return str(client.operator)

        return ask_daemon
    from engine.runtime import Engine

    engine = Engine.open(settings)
    check = default_authenticator(engine, channel="web")

    def local(key: str, source: str | None = None) -> str:
        return check(key, source=source).name

    return local
