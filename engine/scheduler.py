"""The engine's clock: recurring work on APScheduler 4, behind this one small module.

APScheduler 4.0.0a6 is a pre-release (ARCHITECTURE §6 pins it exactly), so
nothing else in the engine imports it: if it changes, only this file does.
Its data store lives in the engine's own database — SQLite for one engine,
PostgreSQL (with the psycopg event broker) when several engines share the
work, and then each scheduled run happens on exactly one of them.

Scheduled tasks are module-level functions (the data store keeps references,
not closures); they reach the running :class:`~engine.runtime.Engine` through
:func:`bind`.  Each task is safe to run on any engine at any time: job steps
are claimed atomically, webhook deliveries too, and briefings record their
runs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.runtime import Engine

__all__ = ["SCHEDULES", "bind", "brief_operator", "briefing_triggers", "briefings", "guardian", "guardian_schedule",
           "guardian_sweep", "ledger_analysis", "on_guardian_message", "register", "resume_jobs", "retry_webhooks",
           "start_scheduler", "sweep_now", "sync_briefings"]

log = logging.getLogger(__name__)

_engine: Engine | None = None
_ledger_state: Any = None


def bind(engine: Engine) -> None:
    """Tell the scheduled tasks which engine they run in (one engine per process)."""
    global _engine
    _engine = engine


def _bound() -> Engine:
    if _engine is None:
        raise RuntimeError("scheduler task ran before engine.scheduler.bind(engine)")
    return _engine


async def resume_jobs() -> int:
    """Finish every job with unfinished steps (after a crash, or work another engine left).

    Where jobs run in the background (the daemon), each one is started as a task of this engine unless it
    already runs here, so one long job never holds up the resumption of the others; steps are claimed, so a
    job another engine is working on costs only a few queries.
    """
    ops = _bound().ops
    if ops.background_jobs:
        started = [job_id for job_id in ops.unfinished_jobs() if job_id not in ops.running_jobs]
        for job_id in started:
            ops.start_job(job_id, resumed=True)
        return len(started)
    views = await ops.resume_unfinished()
    return len(views)


async def retry_webhooks() -> int:
    """Retry webhook deliveries whose backoff has elapsed."""
    engine = _bound()
    secret = engine.settings.companion_webhook_secret
    if secret is None:
        return 0
    import httpx

    from engine import webhooks

    async with httpx.AsyncClient() as client:
        return await webhooks.deliver_pending(engine.store, secret.get_secret_value(), client)


async def briefings() -> int:
    """Produce (and deliver) every briefing that is due: the start-up catch-up (a briefing missed while the
    engine was down goes out if under 3 hours late, saying so) and a safety net behind the per-operator
    schedules below."""
    from engine.briefer import run_due_briefings

    engine = _bound()
    await _resync_if_changed(engine)
    return len(await run_due_briefings(engine))


_prefs_seen: Any = None


async def _resync_if_changed(engine: Engine) -> None:
    """Preferences written by another process (``clawops brief --at`` on the same store) re-schedule here too."""
    global _prefs_seen
    from sqlalchemy import func
    from sqlmodel import select

    from engine.store import BriefingPreference

    with engine.store.session() as s:
        seen = tuple(s.exec(select(func.count(), func.max(BriefingPreference.updated_at))).one())
    if _prefs_seen is not None and seen != _prefs_seen:
        await sync_briefings(engine)
    _prefs_seen = seen


async def brief_operator(operator_id: str) -> int:
    """One operator's briefing minute (their time, their time zone): produce and send what is due now."""
    from engine.briefer import run_due_briefings

    return len(await run_due_briefings(_bound(), operator_id=operator_id))


BRIEFING_PREFIX = "briefing:"
BRIEFING_START_DELAY_S = 10.0
"""The start-up catch-up runs this long after the scheduler starts, once the messaging channels are up."""
_scheduler: Any = None
_loop: Any = None
_sync_tasks: set[Any] = set()


