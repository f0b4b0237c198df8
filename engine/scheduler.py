"""The engine's clock: recurring work on APScheduler 4, behind this one small module.

APScheduler 4.0.0a6 is a pre-release (ARCHITECTURE §6 pins it exactly), so
nothing else in the engine imports it: if it changes, only this file does.
Its data store lives in the engine's own database — SQLite for one engine,
PostgreSQL (with the psycopg event broker) when several engines share the
work, and then each scheduled run happens on exactly one of them.

Each :class:`~engine.runtime.Engine` owns one :class:`Scheduler` (``engine.scheduler``): its schedules, its
Guardian (heal ledger and watch list kept across sweeps), Ledger's last state, who listens to Guardian and
to briefing runs.  Nothing is process-wide, so two engines in one process never share any of it.  The
scheduled tasks are the object's methods, registered with APScheduler under stable task ids
(:meth:`Scheduler.start` configures every one of them on every start, scheduled here or not: another engine
sharing the data store may queue a job for any of them, and APScheduler stops a scheduler that acquires a
job it has no callable for).  Each task is safe to run on any engine at any time: job steps are
claimed atomically, webhook deliveries too, and briefings record their runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import voice
    from engine.runtime import Engine

__all__ = ["BRIEFING_PREFIX", "Scheduler", "start_scheduler", "sweep_reports"]

log = logging.getLogger(__name__)

BRIEFING_PREFIX = "briefing:"
BRIEFING_START_DELAY_S = 10.0
"""The start-up catch-up runs this long after the scheduler starts, once the messaging channels are up."""
TASK_PREFIX = "engine.scheduler:"
"""APScheduler task ids of the engine's tasks: ``engine.scheduler:resume_jobs`` and so on — the ids earlier
versions stored (their tasks were module-level functions then), so jobs they queued still find a callable."""

Task = Callable[[], Awaitable[Any]]
Listener = Callable[[Any], Any]


class Scheduler:
    """One engine's recurring work and the state it keeps between runs."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.schedules: list[tuple[str, Task, timedelta]] = [
            ("resume-jobs", self.resume_jobs, timedelta(seconds=5)),  # 12-s leases: a dead engine's job moves < 15 s
            ("retry-webhooks", self.retry_webhooks, timedelta(minutes=1)),
            ("briefings", self.briefings, timedelta(minutes=1)),
            ("ledger-analysis", self.ledger_analysis, timedelta(hours=6)),
        ]
        """Recurring work: (schedule id, task, interval).  Other parts add theirs with :meth:`register`."""
        self.briefing_lock = asyncio.Lock()
        """Briefing runs of this engine wait for each other (``engine.briefer.run_due_briefings``)."""
        self._briefing_listeners: list[Listener] = []
        self._guardian_listeners: list[Listener] = []
        self._guardian: Any = None
        self._guardian_since: Any = None
        self._ledger_state: Any = None
        self._prefs_seen: Any = None
        self._aps: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sync_tasks: set[asyncio.Task[Any]] = set()
        self.voice: voice.VoiceConfig | None = None
        """This engine's voice settings and the fleet's own words (made when the scheduler starts); the daemon's
        briefings and channels speak and listen with it (None: the voice package's defaults)."""

    # ------------------------------------------------------------------ the tasks
    async def resume_jobs(self) -> int:
        """Finish every job with unfinished steps (after a crash, or work another engine left).

        Where jobs run in the background (the daemon), each one is started as a task of this engine unless it
        already runs here, so one long job never holds up the resumption of the others; steps are claimed, so
        a job another engine is working on costs only a few queries.
        """
        ops = self.engine.ops
        if ops.background_jobs:
            started = [job_id for job_id in ops.unfinished_jobs() if job_id not in ops.running_jobs]
            for job_id in started:
                ops.start_job(job_id, resumed=True)
            return len(started)
        views = await ops.resume_unfinished()
        return len(views)

    async def retry_webhooks(self) -> int:
        """Retry webhook deliveries whose backoff has elapsed."""
        secret = self.engine.settings.companion_webhook_secret
        if secret is None:
            return 0
        import httpx

        from engine import webhooks

        async with httpx.AsyncClient() as client:
            return await webhooks.deliver_pending(self.engine.store, secret.get_secret_value(), client)

    async def briefings(self) -> int:
        """Produce (and deliver) every briefing that is due: the start-up catch-up (a briefing missed while the
        engine was down goes out if under 3 hours late, saying so) and a safety net behind the per-operator
        schedules."""
        from engine.briefer import run_due_briefings

        await self._resync_if_changed()
        return len(await run_due_briefings(self.engine, voice_config=self.voice))

    async def brief_operator(self, operator_id: str) -> int:
        """One operator's briefing minute (their time, their time zone): produce and send what is due now."""
        from engine.briefer import run_due_briefings

        return len(await run_due_briefings(self.engine, operator_id=operator_id, voice_config=self.voice))

    async def ledger_analysis(self) -> str:
        """Ledger's 6-hourly run: today's cost snapshot and the three analyses."""
        from engine.ledger import ledger_run

        run = ledger_run(self.engine.store, self.engine.settings, previous=self._ledger_state)
        self._ledger_state = run.state  # so the next run reports only what changed
        return str(getattr(run, "summary", ""))

    async def guardian_sweep(self) -> int:
        """Guardian's 5-minute cycle over the latest node reports (see :mod:`engine.guardian._cycle`).

        Scheduled only where node reports actually arrive (:meth:`start` with ``guardian=True``, which the
        daemon passes once its node gateway listens, never in demo mode): without reports every instance would
        look unreachable and be failed over.  Heal actions go through the operation layer as Guardian.
        Returns the number of heal actions run.
        """
        now = _now()
        result = await self.guardian().cycle(sweep_reports(self.engine, now), now)
        return len(result.executed)

    async def sweep_now(self) -> dict[str, Any]:
        """Guardian's cycle at once, for an operator who asks ("run a health sweep now"): what it saw and did."""
        now = _now()
        cycle = await self.guardian().cycle(sweep_reports(self.engine, now), now)
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

    # ------------------------------------------------------------------ Guardian
    def guardian(self) -> Any:
        """This engine's :class:`~engine.guardian.Guardian` (heal ledger and watch list kept across sweeps)."""
        import dataclasses

        from engine.guardian import Guardian

        engine = self.engine
        if self._guardian is None:
            caller = dataclasses.replace(engine.caller(), agent="guardian", autonomous=True, channel="guardian")
            self._guardian = Guardian(
                engine.store, engine.ops, caller, notify=self._guardian_notify, watching_since=self._guardian_since
            )
        return self._guardian

    def on_guardian_message(self, listener: Callable[[str], Any]) -> Callable[[], None]:
        """Hear what Guardian tells the operator (new incidents, escalations, re-provisioning proposals).

        Channels (operator feed, Telegram, WhatsApp) subscribe here; without a listener the lines go to the
        log.  Returns a function that unsubscribes.
        """
        return _subscribe(self._guardian_listeners, listener)

    async def _guardian_notify(self, line: str) -> None:
        log.warning("guardian: %s", line)
        await _tell(self._guardian_listeners, line, "guardian message listener failed")

    def guardian_schedule(self) -> tuple[str, Task, timedelta]:
        """Guardian's sweep as a schedule entry: every SWEEP_INTERVAL_S (5 min)."""
        from engine.guardian import SWEEP_INTERVAL_S

        return ("guardian-sweep", self.guardian_sweep, timedelta(seconds=SWEEP_INTERVAL_S))

    # ------------------------------------------------------------------ briefings
    def on_briefing_run(self, listener: Callable[[Any], Any]) -> Callable[[], None]:
        """Hear of every scheduled briefing run (a ``BriefingRun``: the daemon tells the operator's chat when a
        delivery failed).  Returns a function that unsubscribes."""
        return _subscribe(self._briefing_listeners, listener)

    async def briefing_ran(self, run: Any) -> None:
        """Tell the listeners of one run (``engine.briefer`` calls this after each)."""
        await _tell(self._briefing_listeners, run, "briefing run listener failed")

    def briefing_triggers(self) -> dict[str, Any]:
        """Schedule id → APScheduler cron trigger: one per operator, at their minute in their time zone, on the
        days of their daily briefing and weekly report (``engine.briefer`` decides which kind is due when it
        fires)."""
        from apscheduler.triggers.cron import CronTrigger

        from engine.briefer import WEEKDAYS, load_schedules

        out: dict[str, Any] = {}
        by_operator: dict[str, list[Any]] = {}
        for sch in load_schedules(self.engine.store):
            by_operator.setdefault(sch.operator_id, []).append(sch)
        for operator_id, schedules in by_operator.items():
            first = schedules[0]
            days = sorted({d for sch in schedules for d in ((sch.weekday,) if sch.kind == "weekly" else sch.days)})
            if not days:
                continue
            out[f"{BRIEFING_PREFIX}{operator_id}"] = CronTrigger(
                hour=first.at.hour,
                minute=first.at.minute,
                day_of_week=",".join(WEEKDAYS[d][:3] for d in days),
                timezone=first.tz,
            )
        return out

    async def sync_briefings(self) -> int:
        """Make the scheduler's briefing schedules match the preferences table (after any change); returns how
        many (0 before :meth:`start`)."""
        from apscheduler import ConflictPolicy

        aps = self._aps
        if aps is None:
            return 0
        wanted = self.briefing_triggers()
        for schedule in await aps.get_schedules():
            if schedule.id.startswith(BRIEFING_PREFIX) and schedule.id not in wanted:
                await aps.remove_schedule(schedule.id)
        for schedule_id, trigger in wanted.items():
            await aps.add_schedule(
                _task_id(self.brief_operator, "brief-operator"),
                trigger,
                id=schedule_id,
                args=[schedule_id.removeprefix(BRIEFING_PREFIX)],
                conflict_policy=ConflictPolicy.replace,
                misfire_grace_time=3 * 3600,
            )
        log.info("briefings scheduled for %d operators", len(wanted))
        return len(wanted)

    def prefs_changed(self, _operator_id: str) -> None:
        """Preferences changed (from any thread): re-schedule on this scheduler's loop; nothing before
        :meth:`start` (the minute check re-reads the table anyway)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        async def sync() -> None:
            try:
                await self.sync_briefings()
            except Exception:  # the minute check re-reads the table, so a failed re-schedule is only late
                log.exception("could not re-schedule briefings")

        def start() -> None:
            task = loop.create_task(sync())
            self._sync_tasks.add(task)
            task.add_done_callback(self._sync_tasks.discard)

        loop.call_soon_threadsafe(start)

    async def _resync_if_changed(self) -> None:
        """Preferences written by another process (``clawops brief --at`` on the same store) re-schedule here."""
        from sqlalchemy import func
        from sqlmodel import select

        from engine.store import BriefingPreference

        with self.engine.store.session() as s:
            seen = tuple(s.exec(select(func.count(), func.max(BriefingPreference.updated_at))).one())
        if self._prefs_seen is not None and seen != self._prefs_seen:
            await self.sync_briefings()
        self._prefs_seen = seen

    async def _brief_on_request(self, caller: Any, kind: str) -> dict[str, Any]:
        """ "Brief me now" where the daemon runs: the briefing with its voice note, sent to the asker's channel."""
        from engine.briefer import brief_and_send

        return await brief_and_send(self.engine, caller, kind, voice_config=self.voice)

    # ------------------------------------------------------------------ running
    def register(self, schedule_id: str, task: Task, every: timedelta) -> None:
        """Add (or replace) a recurring task before the scheduler starts."""
        self.schedules = [s for s in self.schedules if s[0] != schedule_id] + [(schedule_id, task, every)]

    def _tasks(self, schedules: list[tuple[str, Task, timedelta]]) -> dict[str, Callable[..., Awaitable[Any]]]:
        """Task id → callable for every task this engine can run."""
        methods: list[Callable[..., Awaitable[Any]]] = [
            self.resume_jobs,
            self.retry_webhooks,
            self.briefings,
            self.ledger_analysis,
            self.guardian_sweep,
            self.brief_operator,
        ]
        out = {_task_id(m, m.__name__): m for m in methods}
        out.update({_task_id(task, schedule_id): task for schedule_id, task, _ in schedules})
        return out

    async def start(self, *, scale: float = 1.0, guardian: bool = False) -> Any:
        """Start in the background of the running loop; returns the APScheduler (``await s.stop()`` to end).

        ``scale`` shrinks every interval (tests and demos run minutes in seconds).  ``guardian`` adds Guardian's
        sweep: pass it only where node reports flow (the daemon, once its node gateway listens), never for an
        embedded or demo engine whose instances have no nodes reporting.
        """
        from apscheduler import AsyncScheduler, ConflictPolicy
        from apscheduler.datastores.sqlalchemy import SQLAlchemyDataStore
        from apscheduler.triggers.interval import IntervalTrigger

        from engine.store import utcnow

        engine = self.engine
        url = _async_url(engine.store.url)
        broker: Any = None
        store_kw: dict[str, Any] = {}
        if url.startswith("postgresql"):
            from apscheduler.eventbrokers.psycopg import PsycopgEventBroker

            namespace = _scheduler_namespace(url)
            broker = PsycopgEventBroker.from_async_sqla_engine(_sqla_async_engine(url), channel=namespace)
            store_kw["schema"] = namespace
        data_store = SQLAlchemyDataStore(url, **store_kw)
        aps = AsyncScheduler(data_store, broker) if broker is not None else AsyncScheduler(data_store)
        await aps.__aenter__()
        schedules = list(self.schedules)
        if guardian:
            # silence from before this engine listened is not the nodes' fault (the demo's simulation keeps its own)
            self._guardian_since = None if engine.settings.demo else utcnow()
            engine.ops.sweeper = self.sweep_now  # "run a health sweep now" works where the sweep is scheduled
            schedules = [s for s in schedules if s[0] != "guardian-sweep"] + [self.guardian_schedule()]
        # Tasks are this engine's methods: the data store keeps only their ids, each scheduler its callables.
        # Every task is configured, scheduled here or not (see the module docstring).
        for name, func in self._tasks(schedules).items():
            await aps.configure_task(name, func=func)
        for schedule_id, task, every in schedules:
            seconds = max(every.total_seconds() * scale, 0.5)
            # The briefing check's first run (the start-up catch-up) waits for the channels the daemon starts next.
            delay = min(BRIEFING_START_DELAY_S, seconds) if schedule_id == "briefings" else 0.0
            trigger = IntervalTrigger(seconds=seconds, start_time=utcnow() + timedelta(seconds=delay))
            await aps.add_schedule(
                _task_id(task, schedule_id),
                trigger,
                id=schedule_id,
                conflict_policy=ConflictPolicy.replace,
                max_jitter=seconds / 10,
            )
        self._aps, self._loop = aps, asyncio.get_running_loop()
        self.voice = _voice_config(engine)
        await self.sync_briefings()
        engine.ops.briefer = self._brief_on_request  # "brief me now" sends the voice note and report to the asker
        await aps.start_in_background()
        log.info("scheduler started with %d schedules on %s", len(schedules), url.split("://")[0])
        return aps


