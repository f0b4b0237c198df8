"""What every vendor emulator shares: the world, its clock, faults, rate limits, middleware, startup.

An emulator is an aiohttp application on a loopback port.  :class:`EmulatorState`
is its whole world (servers, actions, incidents, faults) and is what a test or the
demo reaches into to plant an orphan or break a region.  Time is emulated:
``state.now()`` runs ``time_scale`` times faster than the wall clock and
``state.advance(seconds)`` jumps it, so lifecycles (``initializing`` → ``running``),
action progress and rate-limit refills need no real waiting.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# --- faults ------------------------------------------------------------------------------------


@dataclass
class Faults:
    """Fault injection knobs; every one can be set directly or through the helpers on the state."""

    outage_locations: set[str] = field(default_factory=set)
    """Vendor location ids (``nbg1``, ``EU``, …) whose creates and power actions answer 503."""
    error_burst: int = 0
    """The next N API requests answer ``error_status`` (a 5xx burst)."""
    error_status: int = 503
    rate_limit_storm: int = 0
    """The next N API requests answer 429 whatever the bucket says."""
    stuck_provisioning: bool = False
    """New servers never leave provisioning."""
    provisioning_factor: float = 1.0
    """Slow provisioning: lifecycle durations are multiplied by this."""
    create_timeouts: int = 0
    """The next N creates are committed, then the answer is held ``create_delay`` wall seconds."""
    create_delay: float = 5.0
    latency: float = 0.0
    """Wall seconds added before every API answer."""


@dataclass
class Incident:
    """A status-page incident (the emulated status feeds render these)."""

    id: str
    title: str
    locations: tuple[str, ...]
    impact: str = "major"  # none | minor | major | critical
    status: str = "investigating"  # investigating | identified | monitoring | resolved
    started: float = 0.0
    resolved: float | None = None


# --- world ---------------------------------------------------------------------------------------


@dataclass
class EmuAction:
    id: int
    command: str
    resource_id: Any
    started: float
    duration: float
    error: tuple[str, str] | None = None  # (code, message) once finished, if it fails
    resource_type: str = "server"

    def finished_at(self) -> float:
        return self.started + self.duration

    def status(self, now: float) -> str:
        """``running`` | ``success`` | ``error``: the vendor modules translate to their words."""
        if now < self.finished_at():
            return "running"
        return "error" if self.error else "success"

    def progress(self, now: float) -> int:
        if self.duration <= 0 or now >= self.finished_at():
            return 100
        return max(0, min(99, int(100 * (now - self.started) / self.duration)))


@dataclass
class EmuServer:
    """One emulated server; vendors render it in their own shape."""

    id: Any
    name: str
    plan: str
    location: str
    image: str
    created: float
    provision_s: float
    boot_s: float
    labels: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    power: str = "on"  # on | off
    transition: tuple[str, float] | None = None  # (stage name, until emulated time)
    deleting_until: float | None = None
    cancel_date: str | None = None
    user_data: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    seq: int = 0

    def stage(self, now: float) -> str:
        """provisioning | booting | running | off | <transition name> | deleting."""
        if self.deleting_until is not None:
            return "deleting"
        if now < self.created + self.provision_s:
            return "provisioning"
        if now < self.created + self.provision_s + self.boot_s:
            return "booting"
        if self.transition is not None:
            name, until = self.transition
            if now < until:
                return name
            self.transition = None
        return "running" if self.power == "on" else "off"

    def ready(self, now: float) -> bool:
        return self.stage(now) in ("running", "off")


def ipv4_for(n: int) -> str:
    """A unique, clearly-not-real address per server (100.64.0.0/10, shared address space)."""
    return f"100.{64 + (n >> 16) % 64}.{(n >> 8) & 255}.{n & 255}"


def ipv6_for(n: int) -> str:
    return f"2001:db8::{n:x}"


class EmuRateLimit:
    """Token buckets per token, on the emulated clock, so time-scaling scales the refill too."""

    def __init__(self, windows: tuple[tuple[float, float], ...]) -> None:
        self.windows = windows  # (capacity, per_seconds)
        self._buckets: dict[str, tuple[list[float], float]] = {}

    def _bucket(self, token: str, now: float) -> list[float]:
        levels, stamp = self._buckets.get(token, ([cap for cap, _ in self.windows], now))
        elapsed = max(0.0, now - stamp)
        levels = [min(cap, lvl + elapsed * cap / per) for lvl, (cap, per) in zip(levels, self.windows, strict=True)]
        self._buckets[token] = (levels, now)
        return levels

    def take(self, token: str, now: float) -> tuple[bool, list[float]]:
        levels = self._bucket(token, now)
        if all(lvl >= 1.0 - 1e-9 for lvl in levels):
            for i in range(len(levels)):
                levels[i] -= 1.0
            return True, levels
        return False, levels

    def drain(self, token: str | None, now: float, level: float = 0.0) -> None:
        """Empty the buckets (of one token, or of every token seen and future ones when None)."""
        if token is None:
            for key in list(self._buckets):
                self._buckets[key] = ([level for _ in self.windows], now)
        else:
            self._buckets[token] = ([level for _ in self.windows], now)

    def seconds_until_token(self, levels: list[float]) -> float:
        wait = 0.0
        for lvl, (cap, per) in zip(levels, self.windows, strict=True):
            if lvl < 1.0:
                wait = max(wait, (1.0 - lvl) / (cap / per))
        return wait

    def seconds_until_full(self, levels: list[float], index: int) -> float:
        cap, per = self.windows[index]
        return max(0.0, (cap - levels[index]) / (cap / per))


@dataclass
class RequestRecord:
    method: str
    path: str
    status: int
    route: str = ""
    """The emulator route that answered, ``METHOD /canonical/{template}`` (empty when no route matched)."""


def route_of(request: web.Request) -> str:
    """``METHOD /path/{template}`` of the route that matched ``request`` (empty when none did)."""
    resource = request.match_info.route.resource
    if resource is None or request.match_info.http_exception is not None:
        return ""
    return f"{request.match_info.route.method} {resource.canonical}"


class EmulatorState:
    """The emulated world of one vendor: servers, actions, incidents, faults and the clock."""

    def __init__(self, provider: str, *, time_scale: float = 1.0) -> None:
        self.provider = provider
        self.time_scale = time_scale
        self._m0 = time.monotonic()
        self._epoch = time.time()  # emulated time starts at the real now, then runs time_scale x faster
        self._offset = 0.0
        self.servers: dict[Any, EmuServer] = {}
        self.actions: dict[int, EmuAction] = {}
        self.snapshots: dict[Any, dict[str, Any]] = {}
        self.incidents: list[Incident] = []
        self.faults = Faults()
        self.log: list[RequestRecord] = []
        self.rate_limit: EmuRateLimit | None = None
        self.drained_tokens_default: float | None = None
        self.extra: dict[str, Any] = {}
        self._seq = itertools.count(1)
        self._action_ids = itertools.count(13_000_000)
        self._incident_ids = itertools.count(1)

    # --- clock --------------------------------------------------------------------------------

    def now(self) -> float:
        """Emulated Unix time."""
        return self._epoch + (time.monotonic() - self._m0) * self.time_scale + self._offset

    def advance(self, seconds: float) -> None:
        """Jump the emulated clock forward (lifecycles, actions and rate-limit refills follow)."""
        self._offset += seconds

    def iso(self, t: float | None = None) -> str:
        return datetime.fromtimestamp(self.now() if t is None else t, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")

    def today(self) -> str:
        return datetime.fromtimestamp(self.now(), UTC).strftime("%Y-%m-%d")

    def wall_seconds(self, emulated: float) -> float:
        return emulated / self.time_scale

    # --- world helpers -------------------------------------------------------------------------

    def next_seq(self) -> int:
        return next(self._seq)

    def new_action(
        self,
        command: str,
        resource_id: Any,
        duration: float,
        error: tuple[str, str] | None = None,
        resource_type: str = "server",
    ) -> EmuAction:
        action = EmuAction(next(self._action_ids), command, resource_id, self.now(), duration, error, resource_type)
        self.actions[action.id] = action
        return action

    def add_server(self, server: EmuServer) -> EmuServer:
        """Put a server in the world directly (e.g. an orphan nobody tracks)."""
        if self.faults.stuck_provisioning:
            server.provision_s = math.inf
        else:
            server.provision_s *= self.faults.provisioning_factor
            server.boot_s *= self.faults.provisioning_factor
        self.servers[server.id] = server
        return server

    def live_servers(self) -> Iterator[EmuServer]:
        now = self.now()
        for sid, server in list(self.servers.items()):
            if server.deleting_until is not None and now >= server.deleting_until:
                del self.servers[sid]
                continue
            yield server

    def get_server(self, sid: Any) -> EmuServer | None:
        server = self.servers.get(sid)
        if server is not None and server.deleting_until is not None and self.now() >= server.deleting_until:
            del self.servers[sid]
            return None
        return server

    # --- fault helpers -------------------------------------------------------------------------

    def region_outage(self, location: str, *, announce: bool = True, title: str | None = None) -> Incident | None:
        """Take a vendor location down: creates and power actions there answer 503."""
        self.faults.outage_locations.add(location)
        if announce:
            return self.add_incident(title or f"Service disruption in {location}", (location,))
        return None

    def end_outage(self, location: str) -> None:
        self.faults.outage_locations.discard(location)
        for inc in self.incidents:
            if location in inc.locations and inc.resolved is None:
                inc.status, inc.resolved = "resolved", self.now()

    def add_incident(self, title: str, locations: tuple[str, ...] = (), impact: str = "major") -> Incident:
        inc = Incident(f"inc-{next(self._incident_ids)}", title, locations, impact, "investigating", self.now())
        self.incidents.append(inc)
        return inc

    def burst_5xx(self, count: int, status: int = 503) -> None:
        self.faults.error_burst, self.faults.error_status = count, status

    def storm_429(self, count: int) -> None:
        self.faults.rate_limit_storm = count

    def timeout_next_create(self, count: int = 1, delay: float = 5.0) -> None:
        self.faults.create_timeouts, self.faults.create_delay = count, delay

    def drain_rate_limit(self, level: float = 0.0) -> None:
        """Act as if every token had already spent its budget (benchmarks start from an empty bucket)."""
        self.drained_tokens_default = level
        if self.rate_limit is not None:
            self.rate_limit.drain(None, self.now(), level)

    def count(self, method: str | None = None, path_prefix: str = "", status: int | None = None) -> int:
        return sum(
            1
            for r in self.log
            if (method is None or r.method == method)
            and r.path.startswith(path_prefix)
            and (status is None or r.status == status)
        )


# --- the vendor plug-in --------------------------------------------------------------------------


class Vendor:
    """Per-vendor behaviour the shared middleware needs; each vendor module subclasses it."""

    name = ""
    prefix = ""  # the vendor's path prefix, part of the printed base URL
    rate_windows: tuple[tuple[float, float], ...] = ()
    rate_headers = ""  # "hetzner" | "digitalocean" | ""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def error(self, status: int, code: str, message: str) -> web.Response:  # pragma: no cover - abstract
        raise NotImplementedError

    def routes(self) -> list[web.RouteDef]:  # pragma: no cover - abstract
        raise NotImplementedError

    def public_path(self, path: str) -> bool:
        """Paths that need no bearer token (status feed, OAuth token endpoint)."""
        return path.startswith("/status/")

    def check_headers(self, request: web.Request) -> web.Response | None:
        """Vendor-specific header rules (Contabo requires ``x-request-id``)."""
        return None

    def rate_headers_for(self, levels: list[float], rl: EmuRateLimit) -> dict[str, str]:
        st = self.state
        if self.rate_headers in ("hetzner", "digitalocean"):
            i = len(rl.windows) - 1 if self.rate_headers == "digitalocean" else 0
            cap = rl.windows[i][0]
            reset = time.time() + st.wall_seconds(rl.seconds_until_full(levels, i))
            return {
                "RateLimit-Limit": str(int(cap)),
                "RateLimit-Remaining": str(max(0, int(levels[i]))),
                "RateLimit-Reset": str(math.ceil(reset)),
            }
        return {}

    def retry_after(self, levels: list[float], rl: EmuRateLimit) -> str | None:
        if self.rate_headers != "digitalocean":
            return None
        wall = self.state.wall_seconds(rl.seconds_until_token(levels))
        return str(max(1, math.ceil(wall))) if self.state.time_scale == 1.0 else f"{max(wall, 0.001):.3f}"

    def rate_limited(self) -> web.Response:
        return self.error(429, "rate_limit_exceeded", "Rate limit exceeded")

    def is_create(self, request: web.Request) -> bool:
        return False


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type="application/json", headers=headers)


def bearer(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer ") and auth[7:].strip():
        return auth[7:].strip()
    return None


def make_app(vendor: Vendor) -> web.Application:
    """The aiohttp application: auth, faults, rate limits and request log around the vendor's routes."""
    state = vendor.state
    if vendor.rate_windows:
        state.rate_limit = EmuRateLimit(vendor.rate_windows)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        resp = await _handle(request, handler)
        state.log.append(RequestRecord(request.method, request.path, resp.status, route_of(request)))
        faults = state.faults
        if vendor.is_create(request) and resp.status < 300 and faults.create_timeouts > 0:
            faults.create_timeouts -= 1
            await asyncio.sleep(faults.create_delay)  # committed, but the client gives up first
        return resp

    async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        """The handler's answer, with its errors rendered in the vendor's error shape."""
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status == 404:
                return vendor.error(404, "not_found", "Resource not found")
            if exc.status == 405:
                return vendor.error(405, "method_not_allowed", "Method not allowed")
            raise
        except EmuError as exc:
            return vendor.error(exc.status, exc.code, exc.message)

    async def _handle(request: web.Request, handler: Handler) -> web.StreamResponse:
        faults = state.faults
        if vendor.public_path(request.path):
            return await _answer(request, handler)
        if faults.latency:
            await asyncio.sleep(faults.latency)
        token = bearer(request)
        if token is None:
            resp = vendor.error(401, "unauthorized", "Unable to authenticate: no valid API token was given")
            if state.rate_limit is not None:  # the vendors that send rate-limit headers send them on a 401 too
                anon = state.rate_limit
                resp.headers.update(vendor.rate_headers_for(anon._bucket("", state.now()), anon))
            return resp
        bad = vendor.check_headers(request)
        if bad is not None:
            return bad
        rl = state.rate_limit
        headers: dict[str, str] = {}
        if rl is not None:
            if token not in rl._buckets and state.drained_tokens_default is not None:
                rl.drain(token, state.now(), state.drained_tokens_default)
            ok, levels = rl.take(token, state.now())
            headers = vendor.rate_headers_for(levels, rl)
            if not ok:
                resp = vendor.rate_limited()
                resp.headers.update(headers)
                ra = vendor.retry_after(levels, rl)
                if ra is not None:
                    resp.headers["Retry-After"] = ra
                return resp
        if faults.rate_limit_storm > 0:
            faults.rate_limit_storm -= 1
            resp = vendor.rate_limited()
            resp.headers.update(headers)
            if vendor.rate_headers == "digitalocean":
                resp.headers["Retry-After"] = "1" if state.time_scale == 1.0 else f"{1 / state.time_scale:.3f}"
            return resp
        if faults.error_burst > 0:
            faults.error_burst -= 1
            resp = vendor.error(faults.error_status, "service_error", "Service temporarily unavailable")
            resp.headers.update(headers)
            return resp
        answer = await _answer(request, handler)
        answer.headers.update(headers)
        return answer

    app = web.Application(middlewares=[middleware])
    app.add_routes(vendor.routes())
    from engine.providers.emulators.status_feeds import status_routes

    app.add_routes(status_routes(vendor))
    return app


class EmuError(Exception):
    """Raised by handlers; the middleware renders it in the vendor's error shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


async def read_json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise EmuError(400, "json_error", "Invalid JSON in request body") from None
    if not isinstance(body, dict):
        raise EmuError(400, "json_error", "Request body must be a JSON object")
    return body


def int_param(request: web.Request, name: str, default: int, maximum: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise EmuError(400, "invalid_input", f"invalid value for {name}") from None
    if value < 1:
        raise EmuError(400, "invalid_input", f"{name} must be at least 1")
    return min(value, maximum) if maximum else value