def briefing_triggers(engine: Engine) -> dict[str, Any]:
    """Schedule id → APScheduler cron trigger: one per operator, at their minute in their time zone, on the days
    of their daily briefing and weekly report (``engine.briefer`` decides which kind is due when it fires)."""
    from apscheduler.triggers.cron import CronTrigger

    from engine.briefer import WEEKDAYS, load_schedules

    out: dict[str, Any] = {}
    by_operator: dict[str, list[Any]] = {}
    for sch in load_schedules(engine.store):
        by_operator.setdefault(sch.operator_id, []).append(sch)
    for operator_id, schedules in by_operator.items():
        first = schedules[0]
        days = sorted({d for sch in schedules for d in ((sch.weekday,) if sch.kind == "weekly" else sch.days)})
        if not days:
            continue
        out[f"{BRIEFING_PREFIX}{operator_id}"] = CronTrigger(
            hour=first.at.hour, minute=first.at.minute, day_of_week=",".join(WEEKDAYS[d][:3] for d in days),
            timezone=first.tz)
    return out


async def sync_briefings(engine: Engine | None = None) -> int:
    """Make the scheduler's briefing schedules match the preferences table (after any change); returns how many."""
    from apscheduler import ConflictPolicy

    scheduler = _scheduler
    if scheduler is None:
        return 0
    engine = engine or _bound()
    wanted = briefing_triggers(engine)
    for schedule in await scheduler.get_schedules():
        if schedule.id.startswith(BRIEFING_PREFIX) and schedule.id not in wanted:
            await scheduler.remove_schedule(schedule.id)
    for schedule_id, trigger in wanted.items():
        await scheduler.add_schedule(brief_operator, trigger, id=schedule_id,
                                     args=[schedule_id.removeprefix(BRIEFING_PREFIX)],
                                     conflict_policy=ConflictPolicy.replace, misfire_grace_time=3 * 3600)
    log.info("briefings scheduled for %d operators", len(wanted))
    return len(wanted)


def _prefs_changed(_operator_id: str) -> None:
    """Preferences changed (any thread): re-schedule on the scheduler's loop."""
    loop = _loop
    if loop is None or loop.is_closed():
        return

    async def sync() -> None:
        try:
            await sync_briefings()
        except Exception:  # the minute check re-reads the table, so a failed re-schedule is only late
            log.exception("could not re-schedule briefings")

    def start() -> None:
        task = loop.create_task(sync())
        _sync_tasks.add(task)
        task.add_done_callback(_sync_tasks.discard)

    loop.call_soon_threadsafe(start)


async def _brief_on_request(caller: Any, kind: str) -> dict[str, Any]:
    """"Brief me now" where the daemon runs: the briefing with its voice note, sent to the asker's channel."""
    from engine.briefer import brief_and_send

    return await brief_and_send(_bound(), caller, kind)


async def ledger_analysis() -> str:
    """Ledger's 6-hourly run: today's cost snapshot and the three analyses."""
    from engine.ledger import ledger_run

    global _ledger_state
    engine = _bound()
    run = ledger_run(engine.store, engine.settings, previous=_ledger_state)
    _ledger_state = run.state  # so the next run reports only what changed
    return str(getattr(run, "summary", ""))


_guardian: Any = None
_guardian_since: Any = None
_guardian_listeners: list[Callable[[str], Any]] = []


def on_guardian_message(listener: Callable[[str], Any]) -> Callable[[], None]:
    """Hear what Guardian tells the operator (new incidents, escalations, re-provisioning proposals).

    Channels (operator feed, Telegram, WhatsApp) subscribe here; without a listener the lines go to the
    log.  Returns a function that unsubscribes.
    """
    _guardian_listeners.append(listener)

    def remove() -> None:
        if listener in _guardian_listeners:
            _guardian_listeners.remove(listener)

    return remove


async def _guardian_notify(line: str) -> None:
    log.warning("guardian: %s", line)
    for listener in list(_guardian_listeners):
        try:
            out = listener(line)
            if hasattr(out, "__await__"):
                await out
        except Exception:  # a broken channel must not stop the sweep
            log.exception("guardian message listener failed")


