"""The one interface the UI talks to (ARCHITECTURE §1).

``EmbeddedClient`` runs the engine in-process; ``RemoteClient`` talks to a
``clawops engine`` daemon over its HTTP/WebSocket API with the operator's API
key.  Both have the same methods, so the chat does not care which it has
(:func:`open_client` picks one from the settings).  Everything the app needs
from the engine is re-exported here, and the app imports nothing else from
``engine``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol

from engine.api import (
    ClientEvent,
    ConnectionLost,
    ConnectionRestored,
    EngineUnavailable,
    FeedItem,
    HistoryMessage,
    RemoteClient,
    Unauthorized,
    key_checker,
    load_history,
    run_turn,
    search_history,
    visible_to,
)
from engine.audit import AuditReport
from engine.config import Settings, load_settings
from engine.conversation import ToolCall, TurnResult
from engine.domain import Selector
from engine.errors import ClawOpsError, TooManyAttempts
from engine.events import EngineEvent, JobProgress, TokenDelta, ToolCalled, TurnFailed, TurnFinished, TurnStarted
from engine.runtime import Engine
from engine.trust import (
    AuditRecord,
    IssuedKey,
    KeyView,
    OperatorView,
    RotationReport,
    SecretInfo,
    printable,
)

__all__ = [
    "AuditRecord",
    "AuditReport",
    "ClawOpsError",
    "IssuedKey",
    "JobProgress",
    "KeyView",
    "OperatorView",
    "RotationReport",
    "Selector",
    "SecretInfo",
    "ClientEvent",
    "ConnectionLost",
    "ConnectionRestored",
    "EmbeddedClient",
    "EngineClient",
    "EngineEvent",
    "EngineUnavailable",
    "FeedItem",
    "HistoryMessage",
    "RemoteClient",
    "Unauthorized",
    "key_checker",
    "open_client",
    "serve_daemon",
    "Settings",
    "TokenDelta",
    "TooManyAttempts",
    "ToolCall",
    "ToolCalled",
    "TurnFailed",
    "TurnFinished",
    "TurnResult",
    "TurnStarted",
    "audio_seconds",
    "load_settings",
    "printable",
    "serve_emulator",
]


DEMO_SWEEP_S = 60.0
"""How often Guardian sweeps the demo's simulated fleet while a chat is open (the daemon: its schedule)."""


def audio_seconds(path: Path) -> float | None:
    """How long a recording is, or ``None`` when it cannot be read here (no voice extra, a broken file)."""
    try:
        import voice

        return float(voice.probe(str(path)))
    except Exception:  # a duration is a nicety: the note is still sent and shown without it
        return None


class EngineClient(Protocol):
    """What a chat front end can ask of the engine."""

    async def ask(
        self,
        message: str,
        *,
        session: str | None = None,
        dry_run: bool = False,
        yes: bool = False,
        call: ToolCall | None = None,
    ) -> TurnResult: ...

    def stream(
        self, message: str, *, session: str | None = None, call: ToolCall | None = None
    ) -> AsyncIterator[ClientEvent]: ...

    def audit_verify(self) -> AuditReport: ...

    async def history(self, session: str | None, limit: int = 200) -> list[HistoryMessage]: ...

    async def search(self, text: str, limit: int = 50) -> list[HistoryMessage]: ...

    def feed(self) -> AsyncIterator[FeedItem | JobProgress | ConnectionLost | ConnectionRestored]: ...

    def close(self) -> None: ...


