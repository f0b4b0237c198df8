"""The operator API: HTTP + WebSocket on aiohttp, in front of one :class:`~engine.runtime.Engine`.

Routes (all need ``Authorization: Bearer <operator API key>``)::

    GET  /healthz               liveness, and who you are
    GET  /v1/whoami             operator, role, tenant, demo flag
    POST /v1/turns              one turn; answers the ``clawops ask --json`` contract (``"call": {"tool",
                                "args"}`` sends a structured tool call instead of words to read)
                                (``?detail=full`` adds plan/job views for a chat)
    GET  /v1/stream  (WS)       turns as events, and the shared feed of every operator's turns
    GET  /v1/audit/verify       the audit chain check
    GET  /v1/history            ?session=NAME&limit=N: this operator's messages, oldest first
    GET  /v1/search             ?q=TEXT&limit=N: this operator's messages containing TEXT
    GET  /metrics               Prometheus text format
    GET  /webhook/whatsapp      Meta's verify handshake (hub.mode, hub.verify_token, hub.challenge)
    POST /webhook/whatsapp      WhatsApp messages, signed (X-Hub-Signature-256), no API key
    POST /webhook/telegram      Telegram updates in webhook mode (X-Telegram-Bot-Api-Secret-Token), no API key

A wrong key gets ``401 {"error": "<one sentence>"}``; too many wrong keys from one
peer (or for one key prefix) get ``429`` with ``Retry-After`` and a sentence saying
how long to wait (``engine.trust._throttle``).  WebSocket frames are JSON:
the client sends ``{"op": "turn", "id", "message", "session", "dry_run", "yes", "call"?}``
or ``{"op": "subscribe"}``; the server sends ``{"type": "hello", ...}``,
``{"type": "event", "turn": id, "event": ...}`` (see ``engine.api._wire``) and
``{"type": "feed", ...}`` items.  ``turn_started`` means the engine accepted the
turn: a client may resend a message only if it never saw that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from engine.api._auth import Authenticate, default_authenticator
from engine.api._errors import Unauthorized
from engine.api._guard import IdempotencyConflict, IdempotentTurns, TooLarge, check_text, parse_json_object
from engine.api._history import load_history, search_history
from engine.api._metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from engine.api._metrics import ApiStats, MetricsSource, render_metrics
from engine.api._turns import _scrub, run_turn
from engine.api._wire import audit_to_wire, event_to_wire, progress_to_wire, turn_to_wire
from engine.conversation import ToolCall
from engine.errors import ClawOpsError, InputError, NotFound, PolicyRefusal, StoreError, TooManyAttempts
from engine.events import EngineEvent, TokenDelta, ToolCalled, TurnFailed, TurnFinished, TurnStarted, visible_to
from engine.operations import JobProgress
from engine.policy import Caller

if TYPE_CHECKING:
    from engine.runtime import Engine

__all__ = ["ApiState", "create_app"]

log = logging.getLogger("clawops.api")

MAX_BODY = 4 * 1024 * 1024  # a 1 MB paste, JSON-escaped, fits
CHANNELS = {"api", "cli", "tui", "web", "bench"}


class ApiState:
    """What the handlers share: the engine, the key check, counters, live sockets and turns."""

    def __init__(self, engine: Engine, authenticate: Authenticate, sources: Iterable[MetricsSource]) -> None:
        self.engine = engine
        self.authenticate = authenticate
        self.sources = list(sources)
        self.stats = ApiStats()
        self.sockets: set[web.WebSocketResponse] = set()
        self.turns: set[asyncio.Task[Any]] = set()
        self.idempotent = IdempotentTurns()
        self.closing = False


STATE: web.AppKey[ApiState] = web.AppKey("clawops_api", ApiState)
CALLER: web.RequestKey[Caller] = web.RequestKey("clawops_caller", Caller)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _status_for(err: ClawOpsError) -> int:
    if isinstance(err, Unauthorized):
        return 401
    if isinstance(err, NotFound):
        return 404
    if isinstance(err, TooLarge):
        return 413
    if isinstance(err, IdempotencyConflict):
        return 422
    if isinstance(err, InputError):
        return 400
    if isinstance(err, PolicyRefusal):
        return 403
    if isinstance(err, StoreError):
        return 503
    return 500


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@web.middleware
async def _auth_and_log(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every call: authenticate the key, then run, then one JSON log line and a counter."""
    state = request.app[STATE]
    started = time.monotonic()
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    operator = None
    status = 500
    if route == "/webhook/{channel}":  # the messaging services sign their calls; they hold no API key
        try:
            hooked = await handler(request)
            status = hooked.status
            return hooked
        finally:
            state.stats.requests[(route, status)] += 1
            log.info(
                "request",
                extra={
                    "method": request.method,
                    "route": route,
                    "status": status,
                    "ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
    try:
        try:
            caller = state.authenticate(_bearer(request), source=request.remote)
        except TooManyAttempts as err:
            # Too many failures from this peer (or for this key): refused unchecked, said once per burst.
            state.stats.unauthorized += 1
            response: web.StreamResponse = _error(429, str(err))
            response.headers["Retry-After"] = str(max(1, math.ceil(err.retry_after)))
        except ClawOpsError as err:
            state.stats.unauthorized += 1
            response = _error(401, str(err).splitlines()[0] if str(err) else "Unauthorized.")
            response.headers["WWW-Authenticate"] = 'Bearer realm="clawops"'
        else:
            operator = caller.name
            request[CALLER] = caller
            try:
                response = await handler(request)
            except web.HTTPRequestEntityTooLarge:
                response = _error(
                    413, f"The request body is larger than {MAX_BODY // (1024 * 1024)} MB; send a shorter message."
                )
            except web.HTTPException as exc:
                response = _error(exc.status, exc.reason)
            except ClawOpsError as err:
                response = _error(_status_for(err), str(err))
            except Exception:
                log.exception("handler crashed", extra={"route": route, "operator": operator})
                response = _error(
                    500,
                    "The engine hit an internal error; it is logged. If it was a turn, ask "
                    "for the list of jobs before sending it again.",
                )
        status = response.status
        return response
    finally:
        state.stats.requests[(route, status)] += 1
        log.info(
            "request",
            extra={
                "method": request.method,
                "route": route,
                "status": status,
                "operator": operator,
                "ms": round((time.monotonic() - started) * 1000, 1),
            },
        )


def _caller(request: web.Request) -> Caller:
    return request[CALLER]


def _channel(value: Any) -> str:
    channel = str(value or "api")
    if channel not in CHANNELS:
        raise InputError(f"Unknown channel '{channel}'; use one of {', '.join(sorted(CHANNELS))}.")
    return channel


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "operator": _caller(request).name})