def guardian(engine: Engine | None = None) -> Any:
    """This process's :class:`~engine.guardian.Guardian` (heal ledger and watch list kept across sweeps)."""
    import dataclasses

    from engine.guardian import Guardian

    global _guardian
    engine = engine or _bound()
    if _guardian is None or _guardian.store is not engine.store:
        caller = dataclasses.replace(engine.caller(), agent="guardian", autonomous=True, channel="guardian")
        _guardian = Guardian(engine.store, engine.ops, caller, notify=_guardian_notify,
                             watching_since=_guardian_since)
    return _guardian


async def guardian_sweep() -> int:
    """Guardian's 5-minute cycle over the latest node reports (see :mod:`engine.guardian._cycle`).

    Scheduled only where node reports actually arrive (:func:`start_scheduler` with ``guardian=True``, which
    the daemon passes once its node gateway listens, never in demo mode): without reports every instance
    would look unreachable and be failed over.  Heal actions go through the operation layer as Guardian.
    Returns the number of heal actions run.
    """
    engine = _bound()
    now = _now()
    result = await guardian(engine).cycle(sweep_reports(engine, now), now)
    return len(result.executed)


def sweep_reports(engine: Engine, now: Any) -> dict[str, Any]:
    """What Guardian sweeps over: the nodes' stored reports, or — in the demo, whose simulated fleet has no
    nodes — what the simulation holds (:func:`engine.guardian._demo.demo_reports`: ACTIVE reports healthy, a
    DEGRADED instance its symptom, a FAILED one nothing)."""
    from engine.demo import SimNodeCommands

    if engine.settings.demo and isinstance(engine.nodes, SimNodeCommands):
        from engine.guardian import demo_reports

        return demo_reports(engine.store, now)
    from engine.guardian import load_reports

    return load_reports(engine.store)


async def sweep_now() -> dict[str, Any]:
    """Guardian's cycle at once, for an operator who asks ("run a health sweep now"): what it saw and did."""
    engine = _bound()
    now = _now()
    cycle = await guardian(engine).cycle(sweep_reports(engine, now), now)
    last = cycle.last if cycle.sweeps else None
    return {
        "scored": last.scored if last else 0,
        "bands": dict(last.bands) if last else {},
        "actions": [{"instance": e.instance_id, "tool": e.tool, "status": e.status} for e in cycle.executed],
        "incidents": sum(1 for a in cycle.notify if a.is_incident),
        "alerts": sum(1 for a in cycle.notify if not a.is_incident),
        "silenced": list(cycle.silenced),
        "messages": list(cycle.messages)[:10],
    }


def _now() -> Any:
    from engine.store import utcnow

    return utcnow()


#: Recurring work: (schedule id, task, interval).  Other modules add theirs with :func:`register`.
SCHEDULES: list[tuple[str, Callable[[], Awaitable[Any]], timedelta]] = [
    ("resume-jobs", resume_jobs, timedelta(seconds=5)),  # with 12-s leases: a dead engine's job moves in < 15 s
    ("retry-webhooks", retry_webhooks, timedelta(minutes=1)),
    ("briefings", briefings, timedelta(minutes=1)),
    ("ledger-analysis", ledger_analysis, timedelta(hours=6)),
]


def register(schedule_id: str, task: Callable[[], Awaitable[Any]], every: timedelta) -> None:
    """Add a recurring task (Guardian's sweep, Ledger's analysis, Briefer's check) before the scheduler starts."""
    SCHEDULES[:] = [s for s in SCHEDULES if s[0] != schedule_id] + [(schedule_id, task, every)]


