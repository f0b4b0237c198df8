"""``clawops web``: the same chat in a browser, through textual-serve, behind the operator's API key.

textual-serve starts one chat process per browser tab and has no
authentication of its own, so this module puts a door in front of it:

* it listens on loopback only; for other machines, put an HTTPS reverse proxy
  in front (nginx, Caddy) and pass ``--public-url https://chat.example.com`` so
  the page uses ``wss:`` and the session cookie is ``Secure``;
* ``GET /`` without a session shows a small sign-in form; ``POST /login`` checks
  the API key (against the daemon when ``engine_url`` is set, else this
  machine's store) and sets an ``HttpOnly``, ``SameSite=Strict`` cookie holding
  a random session id — never the key itself;
* every other path (page, ``/ws``, static files, downloads) needs that session,
  or ``Authorization: Bearer <key>`` for scripts; a WebSocket from another
  origin is refused (cross-site WebSocket hijacking);
* each tab's chat process runs *as the signed-in operator*: with a daemon it
  gets that operator's key (``CLAWOPS_API_KEY``) in its environment, embedded
  it gets ``CLAWOPS_OPERATOR``.  Nothing secret is put on a command line.
"""

from __future__ import annotations

import asyncio
import html
import ipaddress
import logging
import os
import secrets
import shlex
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server

from engine.client import TooManyAttempts

__all__ = ["WebChat", "WebSession", "chat_command", "is_loopback", "serve_web"]

log = logging.getLogger("clawops.web")

COOKIE = "clawops_web"
SESSION_TTL = 12 * 3600.0
OPEN_PATHS = frozenset({"/login", "/logout"})

LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ClawOps — sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ background: #0c181f; color: #e0e6ea; font: 16px/1.5 menlo, monospace; display: flex;
       align-items: center; justify-content: center; height: 100vh; margin: 0; }}