class EmbeddedClient:
    """The engine in this process, acting as one operator on one channel."""

    def __init__(
        self, engine: Engine, *, operator: str | None = None, channel: str = "cli", background_jobs: bool = False
    ) -> None:
        """``background_jobs``: confirmed jobs run as tasks and report progress on :meth:`feed` (the chat),
        instead of each turn waiting for its job to finish (``clawops ask``, scripts)."""
        self.engine = engine
        self.operator = operator
        self.channel = channel
        engine.ops.background_jobs = background_jobs
        self._resumed = False
        if engine.settings.demo and engine.ops.sweeper is None:
            engine.ops.sweeper = engine.scheduler.sweep_now  # "run a health sweep now" sweeps the simulated fleet
        self._prime_redaction()
        self._key_caller: Any = None
        try:
            key = engine.settings.api_key
            if key is not None:
                # An API key given to an embedded engine (the web door's tab, a script) is who acts: its operator,
                # with its scope's cap on the role, exactly as the daemon would treat it.
                self._key_caller = engine.trust.authenticate(key.get_secret_value(), channel=channel)
                self.operator = self._key_caller.name
            engine.caller(self.operator, channel)  # fail now, clearly, if the operator is unknown
        except ClawOpsError as err:
            raise self._scrubbed(err) from None

    @classmethod
    def open(
        cls,
        *,
        config_file: Path | None = None,
        operator: str | None = None,
        channel: str = "cli",
        background_jobs: bool = False,
        **overrides: Any,
    ) -> EmbeddedClient:
        return cls(
            Engine.open(config_file=config_file, **overrides),
            operator=operator,
            channel=channel,
            background_jobs=background_jobs,
        )

    @property
    def whoami(self) -> str:
        """The operator this client acts as (so a feed can tell the operator's own turns from others')."""
        return str(self._me().name)

    async def ask(
        self,
        message: str,
        *,
        session: str | None = None,
        dry_run: bool = False,
        yes: bool = False,
        call: ToolCall | None = None,
    ) -> TurnResult:
        """One turn.  With ``call`` (a slash command, a script) the tool call goes to the operation layer as sent
        and ``message`` is only what the operator typed; without it the team reads ``message``."""
        result = await run_turn(
            self.engine,
            message,
            operator=self.operator,
            channel=self.channel,
            session=session,
            dry_run=dry_run,
            yes=yes,
            caller=self._key_caller,
            call=call,
        )
        scrubbed: TurnResult = self.engine.trust.redactor.scrub_value(result)
        return scrubbed

    async def stream(
        self, message: str, *, session: str | None = None, call: ToolCall | None = None
    ) -> AsyncIterator[EngineEvent]:
        """The same turn as :meth:`ask`, as events for a UI, with the model's reply streamed as
        :class:`TokenDelta` (redacted) while the turn runs."""
        yield TurnStarted(self.engine.trust.redactor.scrub(message), session)  # what is echoed is redacted too
        deltas: asyncio.Queue[TokenDelta] = asyncio.Queue()

        async def turn() -> TurnResult:
            result = await run_turn(
                self.engine,
                message,
                operator=self.operator,
                channel=self.channel,
                session=session,
                caller=self._key_caller,
                call=call,
                on_delta=lambda agent, text: deltas.put_nowait(TokenDelta(agent, text)),
            )
            scrubbed: TurnResult = self.engine.trust.redactor.scrub_value(result)
            return scrubbed

        task = asyncio.ensure_future(turn())
        try:
            while not task.done():
                getter = asyncio.ensure_future(deltas.get())
                await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                else:
                    getter.cancel()
            while not deltas.empty():
                yield deltas.get_nowait()
            result = task.result()
        except ClawOpsError as err:
            yield TurnFailed(str(err))
            return
        finally:
            if not task.done():
                task.cancel()
        for outcome in result.tool_calls:
            yield ToolCalled(outcome.tool, outcome.status, outcome.message)
        yield TurnFinished(result)

    def audit_verify(self) -> AuditReport:
        """The chain check plus the anchor kept outside the store (missing or disagreeing: a failed verify).

        The chain spans every tenant: a tenant-scoped operator is refused (rule 6), as over HTTP."""
        from engine.errors import PolicyRefusal
        from engine.trust import verify_anchored

        if self._me().tenant_id is not None:
            raise PolicyRefusal(
                "rule6_tenant_isolation",
                "Refused by rule 6: the audit chain spans every tenant, "
                "and you are scoped to one; ask an unscoped owner.",
            )
        report = verify_anchored(self.engine.store, self.engine.trust.anchor_path)
        if report.problem is not None:
            report = AuditReport(
                report.entries, report.head_hash, self.engine.trust.redactor.scrub_value(report.problem)
            )
        return report

    # ------------------------------------------------------------------ trust (issue 11)
    def _prime_redaction(self) -> None:
        """Every secret value this process could print is known to the redactor before any output."""
        from engine.trust import install_log_redaction

        settings = self.engine.settings
        url = settings.store_url
        password = url.split("://", 1)[-1].rsplit("@", 1)[0].partition(":")[2] if "@" in url else None
        self.engine.trust.prime_redactor(settings.anthropic_api_key, settings.gateway_token, password)
        install_log_redaction(self.engine.trust.redactor)

    def _scrubbed(self, err: ClawOpsError) -> ClawOpsError:
        """The same error with any secret in its sentence masked (a typo'd token pasted as a name, say)."""
        err.args = (self.engine.trust.redactor.scrub(str(err)),)
        return err

    def redact(self, text: str) -> str:
        """``text`` without any secret value or API key (for every line a front end prints)."""
        return self.engine.trust.redactor.scrub(text)

    def _me(self) -> Any:
        if self._key_caller is not None:
            return dataclasses.replace(self._key_caller, channel=self.channel)
        return self.engine.caller(self.operator, self.channel)

    def _owner(self, action: str) -> Any:
        from engine.policy import Role, require_role

        caller = self._me()
        require_role(caller, Role.OWNER, action)
        return caller

    def operator_add(
        self,
        name: str,
        role: str,
        *,
        tenant: str | None = None,
        with_key: bool = False,
        scopes: list[str] | None = None,
    ) -> tuple[OperatorView, IssuedKey | None]:
        """Add an operator, optionally issuing its first API key (shown once)."""
        from engine.trust import add_operator

        me = self._me()
        view = add_operator(self.engine.store, me, name, role, tenant_id=tenant)
        key = self.engine.trust.issue_key(me, name, scopes) if with_key else None
        return view, key

    def operator_list(self) -> list[OperatorView]:
        from engine.trust import list_operators

        return list_operators(self.engine.store, self._me())

    def operator_revoke(self, name: str) -> OperatorView:
        from engine.trust import revoke_operator

        return revoke_operator(self.engine.store, self._me(), name)

    def operator_link(self, name: str, channel: str, external_id: str) -> None:
        from engine.trust import link_identity

        link_identity(self.engine.store, self._me(), name, channel, external_id)

    def operator_key(self, name: str, scopes: list[str] | None = None) -> IssuedKey:
        return self.engine.trust.issue_key(self._me(), name, scopes)

    def key_list(self, operator: str | None = None) -> list[KeyView]:
        from engine.trust import list_keys

        return list_keys(self.engine.store, self._owner("key list"), operator=operator)

    def key_revoke(self, key_id: str) -> KeyView:
        from engine.trust import revoke_key

        return revoke_key(self.engine.store, self._me(), key_id)

    def secrets_set(self, name: str, value: str) -> SecretInfo:
        me = self._owner("secrets set")
        return self.engine.trust.secrets.set(name, value, actor=me.actor, channel=me.channel)

    def secrets_list(self) -> list[SecretInfo]:
        self._owner("secrets list")
        return self.engine.trust.secrets.list()

    def secrets_rotate(self, *, retire: bool = False) -> RotationReport:
        me = self._owner("secrets rotate")
        return self.engine.trust.secrets.rotate(actor=me.actor, channel=me.channel, retire=retire)

    def audit_query(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: str | None = None,
        limit: int = 50,
    ) -> list[AuditRecord]:
        """Audit entries, newest first, scrubbed of secrets; tenant-scoped operators are refused (rule 6)."""
        from engine.errors import PolicyRefusal
        from engine.trust import parse_since, query

        me = self._me()
        if me.tenant_id is not None:
            raise PolicyRefusal(
                "rule6_tenant_isolation",
                "Refused by rule 6: the audit log spans every tenant, "
                "and you are scoped to one; ask an unscoped owner.",
            )
        rows = query(
            self.engine.store,
            actor=actor,
            action=action,
            target=target,
            since=parse_since(since) if since else None,
            limit=limit,
        )
        scrubbed: list[AuditRecord] = self.engine.trust.redactor.scrub_value(rows)
        return scrubbed

    def audit_anchor(self) -> tuple[int, str, str]:
        """Copy the chain head to the anchor file outside the store (recorded in the chain); returns (seq, hash, file)."""
        from engine.trust import record_anchor

        me = self._owner("audit anchor")
        path = self.engine.trust.anchor_path
        mark = record_anchor(self.engine.store, path, actor=me.actor, channel=me.channel)
        return mark.seq, mark.hash, str(path)

    # ------------------------------------------------------------------ history and feed (issue 8)
    async def history(self, session: str | None, limit: int = 200) -> list[HistoryMessage]:
        """This operator's last messages in ``session``, oldest first (to resume a chat)."""
        return load_history(self.engine.store, self._me().operator_id, session, limit)

    async def search(self, text: str, limit: int = 50) -> list[HistoryMessage]:
        """This operator's messages containing ``text`` (any session), newest first (``/find``)."""
        return search_history(self.engine.store, self._me().operator_id, text, limit)

    async def feed(self) -> AsyncIterator[FeedItem | JobProgress | ConnectionLost | ConnectionRestored]:
        """Every turn run on this engine object, by anyone, as it finishes, and job progress as it happens
        (runs until cancelled; a tenant-scoped operator sees only their tenant's).

        With background jobs, opening the feed also resumes jobs an earlier run left unfinished: the feed is
        the chat's long-lived connection, so their progress has somewhere to go.
        """
        tenant = self._me().tenant_id
        resumer: asyncio.Task[None] | None = None
        sweeper: asyncio.Task[None] | None = None
        async with self.engine.feed.subscribe() as queue:
            if self.engine.ops.background_jobs and not self._resumed:
                self._resumed = True
                resumer = asyncio.ensure_future(self._keep_resuming())
                if self.engine.settings.demo:
                    sweeper = asyncio.ensure_future(self._keep_sweeping())
            try:
                while True:
                    item = await queue.get()
                    if visible_to(item, tenant):
                        yield item
            finally:
                if resumer is not None:
                    resumer.cancel()
                    self._resumed = False
                if sweeper is not None:
                    sweeper.cancel()

    async def _keep_sweeping(self) -> None:
        """The demo's Guardian while a chat is open: a sweep of the simulated fleet every ``DEMO_SWEEP_S`` (the
        daemon schedules it itself); what Guardian tells the operator arrives on the feed as Guardian's."""
        scheduler = self.engine.scheduler
        self.engine.ops.sweeper = scheduler.sweep_now
        hub = self.engine.feed

        def tell(line: str) -> None:
            hub.publish(
                FeedItem(
                    operator="guardian", channel="guardian", session=None, message="", reply=line, agent="guardian"
                )
            )

        remove = scheduler.on_guardian_message(tell)
        try:
            while True:
                await asyncio.sleep(DEMO_SWEEP_S)
                try:
                    await scheduler.guardian_sweep()
                except ClawOpsError as err:
                    logging.getLogger(__name__).warning("demo sweep failed: %s", err)
        finally:
            remove()

    async def _keep_resuming(self) -> None:
        """Resume unfinished jobs now, and again every lease period: a step an earlier, killed chat left
        "running" can be taken over only once its lease has run out (the daemon's scheduler does this there)."""
        ops = self.engine.ops
        while True:
            try:
                for job_id in ops.unfinished_jobs():
                    if job_id not in ops.running_jobs:
                        ops.start_job(job_id, resumed=True)  # its progress tells the operator it was resumed
            except ClawOpsError as err:
                logging.getLogger(__name__).warning("could not resume jobs: %s", err)
            await asyncio.sleep(ops.step_lease_seconds / 4)  # a dead run's step is free within a lease

    # ------------------------------------------------------------------ voice and briefings (issue 9)
    async def ask_voice(
        self, audio: Path, *, session: str | None = None, dry_run: bool = False, yes: bool = False
    ) -> Any:
        """``ask --voice``: hear ``audio``, run the turn on the transcript, speak the reply.

        Returns an ``engine.briefer.VoiceTurn`` (``transcript``, ``result``, ``voice_reply``,
        ``to_contract()``); bad audio raises an ``InputError`` with one sentence.
        """
        from engine.briefer import ask_voice, voice_config

        return await ask_voice(
            audio,
            lambda text: self.ask(text, session=session, dry_run=dry_run, yes=yes),
            out_dir=self.engine.settings.home / "voice",
            voice_config=voice_config(self.engine.settings, self.engine.store),
        )

    def brief_now(self, kind: str = "daily", out_dir: Path | None = None) -> Any:
        """``brief --now``: produce this operator's briefing at once (an ``engine.briefer.Briefing``)."""
        from engine.briefer import brief_now

        return brief_now(self.engine, kind=kind, out_dir=out_dir, operator=self.operator, channel=self.channel)

    def briefing_schedule(self) -> list[tuple[str, str, str]]:
        """This operator's scheduled briefings as (kind, next run time UTC, channels)."""
        from engine.briefer import schedules_for

        return [
            (s.kind, f"{when:%Y-%m-%d %H:%M}" if when else "never", ",".join(s.channels) or "linked channels")
            for s, when in schedules_for(self.engine, self.operator)
        ]

    def briefing_prefs(self, changes: dict[str, Any]) -> dict[str, Any]:
        """``brief --at/--tz/--to/--days/--off`` (or, without changes, ``--show``): the ``briefing_schedule`` tool."""
        from engine.briefer import schedule_tool

        return schedule_tool(
            self.engine.store,
            self.engine.caller(self.operator, self.channel),
            changes,
            on_change=self.engine.scheduler.prefs_changed,
        )

    @property
    def is_demo(self) -> bool:
        return self.engine.settings.demo

    def close(self) -> None:
        self.engine.close()