def _async_url(url: str) -> str:
    if url.startswith("sqlite:///"):
        # Its own file beside the store: APScheduler's tables (``jobs``, ``tasks``…) would collide with
        # ours, and SQLite has no schemas.  One SQLite engine is one process, so nothing is shared anyway.
        path = url.removeprefix("sqlite:///")
        return "sqlite+aiosqlite:///" + (path[:-3] if path.endswith(".db") else path) + "-scheduler.db"
    if url.startswith(("postgresql+psycopg://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def guardian_schedule() -> tuple[str, Callable[[], Awaitable[Any]], timedelta]:
    """Guardian's sweep as a schedule entry: every SWEEP_INTERVAL_S (5 min)."""
    from engine.guardian import SWEEP_INTERVAL_S

    return ("guardian-sweep", guardian_sweep, timedelta(seconds=SWEEP_INTERVAL_S))


async def start_scheduler(engine: Engine, *, scale: float = 1.0, guardian: bool = False) -> Any:
    """Start the scheduler in the background of the running loop; returns it (``await s.stop()`` to end).

    ``scale`` shrinks every interval (tests and demos run minutes in seconds).  ``guardian`` adds Guardian's
    sweep: pass it only where node reports flow (the daemon, once its node gateway listens), never for
    an embedded or demo engine whose instances have no nodes reporting.
    """
    global _guardian_since, _scheduler, _loop
    import asyncio

    from apscheduler import AsyncScheduler, ConflictPolicy
    from apscheduler.datastores.sqlalchemy import SQLAlchemyDataStore
    from apscheduler.triggers.interval import IntervalTrigger

    from engine.store import utcnow as _utcnow

    bind(engine)
    url = _async_url(engine.store.url)
    broker: Any = None
    store_kw: dict[str, Any] = {}
    if url.startswith("postgresql"):
        from apscheduler.eventbrokers.psycopg import PsycopgEventBroker

        broker = PsycopgEventBroker.from_async_sqla_engine(_sqla_async_engine(url))
        store_kw["schema"] = "apscheduler"
    data_store = SQLAlchemyDataStore(url, **store_kw)
    scheduler = AsyncScheduler(data_store, broker) if broker is not None else AsyncScheduler(data_store)
    await scheduler.__aenter__()
    schedules = list(SCHEDULES)
    if guardian:
        from engine.store import utcnow

        # silence from before this engine listened is not the nodes' fault (the demo's simulation keeps its own)
        _guardian_since = None if engine.settings.demo else utcnow()
        engine.ops.sweeper = sweep_now  # "run a health sweep now" works where the sweep is scheduled
        schedules = [s for s in schedules if s[0] != "guardian-sweep"] + [guardian_schedule()]
    for schedule_id, task, every in schedules:
        seconds = max(every.total_seconds() * scale, 0.5)
        # The briefing check's first run (the start-up catch-up) waits for the channels the daemon starts next.
        delay = min(BRIEFING_START_DELAY_S, seconds) if schedule_id == "briefings" else 0.0
        trigger = IntervalTrigger(seconds=seconds, start_time=_utcnow() + timedelta(seconds=delay))
        await scheduler.add_schedule(task, trigger, id=schedule_id,
                                     conflict_policy=ConflictPolicy.replace, max_jitter=seconds / 10)
    _scheduler, _loop = scheduler, asyncio.get_running_loop()
    _configure_voice(engine)
    await sync_briefings(engine)
    from engine.briefer import on_prefs_changed

    if _prefs_changed not in _PREFS_HOOKED:
        on_prefs_changed(_prefs_changed)
        _PREFS_HOOKED.append(_prefs_changed)
    engine.ops.briefer = _brief_on_request  # "brief me now" sends the voice note and report to the asker
    await scheduler.start_in_background()
    log.info("scheduler started with %d schedules on %s", len(schedules), url.split("://")[0])
    return scheduler


_PREFS_HOOKED: list[Any] = []


def _configure_voice(engine: Engine) -> None:
    """The daemon speaks and listens with the engine's voice settings and the fleet's own words."""
    try:
        from engine.briefer import configure_voice

        configure_voice(engine.settings, engine.store)
    except Exception:  # voice is optional: without it, replies and briefings go out as text
        log.warning("voice settings not applied; voice stays on its defaults", exc_info=True)


def _sqla_async_engine(url: str) -> Any:
    from sqlalchemy.ext.asyncio import create_async_engine

    return create_async_engine(url)