async def whoami(request: web.Request) -> web.Response:
    caller = _caller(request)
    return web.json_response(
        {
            "operator": caller.name,
            "role": caller.role.value,
            "tenant": caller.tenant_id,
            "demo": request.app[STATE].engine.settings.demo,
        }
    )


async def _json_body(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object: strict UTF-8, shallow, no lone surrogates (``engine.api._guard``)."""
    return parse_json_object(await request.read())


def _message(body: dict[str, Any]) -> tuple[str, str | None]:
    message = body.get("message")
    session = body.get("session")
    if not isinstance(message, str):
        raise InputError("'message' must be a string; say what you want the team to do.")
    if session is not None and (not isinstance(session, str) or len(session) > 100):
        raise InputError("'session' must be a name of at most 100 characters.")
    check_text(message)
    if session is not None:
        check_text(session, "session name", 100)
    for flag in ("dry_run", "yes"):
        if body.get(flag) is not None and not isinstance(body.get(flag), bool):
            raise InputError(f"'{flag}' must be true or false.")
    return message, session


def _tool_call(body: dict[str, Any]) -> ToolCall | None:
    """``"call": {"tool", "args"}``: a slash command sent as a structured call (no brain reads ``message``)."""
    return None if body.get("call") is None else ToolCall.from_wire(body["call"])


async def post_turn(request: web.Request) -> web.Response:
    """One turn; with an ``Idempotency-Key`` header a retry gets the first answer, never a second run."""
    state = request.app[STATE]
    body = await _json_body(request)
    message, session = _message(body)
    call = _tool_call(body)
    channel = _channel(body.get("channel"))
    caller = _caller(request)
    header = request.headers.getall("Idempotency-Key", [])
    if len(header) > 1:
        raise InputError("Send one Idempotency-Key header, not several.")

    def start() -> asyncio.Future[Any]:
        task = asyncio.ensure_future(
            _turn(
                state,
                caller,
                message,
                session,
                channel=channel,
                dry_run=bool(body.get("dry_run")),
                yes=bool(body.get("yes")),
                call=call,
            )
        )
        state.turns.add(task)
        task.add_done_callback(state.turns.discard)
        return task

    replayed = False
    if header:
        key = IdempotentTurns.valid_key(header[0])
        task, replayed = state.idempotent.start(caller.operator_id, key, body, start)
    else:
        task = start()
    # shielded: a client that hangs up does not cancel a turn the engine already started
    result = await asyncio.shield(task)
    response = web.json_response(turn_to_wire(result, detail=request.query.get("detail") == "full"))
    if header:
        response.headers["Idempotent-Replayed"] = "true" if replayed else "false"
    return response


async def _turn(
    state: ApiState,
    caller: Caller,
    message: str,
    session: str | None,
    *,
    channel: str,
    dry_run: bool = False,
    yes: bool = False,
    on_delta: Callable[[str, str], None] | None = None,
    call: ToolCall | None = None,
) -> Any:
    try:
        result = await run_turn(
            state.engine,
            message,
            operator=caller.name,
            channel=channel,
            session=session,
            dry_run=dry_run,
            yes=yes,
            on_delta=on_delta,
            caller=caller,
            call=call,
        )
    except ClawOpsError:
        state.stats.turns["error"] += 1
        raise
    state.stats.turns["ok"] += 1
    log.info(
        "turn",
        extra={
            "operator": caller.name,
            "channel": channel,
            "session": session,
            "chars": len(message),
            "tools": [c.tool for c in result.tool_calls],
        },
    )
    return result


async def audit(request: web.Request) -> web.Response:
    """The chain check *and* the anchor check (a missing or disagreeing anchor is a failed verify).

    The chain spans every tenant, so a tenant-scoped caller is refused (rule 6), as for audit queries.
    """
    caller = _caller(request)
    if caller.tenant_id is not None:
        raise PolicyRefusal(
            "rule6_tenant_isolation",
            "Refused by rule 6: the audit chain spans every tenant, and "
            f"{caller.name} is scoped to {caller.tenant_id}; ask an unscoped operator.",
        )
    from engine.trust import verify_anchored

    engine = request.app[STATE].engine
    report = await asyncio.to_thread(verify_anchored, engine.store, engine.trust.anchor_path)
    return web.json_response(audit_to_wire(report))


def _limit(request: web.Request, default: int) -> int:
    try:
        return int(request.query.get("limit", default))
    except ValueError:
        raise InputError("'limit' must be a whole number.") from None


async def history(request: web.Request) -> web.Response:
    state = request.app[STATE]
    rows = load_history(
        state.engine.store, _caller(request).operator_id, request.query.get("session"), _limit(request, 200)
    )
    return web.json_response({"messages": [r.to_wire() for r in rows]})


async def search(request: web.Request) -> web.Response:
    state = request.app[STATE]
    rows = search_history(
        state.engine.store, _caller(request).operator_id, request.query.get("q", ""), _limit(request, 50)
    )
    return web.json_response({"messages": [r.to_wire() for r in rows]})


async def metrics(request: web.Request) -> web.Response:
    state = request.app[STATE]
    text = render_metrics(
        state.engine, state.stats, state.engine.feed.published, state.sources, tenant_id=_caller(request).tenant_id
    )
    return web.Response(body=text.encode("utf-8"), headers={"Content-Type": METRICS_CONTENT_TYPE})


async def webhook(request: web.Request) -> web.StreamResponse:
    """A messaging service's webhook: the channel checks the signature on the raw body before reading it."""
    name = request.match_info["channel"]
    hook = request.app[STATE].engine.channel_hub.webhooks.get(name)
    if hook is None:
        return _error(404, f"No {name} webhook is served here: the channel is not configured on this engine.")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _error(413, "The webhook body is too large.")
    try:
        status, text = await hook(request.method, request.query, request.headers, body)
    except Exception:
        log.exception("webhook crashed", extra={"channel": name})
        return _error(500, "The engine hit an internal error on this webhook; it is logged.")
    return web.Response(status=status, text=text)


async def stream(request: web.Request) -> web.StreamResponse:
    """One operator's socket: turns in, events and the shared feed out."""
    state = request.app[STATE]
    caller = _caller(request)
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=MAX_BODY)
    await ws.prepare(request)
    state.sockets.add(ws)
    state.stats.websockets += 1
    send_lock = asyncio.Lock()
    feed_task: asyncio.Task[None] | None = None

    async def send(data: dict[str, Any]) -> None:
        async with send_lock:
            if not ws.closed:
                await ws.send_json(data)

    try:
        await send(
            {"type": "hello", "operator": caller.name, "role": caller.role.value, "demo": state.engine.settings.demo}
        )
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                frame = parse_json_object(msg.data)
            except InputError as err:
                await send({"type": "error", "error": f"Frames must be JSON objects: {err}"})
                continue
            op = frame.get("op")
            if op == "subscribe" and feed_task is None:
                feed_task = asyncio.ensure_future(_forward_feed(state, caller, send))
            elif op == "turn":
                task = asyncio.ensure_future(_ws_turn(state, caller, frame, send, lambda: ws.closed))
                state.turns.add(task)
                task.add_done_callback(state.turns.discard)
            elif op != "subscribe":
                await send({"type": "error", "error": f"Unknown op {op!r}; use 'turn' or 'subscribe'."})
    finally:
        if feed_task is not None:
            feed_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feed_task
        state.sockets.discard(ws)
        state.stats.websockets -= 1
    return ws


