"""``clawops engine``: the daemon in the foreground, until SIGTERM or Ctrl+C.

It opens the engine, starts the scheduler (``engine.scheduler``) and every messaging channel whose settings are
present (``engine.channels``: Telegram by long polling or webhook, WhatsApp by the signed webhook
``/webhook/whatsapp`` on the API port; the log says which are live and why the others are not), serves the
operator API on ``api_host:api_port`` (loopback unless configured otherwise), logs JSON to stderr and shuts down
gracefully: new turns are refused, running turns finish (30 s at most),
sockets are closed with 1001 "going away" so clients reconnect, and the store
is closed last.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from engine.api._auth import Authenticate
from engine.api._logging import configure_logging
from engine.api._metrics import MetricsSource
from engine.api._server import create_app

if TYPE_CHECKING:
    from engine.runtime import Engine

__all__ = ["run_daemon", "serve_api"]

log = logging.getLogger("clawops.engine")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def serve_api(
    engine: Engine,
    host: str,
    port: int,
    *,
    stop: asyncio.Event,
    authenticate: Authenticate | None = None,
    sources: Iterable[MetricsSource] = (),
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until ``stop`` is set, then shut down gracefully.  ``ready`` gets the base URL once listening."""
    app = create_app(engine, authenticate=authenticate, sources=sources)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=35.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port  # the real port when port was 0
    url = f"http://{host}:{bound}"
    if not _is_loopback(host):
        log.warning("listening beyond loopback; put an HTTPS proxy in front", extra={"host": host})
    log.info("engine listening", extra={"url": url, "demo": engine.settings.demo})
    if ready is not None:
        ready(url)
    try:
        await stop.wait()
    finally:
        log.info("engine stopping")
        await runner.cleanup()
        log.info("engine stopped")


def run_daemon(
    *,
    config_file: Path | None = None,
    host: str | None = None,
    port: int | None = None,
    ready: Callable[[str], None] | None = None,
    **overrides: Any,
) -> None:
    """Open the engine and serve it in the foreground (``clawops engine``)."""
    from engine.runtime import Engine

    configure_logging()
    engine = Engine.open(config_file=config_file, **overrides)
    settings = engine.settings
    _bootstrap_owner_key(engine)
    try:
        asyncio.run(_main(engine, host or settings.api_host, settings.api_port if port is None else port, ready))
    finally:
        engine.close()


def _bootstrap_owner_key(engine: Engine) -> None:
    """With no API key at all, make one for the owner, readable only by this user.

    The key goes to ``$CLAWOPS_HOME/owner.key`` (mode 0600), never to the log:
    a fresh daemon is usable at once, and nobody without file access gets in.
    """
    from sqlmodel import select

    from engine.store import ApiKey

    with engine.store.session() as s:
        if s.exec(select(ApiKey.id).limit(1)).first() is not None:
            return
    owner = engine.caller("owner", "cli")
    issued = engine.trust.issue_key(owner, "owner")
    path = engine.settings.home / "owner.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(issued.key + "\n", encoding="utf-8")
    log.warning("first start: an API key for the owner was written", extra={"path": str(path)})


async def _main(engine: Engine, host: str, port: int, ready: Callable[[str], None] | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    # Jobs run as tasks of the daemon and report progress on the feed; a turn never waits for its job.
    engine.ops.background_jobs = True
    engine.feed.follow_jobs()
    for job_id in engine.ops.unfinished_jobs():
        engine.ops.start_job(job_id)  # an earlier daemon's work: steps already done are skipped
    gateway = await _start_gateway(engine)
    # Guardian sweeps only where node reports flow: this daemon's node gateway listens, and the fleet is not the
    # demo's (its instances have no nodes; every one would look unreachable and be failed over).
    # Guardian sweeps where nodes report, and in the demo over its simulated fleet (engine.guardian._demo)
    scheduler = await _start_scheduler(engine, guardian=gateway is not None or engine.settings.demo)
    channels = await _start_channels(engine)
    try:
        await serve_api(engine, host, port, stop=stop, ready=ready)
    finally:
        if channels is not None:
            with contextlib.suppress(Exception):
                await channels.stop()
        if gateway is not None:
            with contextlib.suppress(Exception):
                await gateway.stop()
        if scheduler is not None:
            from engine.scheduler import stop_scheduler

            with contextlib.suppress(Exception):
                await stop_scheduler(scheduler)


async def _start_gateway(engine: Engine) -> Any:
    """The node gateway (OpenClaw protocol) on CLAWOPS_GATEWAY_HOST:PORT; its health reports feed the store.

    A gateway that cannot start (port taken, say) is logged and the operator API still serves.
    """
    try:
        from engine.nodes import start_node_gateway

        gateway = await start_node_gateway(engine)
        log.info("node gateway listening", extra={"url": gateway.url})
        return gateway
    except Exception:
        log.exception("node gateway did not start; nodes cannot report until it does")
        return None


async def _start_scheduler(engine: Engine, *, guardian: bool = False) -> Any:
    """The recurring work (job resumption, webhook retries, briefings, Guardian's sweep when ``guardian``)
    runs in the daemon, never embedded.

    A scheduler that cannot start is logged and the API still serves: operators
    can still talk to the fleet, and the log says what to fix.
    """
    try:
        from engine.scheduler import start_scheduler

        scheduler = await start_scheduler(engine, guardian=guardian)
        tell_briefing_failures(engine)
        return scheduler
    except Exception:
        log.exception("scheduler did not start; the operator API runs without it")
        return None


def tell_briefing_failures(engine: Engine) -> Callable[[], None]:
    """A scheduled briefing that could not be produced or sent is said in the operators' feed (the chat), FAILED."""
    from engine.events import FeedItem
    from engine.store import Operator

    def tell(run: Any) -> None:
        failed = {name: why for name, why in run.delivered.items() if why}
        if not failed and not run.error:
            return
        sch = run.due.schedule
        with engine.store.session() as s:
            op = s.get(Operator, sch.operator_id)
        where = "; ".join(f"on {name}: {why}" for name, why in failed.items()) or f"it was not produced: {run.error}"
        saved = f" It is saved at {run.briefing.html_path}." if run.briefing is not None else ""
        engine.feed.publish(
            FeedItem(
                operator=op.name if op is not None else sch.operator_id,
                channel="briefer",
                session=None,
                message=f"scheduled {sch.kind} briefing",
                agent="briefer",
                tenant=op.tenant_id if op is not None else None,
                reply=f"[Briefer] FAILED: the {sch.kind} briefing due {run.due.slot:%H:%M} UTC was not delivered {where}.{saved}",
            )
        )

    return engine.scheduler.on_briefing_run(tell)


async def _start_channels(engine: Engine) -> Any:
    """Telegram and WhatsApp, each when its settings are present; a channel that cannot start is logged
    (with the reason) and the operator API still serves."""
    try:
        from engine.api._turns import run_turn
        from engine.channels import start_channels

        return await start_channels(engine, run_turn)
    except Exception:
        log.exception("messaging channels did not start; the operator API runs without them")
        return None