def open_client(
    *,
    config_file: Path | None = None,
    operator: str | None = None,
    channel: str = "cli",
    background_jobs: bool = False,
    **overrides: Any,
) -> RemoteClient | EmbeddedClient:
    """The daemon client when ``engine_url`` is configured (with ``api_key``), else an embedded engine.

    ``background_jobs`` is for the chat: an embedded engine then runs confirmed jobs as tasks and reports
    their progress on the feed (a daemon always does).
    """
    settings = load_settings(config_file, **overrides)
    if settings.engine_url:
        if settings.api_key is None:
            raise Unauthorized("engine_url is set but api_key is not; set CLAWOPS_API_KEY to your operator key.")
        return RemoteClient(settings.engine_url, settings.api_key.get_secret_value(), channel=channel)
    return EmbeddedClient.open(
        config_file=config_file, operator=operator, channel=channel, background_jobs=background_jobs, **overrides
    )


def serve_emulator(provider: str, port: int = 0, *, time_scale: float = 1.0) -> None:
    """Serve one vendor's emulated API on 127.0.0.1 in the foreground (``clawops emulate``).

    The first line printed is the base URL, with the vendor's own path prefix.
    """
    from engine.providers.emulators import serve_forever

    try:
        if time_scale <= 0:
            raise ClawOpsError("--time-scale must be a positive number of emulated seconds per real second.")
        serve_forever(provider, port=port, time_scale=time_scale)
    except ValueError as exc:
        raise ClawOpsError(str(exc)) from None


def serve_daemon(
    *,
    config_file: Path | None = None,
    host: str | None = None,
    port: int | None = None,
    started: Callable[[], None] | None = None,
) -> None:
    """Run ``clawops engine`` in the foreground until SIGTERM/Ctrl+C; prints its base URL first, logs JSON on stderr.

    ``started`` is called once the daemon listens (after the URL is printed): the CLI ends its start-up there.
    """
    from engine.api import run_daemon

    def ready(url: str) -> None:
        print(url, flush=True)
        if started is not None:
            started()

    run_daemon(config_file=config_file, host=host, port=port, ready=ready)