async def start_scheduler(engine: Engine, *, scale: float = 1.0, guardian: bool = False) -> Any:
    """Start ``engine``'s scheduler (:meth:`Scheduler.start`); returns the APScheduler to stop later."""
    return await engine.scheduler.start(scale=scale, guardian=guardian)


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


def _task_id(task: Callable[..., Any], schedule_id: str) -> str:
    """A task's APScheduler id: a :class:`Scheduler` method by its name (the ids earlier versions stored),
    anything registered from elsewhere by its schedule id."""
    owner = getattr(task, "__self__", None)
    name = getattr(task, "__name__", "") if isinstance(owner, Scheduler) else schedule_id
    return f"{TASK_PREFIX}{name}"


def _subscribe(listeners: list[Listener], listener: Listener) -> Callable[[], None]:
    listeners.append(listener)

    def remove() -> None:
        if listener in listeners:
            listeners.remove(listener)

    return remove


async def _tell(listeners: list[Listener], what: Any, failure: str) -> None:
    """Every listener hears ``what`` (sync or async); a broken one is logged and the others still hear it."""
    for listener in list(listeners):
        try:
            out = listener(what)
            if hasattr(out, "__await__"):
                await out
        except Exception:  # a broken channel must not stop the sweep or the next briefing
            log.exception(failure)