async def _forward_feed(state: ApiState, caller: Caller, send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    """The shared feed for one socket: turns as ``feed`` frames, job progress as ``job`` frames (rule 6 applied)."""
    async with state.engine.feed.subscribe() as queue:
        while True:
            item = await queue.get()
            if not visible_to(item, caller.tenant_id):
                continue
            if isinstance(item, JobProgress):
                await send({"type": "job", **progress_to_wire(item)})
            else:
                await send({"type": "feed", **item.to_wire()})


async def _ws_turn(
    state: ApiState,
    caller: Caller,
    frame: dict[str, Any],
    send: Callable[[dict[str, Any]], Awaitable[None]],
    closed: Callable[[], bool],
) -> None:
    turn_id = str(frame.get("id") or "")

    async def emit(event: EngineEvent) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await send({"type": "event", "turn": turn_id, **event_to_wire(event)})

    try:
        message, session = _message(frame)
        call = _tool_call(frame)
        channel = _channel(frame.get("channel") or "tui")
    except ClawOpsError as err:
        await emit(TurnFailed(str(err)))
        return
    if state.closing:  # not accepted: the client may safely send it again to the next engine
        with contextlib.suppress(ConnectionError, RuntimeError):
            await send({"type": "retry", "turn": turn_id})
        return
    if closed():  # the operator's client is gone before we said "accepted": it will resend, so do not run
        return
    await emit(TurnStarted(_scrub(state.engine, message), session))
    pending: set[asyncio.Task[None]] = set()

    def stream_delta(agent: str, text: str) -> None:
        # the model's reply as it streams (already redacted by run_turn); sent in order on the socket's lock
        task = asyncio.ensure_future(emit(TokenDelta(agent, text)))
        pending.add(task)
        task.add_done_callback(pending.discard)

    try:
        result = await _turn(
            state,
            caller,
            message,
            session,
            channel=channel,
            dry_run=bool(frame.get("dry_run")),
            yes=bool(frame.get("yes")),
            on_delta=stream_delta,
            call=call,
        )
        if pending:
            await asyncio.gather(*pending)  # every delta is on the wire before the finished turn
    except ClawOpsError as err:
        await emit(TurnFailed(str(err)))
        return
    except Exception:
        log.exception("turn crashed", extra={"operator": caller.name})
        await emit(
            TurnFailed(
                "The engine hit an internal error on this turn; it is logged. Ask for the list "
                "of jobs before sending it again."
            )
        )
        return
    for call in result.tool_calls:
        await emit(ToolCalled(call.tool, call.status, call.message))
    await emit(TurnFinished(result))


async def _on_shutdown(app: web.Application) -> None:
    """Graceful: refuse new turns, let running ones finish (bounded), then say goodbye to sockets."""
    state = app[STATE]
    state.closing = True
    if state.turns:
        log.info("draining turns", extra={"turns": len(state.turns)})
        await asyncio.wait(list(state.turns), timeout=30)
    for ws in list(state.sockets):
        await ws.close(code=1001, message=b"engine shutting down")


def create_app(
    engine: Engine, *, authenticate: Authenticate | None = None, sources: Iterable[MetricsSource] = ()
) -> web.Application:
    """The aiohttp application; ``authenticate`` defaults to the trust package's check (or its fallback)."""
    app = web.Application(middlewares=[_auth_and_log], client_max_size=MAX_BODY)
    app[STATE] = ApiState(engine, authenticate or default_authenticator(engine), sources)
    app.add_routes(
        [
            web.get("/healthz", healthz),
            web.get("/v1/whoami", whoami),
            web.post("/v1/turns", post_turn),
            web.get("/v1/stream", stream),
            web.get("/v1/audit/verify", audit),
            web.get("/v1/history", history),
            web.get("/v1/search", search),
            web.get("/metrics", metrics),
            web.get("/webhook/{channel}", webhook),
            web.post("/webhook/{channel}", webhook),
        ]
    )
    app.on_shutdown.append(_on_shutdown)
    return app
