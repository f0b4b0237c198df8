"""The shared async HTTP base of the five vendor drivers.

One :class:`HttpDriver` owns what every vendor needs: the injected
``httpx.AsyncClient`` and base URL, bearer auth (Contabo overrides with OAuth2),
the per-provider-and-token :mod:`rate limiter <engine.providers._ratelimit>`,
retries with exponential backoff and jitter (tenacity) for idempotent calls
only, error normalisation into :mod:`engine.providers.errors`, action polling,
and the create path that never repeats a create blindly: after an ambiguous
failure it looks for the server by our label/tag/name first, and for a purchase
(Contabo, Hostinger) it gives up with :class:`PurchaseUncertain` rather than buy
twice.

Retry rules: a 429 or a connection that never opened did not reach the vendor,
so any call may be re-sent; a timeout or a 5xx may have taken effect, so only
idempotent calls (GET/PUT/DELETE, or a call the driver marks idempotent) are
retried; creates go through :meth:`HttpDriver._create_with_lookup` instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, retry_if_exception_type, stop_after_attempt

from engine.domain import InstanceState
from engine.providers._base import ActionInfo, Phase, ProviderDriver, ServerInfo, ServerSpec
from engine.providers._ratelimit import DEFAULT_POLICY, POLICIES, RateLimiter, RateLimiters, RateLimitPolicy
from engine.providers.errors import (
    ProviderAPIError,
    ProviderBadResponse,
    ProviderConflict,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderUnreachable,
    PurchaseUncertain,
    error_for_status,
)
from engine.retry import Backoff

T = TypeVar("T")
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Truncated exponential backoff with jitter (seconds, before time scaling), computed by tenacity.

    Which errors retry: a 429 or a connection that never opened, always; a timeout or a 5xx only for an
    idempotent call; an ambiguous create only after a lookup found no server (see the module docstring).
    """

    attempts: int = 6
    initial: float = 0.5
    maximum: float = 60.0
    jitter: float = 0.5
    purchase_attempts: int = 2
    """Creates that are purchases: at most this many tries, each after a lookup found nothing."""

    def backoff(self, *, purchase: bool = False) -> Backoff:
        """The waits as an :class:`engine.retry.Backoff` (``purchase``: the budget of a create that buys)."""
        return Backoff(
            initial=self.initial,
            maximum=self.maximum,
            jitter=self.jitter,
            attempts=self.purchase_attempts if purchase else self.attempts,
        )


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How often and how long to poll an action or a server (seconds, before time scaling)."""

    interval: float = 1.0
    timeout: float = 600.0
    lookup_pause: float = 2.0
    """Pause between the lookups that follow an ambiguous create failure."""


class HttpDriver(ProviderDriver):
    """Base class of the vendor drivers.  Subclasses set ``name``, ``capabilities``, ``default_base_url``."""

    default_base_url: ClassVar[str] = ""

    def __init__(
        self,
        client: httpx.AsyncClient,
        token: str | None = None,
        *,
        base_url: str | None = None,
        limiter: RateLimiter | None = None,
        limiters: RateLimiters | None = None,
        rate_policy: RateLimitPolicy | None = None,
        retry: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        time_scale: float = 1.0,
    ) -> None:
        self.client = client
        self.token = token
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.time_scale = time_scale
        policy = rate_policy or POLICIES.get(self.name, DEFAULT_POLICY)
        if time_scale != 1.0:
            policy = policy.scaled(time_scale)
        # The engine's books (``limiters``: one budget per token across its drivers), else this driver's own.
        self.limiter = limiter or (
            limiters.get(self.name, token, policy) if limiters is not None else RateLimiter(policy)
        )
        self.retry = retry or RetryPolicy()
        self.poll = poll or PollPolicy()
        self.requests_made = 0
        self._gates: dict[int, asyncio.Semaphore] = {}

    MAX_IN_FLIGHT: ClassVar[int] = 40
    """Requests one driver has on the wire at once.  Below httpx's pool (100 connections): a 1,000-pair job
    would otherwise queue ~1,000 requests in the pool, whose re-scan on every connection event costs CPU
    quadratically (measured: the job stalled).  The rate limiter still decides the pace."""

    def _gate(self) -> asyncio.Semaphore:
        loop_id = id(asyncio.get_running_loop())
        gate = self._gates.get(loop_id)
        if gate is None:
            gate = self._gates[loop_id] = asyncio.Semaphore(self.MAX_IN_FLIGHT)
        return gate

    # --- plumbing ------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + path

    async def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _scaled(self, seconds: float) -> float:
        return seconds / self.time_scale

    def _should_retry(self, exc: BaseException, idempotent: bool) -> bool:
        if isinstance(exc, ProviderRateLimited | ProviderUnreachable):
            return True  # the vendor never acted on it
        return idempotent and isinstance(exc, ProviderAPIError) and exc.retryable

    def _backoff(self, attempt: int) -> float:
        return self._scaled(self.retry.backoff().wait(attempt))

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, ProviderRateLimited):
            return 0.0  # the limiter already holds every request until Retry-After / the refill
        return self._backoff(state.attempt_number)

    async def request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one call with limiting, retries and error normalisation; 2xx responses only come back."""
        idem = method.upper() in _IDEMPOTENT_METHODS if idempotent is None else idempotent
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda e: self._should_retry(e, idem)),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._send(operation, method, path, params, json, data, extra_headers)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(
        self,
        operation: str,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Mapping[str, str] | None,
        extra_headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        async with self._gate():
            await self.limiter.acquire()
            headers = await self._auth_headers()
            if extra_headers:
                headers.update(extra_headers)
            self.requests_made += 1
            try:
                resp = await self.client.request(
                    method, self.url(path), params=params, json=json, data=data, headers=headers
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                self.limiter.observe(None, None)
                raise ProviderUnreachable(self.name, operation, vendor_message=str(exc) or type(exc).__name__) from exc
            except httpx.TimeoutException as exc:
                self.limiter.observe(None, None)
                raise ProviderTimeout(self.name, operation, vendor_message="no response in time") from exc
            except httpx.TransportError as exc:
                self.limiter.observe(None, None)
                raise ProviderTimeout(self.name, operation, vendor_message=f"connection lost ({exc})") from exc
        self.limiter.observe(resp.status_code, resp.headers)
        if resp.status_code >= 400:
            raise self._error(operation, resp)
        return resp

    def _error(self, operation: str, resp: httpx.Response) -> ProviderAPIError:
        try:
            body = resp.json()
        except ValueError:
            body = None
        code, message, request_id = self._parse_error(body, resp)
        if message is None:
            message = resp.reason_phrase or None
        cls = error_for_status(resp.status_code, code)
        retry_after: float | None = None
        raw = resp.headers.get("retry-after")
        if raw is not None:
            try:
                retry_after = float(raw)
            except ValueError:
                retry_after = None
        return cls(
            self.name,
            operation,
            status=resp.status_code,
            code=code,
            vendor_message=message,
            request_id=request_id,
            retry_after=retry_after,
        )

    def _parse_error(self, body: Any, resp: httpx.Response) -> tuple[str | None, str | None, str | None]:
        """Vendor error body → (code, message, request id).  Subclasses know their vendor's shape."""
        return None, None, None

    async def call(self, operation: str, method: str, path: str, **kw: Any) -> Any:
        """Like :meth:`request`, returning the decoded JSON body (None for an empty body)."""
        resp = await self.request(operation, method, path, **kw)
        if resp.status_code == 204 or not resp.content:
            return None
        try:
            return resp.json()
        except ValueError as exc:
            raise ProviderBadResponse(
                self.name, operation, status=resp.status_code, vendor_message="response is not JSON"
            ) from exc

    def bad(self, operation: str, what: str) -> ProviderBadResponse:
        return ProviderBadResponse(self.name, operation, vendor_message=what)

    def field(self, obj: Any, key: str, typ: type[T] | tuple[type, ...], operation: str) -> T:
        """``obj[key]`` checked to be of ``typ``, or :class:`ProviderBadResponse` naming the field."""
        if not isinstance(obj, dict):
            raise self.bad(operation, f"expected an object holding '{key}', got {type(obj).__name__}")
        if key not in obj:
            raise self.bad(operation, f"field '{key}' is missing")
        value = obj[key]
        if not isinstance(value, typ) or (isinstance(value, bool) and typ in (int, float)):
            raise self.bad(operation, f"field '{key}' has type {type(value).__name__}")
        return value  # type: ignore[return-value]

    # --- shared behaviour ------------------------------------------------------------------------

    async def poll_action(
        self, action_id: str, *, timeout: float | None = None, interval: float | None = None
    ) -> ActionInfo:
        """Poll an action until it succeeds or fails; raise :class:`ProviderTimeout` if it never ends."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._scaled(timeout if timeout is not None else self.poll.timeout)
        pause = self._scaled(interval if interval is not None else self.poll.interval)
        while True:
            action = await self.get_action(action_id)
            if action.done:
                return action
            if loop.time() >= deadline:
                raise ProviderTimeout(
                    self.name,
                    "poll_action",
                    vendor_message=f"action {action_id} still {action.vendor_status}",
                    hint="the provider is slow or stuck; check provider_health, then the provider's console.",
                )
            await asyncio.sleep(pause)

    async def wait_running(self, server_id: str, *, timeout: float | None = None, interval: float = 5.0) -> ServerInfo:
        """Poll a new server until the vendor calls it running (time-scaled like every other wait).

        A server that ends in an error state, or is still booting at the deadline, raises: the create step
        fails with the vendor's own status and the job can retry it (the server is found, never bought twice).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._scaled(timeout if timeout is not None else self.poll.timeout)
        while True:
            info = await self.get_server(server_id)
            if info.phase is Phase.RUNNING or (info.phase is None and info.state is InstanceState.ACTIVE):
                return info
            if info.phase in (Phase.ERROR, Phase.GONE, Phase.DELETING):
                raise ProviderTimeout(
                    self.name,
                    "wait_running",
                    vendor_message=f"server {server_id} is {info.vendor_status}",
                    hint="the provider could not start it; check provider_health and its console.",
                )
            if loop.time() >= deadline:
                raise ProviderTimeout(
                    self.name,
                    "wait_running",
                    vendor_message=f"server {server_id} still {info.vendor_status}",
                    hint="the provider is slow to boot it; the job will look again on retry.",
                )
            await asyncio.sleep(self._scaled(interval))
            interval = min(interval * 1.5, 30.0)  # boots take minutes: a thousand servers must not eat the API budget

    async def _lookup_created(self, spec: ServerSpec) -> ServerInfo | None:
        tries = 2 if self.capabilities.create_is_purchase else 1
        for i in range(tries):
            if i:
                await asyncio.sleep(self._scaled(self.poll.lookup_pause))
            found = await self.find_server(spec.instance_id)
            if found is not None:
                return found
        return None

    async def _create_with_lookup(self, spec: ServerSpec, create: Callable[[], Awaitable[ServerInfo]]) -> ServerInfo:
        """Create, and after any ambiguous failure look for the server before trying again."""
        purchase = self.capabilities.create_is_purchase
        # Only an ambiguous failure after which the lookup found nothing is tried again.
        retrying = self.retry.backoff(purchase=purchase).retrying(
            wait=lambda state: self._backoff(state.attempt_number),
            retry=retry_if_exception_type((ProviderTimeout, ProviderUnavailable)),
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._create_once(spec, create, purchase)
        except (ProviderTimeout, ProviderUnavailable) as exc:
            if purchase:
                raise PurchaseUncertain(self.name, "create_server", name=spec.name, cause=exc) from exc
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _create_once(
        self, spec: ServerSpec, create: Callable[[], Awaitable[ServerInfo]], purchase: bool
    ) -> ServerInfo:
        """One create; after an ambiguous failure the server found by lookup, else the failure again."""
        try:
            return await create()
        except ProviderConflict:
            # e.g. Hetzner 409 uniqueness_error: an earlier try that we thought failed did create it.
            found = await self.find_server(spec.instance_id)
            if found is not None:
                return found
            raise
        except (ProviderTimeout, ProviderUnavailable) as exc:
            try:
                found = await self._lookup_created(spec)
            except ProviderAPIError:
                found = None
                if purchase:
                    raise PurchaseUncertain(self.name, "create_server", name=spec.name, cause=exc) from exc
            if found is not None:
                return found
            raise