form {{ display: flex; flex-direction: column; gap: .75em; width: 26em; }}
input, button {{ font: inherit; padding: .5em; }}
.error {{ color: #ff8a80; }}
.hint {{ color: #9fb3bf; font-size: .85em; }}
</style></head>
<body><form method="post" action="/login">
<h1>ClawOps</h1>
<label for="key">Your operator API key</label>
<input id="key" name="key" type="password" autocomplete="current-password" autofocus required>
{error}
<button type="submit">Open the chat</button>
<p class="hint">No key yet? On the engine's machine, <code>clawops operator key YOUR-NAME</code> prints a new one
(shown once); an owner adds you with <code>clawops operator add YOUR-NAME --role operator --key</code>. The first
daemon start writes the owner's key to <code>$CLAWOPS_HOME/owner.key</code>.</p>
</form></body></html>
"""


@dataclass(frozen=True, slots=True)
class WebSession:
    """One signed-in browser: who, with which key (kept here for the chat process, never sent back)."""

    operator: str
    key: str
    expires: float


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def chat_command(config: Path | None = None) -> str:
    """The command each tab runs: this Python's ``clawops`` chat (no secrets on the command line)."""
    parts = [sys.executable, "-m", "app.cli"]
    if config is not None:
        parts += ["--config", str(config)]
    return " ".join(shlex.quote(p) for p in parts)


class _OperatorAppService(AppService):
    """textual-serve's per-tab process, with the signed-in operator's environment added."""

    def __init__(self, command: str, extra_env: dict[str, str], **kwargs: Any) -> None:
        super().__init__(command, **kwargs)
        self._extra_env = extra_env

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment = super()._build_environment(width=width, height=height)
        for name in ("CLAWOPS_API_KEY", "CLAWOPS_OPERATOR"):
            environment.pop(name, None)  # the server's own identity never leaks into a tab
        environment.update(self._extra_env)
        return environment


EnvFor = Callable[[WebSession], dict[str, str]]


class KeyCheck(Protocol):
    """``check(key, source=peer) -> operator name``; raises for a wrong key (``source`` feeds the login throttle)."""

    def __call__(self, key: str, *, source: str | None = None) -> str: ...


SESSION_KEY: web.RequestKey[WebSession] = web.RequestKey("clawops_session", WebSession)


class WebChat(Server):
    """textual-serve's server with sign-in, sessions and per-operator chat processes."""

    def __init__(
        self,
        command: str,
        *,
        check_key: KeyCheck,
        env_for: EnvFor,
        host: str = "127.0.0.1",
        port: int = 8743,
        public_url: str | None = None,
        title: str = "ClawOps",
    ) -> None:
        """``check_key(key) -> operator name`` raises for a wrong key; ``env_for(session)`` is the environment a
        tab's chat process needs to act as that operator."""
        if not is_loopback(host):
            raise ValueError(f"clawops web listens on loopback only, not {host}; put an HTTPS proxy in front.")
        super().__init__(command, host=host, port=port, title=title, public_url=public_url)
        self._fixed_public_url = public_url is not None
        self.check_key = check_key
        self.env_for = env_for
        self.sessions: dict[str, WebSession] = {}

    @property
    def secure(self) -> bool:
        return self.public_url.startswith("https:")

    # ------------------------------------------------------------------ the door
    def _sign_in(self, key: str, source: str | None = None) -> WebSession | str | None:
        """A session, or ``None`` for a refused key, or the sentence to show when sign-ins are throttled."""
        key = key.strip()
        if not key or len(key) > 512:
            return None
        try:
            operator = self.check_key(key, source=source)
        except TooManyAttempts as exc:
            log.info("web sign-in throttled for %s", source)
            return str(exc)
        except Exception as exc:  # a wrong key, an unreachable daemon: either way, not in
            log.info("web sign-in refused: %s", type(exc).__name__)
            return None
        return WebSession(operator=operator, key=key, expires=time.monotonic() + SESSION_TTL)

    async def _session(self, request: web.Request) -> WebSession | None:
        token = request.cookies.get(COOKIE, "")
        found = self.sessions.get(token) if token else None
        if found is not None and found.expires < time.monotonic():
            self.sessions.pop(token, None)
            found = None
        if found is None:
            scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() == "bearer" and bearer:
                signed = await asyncio.to_thread(self._sign_in, bearer, request.remote)
                found = signed if isinstance(signed, WebSession) else None
        return found

    def _same_origin(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return True  # not a browser (scripts, tests)
        allowed = {f"{request.scheme}://{request.host}", self.public_url.rstrip("/")}
        parts = urlsplit(self.public_url)
        allowed.add(f"{parts.scheme}://{parts.netloc}")
        return origin.rstrip("/") in allowed

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        session = await self._session(request)
        if session is None:
            if request.path == "/" and request.method == "GET":
                return self._login_page()
            return web.json_response({"error": "Sign in with your operator API key first."}, status=401)
        if request.path == "/ws" and not self._same_origin(request):
            return web.json_response({"error": "This chat refuses WebSockets from other sites."}, status=403)
        request[SESSION_KEY] = session
        response = await handler(request)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    def _login_page(self, error: str = "", status: int = 200) -> web.Response:
        note = f'<p class="error">{html.escape(error)}</p>' if error else ""
        response = web.Response(text=LOGIN_PAGE.format(error=note), content_type="text/html", status=status)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def handle_login(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return self._login_page()
        form = await request.post()
        session = await asyncio.to_thread(self._sign_in, str(form.get("key", "")), request.remote)
        if isinstance(session, str):
            return self._login_page(session, status=429)
        if session is None:
            return self._login_page("That key was not accepted; check it and try again.", status=401)
        now = time.monotonic()
        for stale in [t for t, known in self.sessions.items() if known.expires < now]:
            del self.sessions[stale]
        token = secrets.token_urlsafe(32)
        self.sessions[token] = session
        log.info("web sign-in", extra={"operator": session.operator})
        response = web.Response(status=303, headers={"Location": "/"})
        response.set_cookie(
            COOKIE, token, httponly=True, samesite="Strict", secure=self.secure, path="/", max_age=int(SESSION_TTL)
        )
        return response

    async def handle_logout(self, request: web.Request) -> web.StreamResponse:
        self.sessions.pop(request.cookies.get(COOKIE, ""), None)
        response = web.Response(status=303, headers={"Location": "/"})
        response.del_cookie(COOKIE, path="/")
        return response

    # ------------------------------------------------------------------ textual-serve, per operator
    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._guard)
        app.router.add_route("GET", "/login", self.handle_login)
        app.router.add_route("POST", "/login", self.handle_login)
        app.router.add_route("GET", "/logout", self.handle_logout)
        return app

    async def on_startup(self, app: web.Application) -> None:
        """Quiet start (textual-serve prints a banner); our log line says where we are."""

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        session = request[SESSION_KEY]
        websocket = web.WebSocketResponse(heartbeat=15)
        width = _int(request.query.get("width"), 80)
        height = _int(request.query.get("height"), 24)
        await websocket.prepare(request)
        service = _OperatorAppService(
            self.command,
            self.env_for(session),
            write_bytes=websocket.send_bytes,
            write_str=websocket.send_str,
            close=websocket.close,
            download_manager=self.download_manager,
            debug=self.debug,
        )
        log.info("web chat opened", extra={"operator": session.operator})
        try:
            await service.start(width, height)
            await self._process_messages(websocket, service)
        except asyncio.CancelledError:
            await websocket.close()
        except Exception:
            log.exception("web chat failed")
        finally:
            await service.stop()
            await _reap(service)
        return websocket


async def _reap(service: AppService) -> None:
    """Wait for the tab's process and close its transport now, while the loop still runs."""
    process: Any = getattr(service, "_process", None)
    if process is None:
        return
    try:
        await asyncio.wait_for(process.wait(), 10)
    except TimeoutError:
        process.kill()
        await process.wait()
    transport = getattr(process, "_transport", None)
    if transport is not None:
        transport.close()


def _int(value: str | None, default: int) -> int:
    try:
        return max(10, min(int(value or default), 1000))
    except ValueError:
        return default


async def serve_web(chat: WebChat, *, stop: asyncio.Event, ready: Callable[[str], None] | None = None) -> None:
    """Serve until ``stop`` is set; ``ready`` gets the URL (the real port when 0 was asked for)."""
    runner = web.AppRunner(await chat._make_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, chat.host, chat.port)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else chat.port
    chat.port = port
    if not chat._fixed_public_url:
        chat.public_url = f"http://{chat.host}:{port}"
    log.info("web chat listening", extra={"url": f"http://{chat.host}:{port}", "public_url": chat.public_url})
    if ready is not None:
        ready(f"http://{chat.host}:{port}")
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def run_web(*, config: Path | None, host: str, port: int, public_url: str | None) -> None:
    """``clawops web`` in the foreground until Ctrl+C or SIGTERM."""
    import signal

    from engine.client import key_checker, load_settings

    settings = load_settings(config)
    daemon = settings.engine_url is not None

    def env_for(session: WebSession) -> dict[str, str]:
        if daemon:
            return {"CLAWOPS_API_KEY": session.key}
        # embedded too: the key (not just its operator's name) so a read-scoped key stays a viewer in the tab
        return {"CLAWOPS_OPERATOR": session.operator, "CLAWOPS_API_KEY": session.key}

    chat = WebChat(
        chat_command(config),
        check_key=key_checker(config_file=config),
        env_for=env_for,
        host=host,
        port=port,
        public_url=public_url,
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve_web(chat, stop=stop, ready=lambda url: print(url, flush=True))

    logging.basicConfig(level=os.environ.get("CLAWOPS_LOG_LEVEL", "INFO"), stream=sys.stderr)
    asyncio.run(main())