def _now() -> Any:
    from engine.store import utcnow

    return utcnow()


def _async_url(url: str) -> str:
    if url.startswith("sqlite:///"):
        # Its own file beside the store: APScheduler's tables (``jobs``, ``tasks``…) would collide with
        # ours, and SQLite has no schemas.  One SQLite engine is one process, so nothing is shared anyway.
        path = url.removeprefix("sqlite:///")
        return "sqlite+aiosqlite:///" + (path[:-3] if path.endswith(".db") else path) + "-scheduler.db"
    if url.startswith(("postgresql+psycopg://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _scheduler_namespace(url: str) -> str:
    """The PostgreSQL schema and NOTIFY channel of this store's scheduler.

    APScheduler's tables (``jobs``, ``tasks``…) would collide with ours, so they live in their own schema. A store
    kept in a schema of its own (``options=-csearch_path=NAME`` in the URL: one database shared by several
    deployments, or by tests) gets ``NAME_apscheduler``; otherwise ``apscheduler``. Engines of one store share it
    (that is how they split the work); engines of different stores never see each other's schedules.
    """
    from urllib.parse import parse_qs, unquote, urlsplit

    for option in parse_qs(urlsplit(url).query).get("options", []):
        for part in unquote(option).split():
            if part.startswith("-csearch_path="):
                first = part.removeprefix("-csearch_path=").split(",")[0].strip().strip('"')
                if first and first.replace("_", "").isalnum():
                    return f"{first}_apscheduler"
    return "apscheduler"


def _voice_config(engine: Engine) -> voice.VoiceConfig | None:
    """The engine's voice settings and the fleet's own words, for the daemon to speak and listen with."""
    try:
        from engine.briefer import voice_config

        return voice_config(engine.settings, engine.store)
    except Exception:  # voice is optional: without it, replies and briefings go out as text
        log.warning("voice settings not applied; voice stays on its defaults", exc_info=True)
        return None


def _sqla_async_engine(url: str) -> Any:
    from sqlalchemy.ext.asyncio import create_async_engine

    return create_async_engine(url)


async def stop_scheduler(aps: Any, *, settle_s: float = 5.0) -> None:
    """Stop a scheduler from ``Scheduler.start`` and release its database connections before the loop ends.

    APScheduler disposes of its SQLAlchemy engine on exit; an aiosqlite query that the stop cancelled still
    finishes on its worker thread, which then reports to the event loop. Waiting (bounded) for those threads here
    keeps that report inside a running loop instead of raising "Event loop is closed" in a thread at shut-down.
    """
    import threading

    try:
        await aps.stop()
    finally:
        await aps.__aexit__(None, None, None)
    deadline = asyncio.get_running_loop().time() + settle_s
    for thread in threading.enumerate():
        if thread.name.endswith("(_connection_worker_thread)") and thread.is_alive():
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            await asyncio.to_thread(thread.join, left)
