"""The conversation-only Textual chat: a transcript and a prompt, nothing else.

One widget per message in an anchored scroll (it follows new replies and lets
go when you scroll up).  Plans that need the operator render inline as cards
with Go / Cancel; those buttons send "go" / "cancel" as the operator's own
message, so confirmation only ever comes from operator input.  Turns run in
workers, one at a time in the order they were sent, so the prompt never blocks
and nothing typed while the team works is lost.  The app reaches the engine
only through :mod:`engine.client`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Footer

from app import slash
from app._terminal import tolerate_invalid_utf8
from app.recorder import Recorder, RecorderUnavailable
from app.widgets import (
    AgentMessage,
    CopyRequested,
    ErrorNote,
    Flash,
    JobProgressMessage,
    PlanCard,
    Prompt,
    SlashComplete,
    SystemNote,
    Throbber,
    Transcript,
    UserMessage,
)
from app.widgets.voice_note import VoiceNoteMessage
from engine.client import (
    ClawOpsError,
    ConnectionLost,
    ConnectionRestored,
    FeedItem,
    JobProgress,
    TokenDelta,
    ToolCall,
    ToolCalled,
    TurnFailed,
    TurnFinished,
    TurnResult,
    TurnStarted,
    audio_seconds,
)

__all__ = ["AgentMessage", "ChatApp", "ChatClient", "ErrorNote", "PlanCard", "SystemNote", "UserMessage"]

log = logging.getLogger(__name__)
tolerate_invalid_utf8()

STREAM_PAINT_S = 0.05
"""How often a streaming reply is repainted (20 times a second reads as live and costs little)."""


class ChatClient(Protocol):
    """What the chat needs from the engine: ``engine.client.EmbeddedClient`` (or the daemon client) fits.

    ``stream`` sends the operator's words, or with ``call`` a slash command's structured tool call (the
    words are then only what was typed, for the history).  It is typed loosely on purpose: a client may add event kinds (connection
    state, progress) before the chat knows them; the chat shows the ones it knows
    and ignores the rest rather than failing.
    """

    def stream(
        self, message: str, *, session: str | None = None, call: ToolCall | None = None
    ) -> AsyncIterator[object]: ...

    @property
    def is_demo(self) -> bool: ...


def _help_text() -> str:
    commands = "\n".join(
        f"  {command.usage:<14} {command.help}{'' if command.available else ' (not available yet)'}"
        for command in slash.COMMANDS
    )
    return (
        'Talk in plain words: "fleet status", "show acct-042", "restart everything degraded on vultr".\n'
        "Changes come back as a plan card; nothing runs until you say go.\n\n"
        f"Commands:\n{commands}\n\n"
        "Keys: Enter send · ctrl+j new line · Up/Down history · ctrl+g Go · ctrl+n Cancel plan · "
        "F2 copy last reply · F8 stop your running job · double-click copies a message · ctrl+end newest · "
        "ctrl+u earlier messages · "
        "F1 help panel · ctrl+q quit"
    )


class ChatApp(App[None]):
    """``clawops``: talk to Commander and the team."""

    TITLE = "ClawOps"
    CSS_PATH = Path(__file__).with_name("chat.tcss")  # absolute, so subclasses elsewhere still find it
    AUTO_FOCUS = "#prompt"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", tooltip="Leave the chat", priority=True),
        Binding("f1", "toggle_help", "Help", id="app.help", tooltip="Show or hide the keys and help panel"),
        Binding(
            "ctrl+g",
            "plan('go')",
            "Go",
            id="plan.go",
            priority=True,
            tooltip="Run the pending plan (same as typing go)",
        ),
        Binding(
            "ctrl+n",
            "plan('cancel')",
            "Cancel plan",
            id="plan.cancel",
            priority=True,
            tooltip="Drop the pending plan (same as typing cancel)",
        ),
        Binding(
            "f2", "copy_last", "Copy reply", id="chat.copy", tooltip="Copy the last reply (OSC 52, works over SSH)"
        ),
        Binding(
            "f8",
            "stop_job",
            "Stop job",
            id="job.stop",
            show=False,
            tooltip="Stop your latest running job at its next safe step (same as typing: stop job ID)",
        ),
        Binding(
            "ctrl+end",
            "follow",
            "Newest",
            id="chat.follow",
            show=False,
            tooltip="Jump to the newest message and follow again",
        ),
        Binding(
            "f5",
            "push_to_talk",
            "Talk",
            id="chat.talk",
            show=False,
            tooltip="Record a voice note from this machine's microphone; press again to send it",
        ),
        Binding(
            "ctrl+u",
            "show_earlier",
            "Earlier",
            id="chat.earlier",
            show=False,
            tooltip="Bring back earlier messages hidden to keep the chat fast",
        ),
        Binding(
            "shift+pageup",
            "scroll_transcript(-1)",
            "Scroll up",
            id="chat.page_up",
            show=False,
            tooltip="Scroll the transcript up a page",
        ),
        Binding(
            "shift+pagedown",
            "scroll_transcript(1)",
            "Scroll down",
            id="chat.page_down",
            show=False,
            tooltip="Scroll the transcript down a page",
        ),
    ]

    def __init__(
        self,
        client: ChatClient,
        *,
        session: str = "chat",
        high_water: int = 80,
        low_water: int = 50,
        keymap: Mapping[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        """``keymap`` maps binding ids (``"plan.go"``, ``"app.help"``, …) to keys, e.g. from the operator's
        settings; ``log_path`` is where unexpected errors are written in full (the transcript names it)."""
        super().__init__()
        self.client = client
        self.session = session
        self._keymap = dict(keymap or {})
        self.log_path = log_path
        self._high_water = high_water
        self._low_water = low_water
        self.last_reply: str | None = None
        self.jobs: dict[str, Any] = {}
        """Jobs seen in this chat, by id (the engine's ``JobView``s), for ``/jobs``."""
        self._progress: dict[str, JobProgressMessage] = {}
        """The in-place progress message of each job, by job id."""
        self._deferred: dict[str, JobProgress] = {}
        """First reports of jobs that arrived while a turn was in flight: shown after that turn's reply, so a job's
        progress always comes below the message that started it."""
        self._turn_lock = asyncio.Lock()
        self.connected = True
        self._feed_task: asyncio.Task[None] | None = None
        self.recorder = Recorder()
        """Push-to-talk (F5): records where the microphone is the operator's own."""
        """False while the engine is unreachable (a daemon restarting); typed messages wait, nothing is lost."""

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        with Transcript(id="transcript", high_water=self._high_water, low_water=self._low_water):
            demo = " You are on the DEMO fleet (no real servers)." if self.client.is_demo else ""
            yield SystemNote(f'ClawOps — say "fleet status" or "help"; type / for commands, F1 for keys.{demo}')
        yield SlashComplete(id="slash")
        with Vertical(id="composer"):
            yield Throbber(id="throbber")
            yield Flash(id="flash")
            yield Prompt(id="prompt", placeholder="Message the team…  (Enter sends, / for commands)")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.prompt.completer = self.query_one(SlashComplete)
        if self._keymap:
            self.set_keymap(self._keymap)
        if callable(getattr(self.client, "history", None)):
            self.resume_history()
        if callable(getattr(self.client, "feed", None)):
            # A plain task, not a worker: it never finishes, and "wait for the workers" must still mean
            # "wait for the turns" (tests, and the app's own shutdown ordering).
            self._feed_task = asyncio.create_task(self.follow_feed(), name="clawops-feed")

    async def on_unmount(self) -> None:
        task = self._feed_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # ------------------------------------------------------------------ history and the shared feed
    @work(group="history", exit_on_error=False)
    async def resume_history(self, limit: int = 50) -> None:
        """Show the end of this session as it was left (a restart, another terminal), before anything new."""
        client: Any = self.client  # optional part of the client interface (the test doubles may lack it)
        history = client.history
        try:
            rows = await history(self.session, limit)
        except Exception as exc:  # history is a convenience: the chat works without it
            log.warning("no history: %s", exc)
            return
        if not rows:
            return
        widgets: list[Any] = [SystemNote(f"Earlier in this session ({len(rows)} messages):")]
        for row in rows:
            if row.role == "operator":
                widgets.append(UserMessage(row.text))
            elif row.role == "error":
                widgets.append(ErrorNote(row.text))
            else:
                widgets.append(AgentMessage(row.text, agent=row.agent))
        widgets.append(SystemNote("— you are here —"))
        await self.transcript.post(*widgets)

    async def follow_feed(self) -> None:
        """The engine's shared feed: job progress, other operators' actions, connection state."""
        client: Any = self.client
        feed = client.feed
        try:
            async for item in feed():
                await self.on_feed(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the feed is extra: losing it must not take the chat down
            log.exception("feed stopped")
            await self.transcript.post(
                ErrorNote(
                    f"The live feed stopped: {exc}", "Replies still arrive; restart the chat to see job progress again."
                )
            )

    @property
    def me(self) -> str | None:
        """The operator this chat speaks as, when the client knows it."""
        who = getattr(self.client, "whoami", None)
        return who if isinstance(who, str) else None

    async def on_feed(self, item: object) -> None:
        if isinstance(item, JobProgress):
            await self.show_progress(item)
        elif isinstance(item, FeedItem) and item.channel == "guardian":
            await self.transcript.post(AgentMessage(item.reply, agent="guardian"))  # Guardian, on its own
        elif isinstance(item, FeedItem):
            if item.operator == self.me and item.session == self.session:
                return  # this chat's own turn: already in the transcript
            summary = item.summary
            asked = item.message if len(item.message) <= 120 else item.message[:117] + "…"
            await self.transcript.post(SystemNote(f"{summary} — asked “{asked}”", classes="-feed"))
        elif isinstance(item, ConnectionLost | ConnectionRestored):
            await self.connection_changed(item)

    async def connection_changed(self, event: ConnectionLost | ConnectionRestored) -> None:
        """Say once that the engine went away or came back (the turn stream and the feed both notice)."""
        lost = isinstance(event, ConnectionLost)
        if lost == (not self.connected):
            return
        self.connected = not lost
        await self.transcript.post(ErrorNote(event.message) if lost else SystemNote(event.message))
        self.query_one(Flash).flash(event.message, warning=lost)

    async def show_progress(self, progress: JobProgress) -> None:
        """Update the job's progress message in place, or start one for a job first seen now."""
        job = progress.job
        widget = self._progress.get(job.id)
        if widget is not None and widget.finished and not job.finished:
            return  # a report that was overtaken by the job's end (progress can arrive out of order)
        if widget is None and self.busy and job.id not in self.jobs:
            self._deferred[job.id] = progress  # its "Started job" reply is still on the way: show this after it
            return
        self._deferred.pop(job.id, None)
        self.jobs[job.id] = job
        if widget is not None and widget.is_attached:
            widget.apply(progress)
        else:
            mine = progress.operator == self.me or self.me is None
            widget = JobProgressMessage(progress, mine=mine)
            self._progress[job.id] = widget
            await self.transcript.post(widget)
        if job.finished:
            for card in self.query(PlanCard):
                if card.plan_id == job.plan_id and not card.is_pending:
                    card.resolve(f"confirmed, job {job.status} ({job.done}/{job.total})")
            self.query_one(Flash).flash(progress.line, warning=job.status == "failed")

    @property
    def transcript(self) -> Transcript:
        return self.query_one(Transcript)

    @property
    def prompt(self) -> Prompt:
        return self.query_one(Prompt)

    @property
    def pending_card(self) -> PlanCard | None:
        """The newest plan card still waiting for a decision, if any."""
        cards = [card for card in self.query(PlanCard) if card.is_pending]
        return cards[-1] if cards else None

    # ------------------------------------------------------------------ input
    async def on_prompt_submitted(self, event: Prompt.Submitted) -> None:
        await self.send(event.text)

    def on_key(self, event: events.Key) -> None:
        """Typing while something else has focus goes to the prompt, so no keystroke is lost."""
        if event.is_printable and event.character and event.character != " " and not isinstance(self.focused, Prompt):
            prompt = self.prompt
            prompt.focus()
            prompt.type_text(event.character)
            event.stop()

    async def send(self, text: str) -> None:
        """Handle one operator message: a slash command here, anything else to the team."""
        command = slash.parse(text)
        if command is not None:
            await self.run_command(*command, typed=text)
            return
        await self.transcript.post(UserMessage(text))
        self.run_turn(text)

    # ------------------------------------------------------------------ slash commands
    async def run_command(self, name: str, arg: str, *, typed: str) -> None:
        command = slash.lookup(name)
        if command is None:
            await self.transcript.post(
                ErrorNote(f"There is no /{name} command.", "Type / to see the commands, or /help.")
            )
            return
        if command.name == "quit":
            self.exit()
            return
        try:
            call = slash.tool_call(command.name, arg)
        except slash.SlashUsage as usage:
            await self.transcript.post(ErrorNote(usage.problem, usage.example))
            return
        if call is not None:  # a request to the team, sent as the tool call itself: no English round trip
            await self.transcript.post(UserMessage(typed))
            self.run_turn(typed, call)
            return
        if command.name == "copy":
            self.action_copy_last()
            return
        if command.name == "help":
            await self.transcript.post(SystemNote(_help_text()))
            return
        if command.name == "find":
            await self.transcript.post(UserMessage(typed))
            self.find(arg)
            return
        if command.name == "voice":
            await self.send_voice(arg)
            return
        await self.transcript.post(SystemNote(f"{command.usage} — {command.help}: not available yet in this build."))

    # ------------------------------------------------------------------ voice notes
    async def send_voice(self, arg: str) -> None:
        """``/voice FILE``: send a recording as the operator's voice note; the team answers in words and voice."""
        if not arg.strip():
            await self.transcript.post(ErrorNote("Say which recording to send.", "For example: /voice ~/note.ogg"))
            return
        path = Path(arg.strip()).expanduser()
        if not path.is_file():
            await self.transcript.post(
                ErrorNote(
                    f"There is no audio file at {path}.", "Give the path of an .ogg, .opus, .wav or .mp3 recording."
                )
            )
            return
        client: Any = self.client
        if not callable(getattr(client, "ask_voice", None)):
            await self.transcript.post(SystemNote("This connection cannot send voice notes."))
            return
        note = VoiceNoteMessage(path, sent=True, seconds=audio_seconds(path))
        await self.transcript.post(note)
        self.voice_turn(path, note)

    @work(group="turn", exit_on_error=False)
    async def voice_turn(self, path: Path, note: VoiceNoteMessage) -> None:
        """Like a typed turn (queued behind the others), but heard first and answered with a voice note too."""
        throbber = self.query_one(Throbber)
        self._busy(throbber, +1)
        try:
            async with self._turn_lock:
                throbber.say("Listening to your voice note…")
                client: Any = self.client
                try:
                    heard = await client.ask_voice(path, session=self.session)
                except ClawOpsError as err:
                    note.note = "Not sent."
                    note.refresh(layout=True)
                    await self.transcript.post(ErrorNote(str(err), "Nothing was sent to the team."))
                    return
                except Exception as exc:
                    log.exception("voice turn failed")
                    where = self._write_log(exc)
                    await self._failed(
                        f"The voice note could not be handled: {exc}",
                        f"Details: {where}" if where else "Try again, or type the request.",
                    )
                    return
                note.heard(heard.transcript)
                await self._show_result(heard.result)
                if heard.voice_reply is not None:
                    await self.transcript.post(
                        VoiceNoteMessage(
                            Path(heard.voice_reply),
                            sent=False,
                            seconds=audio_seconds(Path(heard.voice_reply)),
                            agent=heard.result.agent,
                        )
                    )
                elif heard.voice_error:
                    await self.transcript.post(SystemNote(f"No spoken reply: {heard.voice_error}"))
        finally:
            self._busy(throbber, -1)

    @work(group="find", exit_on_error=False)
    async def find(self, text: str) -> None:
        """``/find TEXT``: this operator's earlier messages containing ``text``, newest first."""
        search: Any = getattr(self.client, "search", None)
        if not text.strip():
            await self.transcript.post(ErrorNote("Say what to look for, e.g. /find nuremberg."))
            return
        if not callable(search):
            await self.transcript.post(SystemNote("Search needs the engine's history; this client has none."))
            return
        try:
            rows = await search(text.strip(), 20)
        except Exception as exc:
            await self.transcript.post(ErrorNote(f"Search failed: {exc}", "Try again in a moment."))
            return
        if not rows:
            await self.transcript.post(SystemNote(f"Nothing in your history mentions “{text.strip()}”."))
            return
        lines = [f"{len(rows)} earlier messages mention “{text.strip()}” (newest first):"]
        for row in rows:
            who = "you" if row.role == "operator" else (row.agent or row.role)
            first = row.text.strip().splitlines()[0] if row.text.strip() else ""
            first = first if len(first) <= 100 else first[:99] + "…"
            lines.append(f"  {row.created_at:%Y-%m-%d %H:%M}  [{row.session}] {who}: {first}")
        await self.transcript.post(SystemNote("\n".join(lines)))

    # ------------------------------------------------------------------ turns
    @work(group="turn", exit_on_error=False)
    async def run_turn(self, text: str, call: ToolCall | None = None) -> None:
        """Run one turn (``call``: a slash command's tool call); turns queue behind each other so replies come
        back in the order asked."""
        throbber = self.query_one(Throbber)
        self._busy(throbber, +1)
        try:
            async with self._turn_lock:
                throbber.say("Commander is on it…")
                try:
                    await self._stream_turn(text, call)
                except Exception as exc:  # a broken engine must not take the chat down
                    log.exception("turn failed")
                    where = self._write_log(exc)
                    await self._failed(
                        f"Something went wrong talking to the engine: {exc}",
                        "Your message is in the prompt history (press Up to send it again)."
                        + (f" Details: {where}" if where else ""),
                    )
        finally:
            self._busy(throbber, -1)

    def _busy(self, throbber: Throbber, step: int) -> None:
        """Count running/queued turns; plan buttons and keys wait while any turn is in flight.

        "go" confirms whatever plan is pending *when the engine reads it*: a go sent
        behind a queued request could approve a plan the operator has not seen yet.
        """
        throbber.busy += step
        idle = throbber.busy == 0
        if idle and self._deferred:
            self.call_later(self._show_deferred)
        for card in self.query(PlanCard):
            card.set_waiting(not idle)
        self.refresh_bindings()

    async def _show_deferred(self) -> None:
        """Post the progress messages held back while a turn was in flight (their turn's reply is up now)."""
        for job_id in list(self._deferred):
            progress = self._deferred.get(job_id)
            if progress is not None and (not self.busy or job_id in self.jobs):
                await self.show_progress(self._deferred.pop(job_id))

    @property
    def busy(self) -> bool:
        """Whether a turn is running or queued."""
        return self.query_one(Throbber).busy > 0

    async def _stream_turn(self, text: str, call: ToolCall | None = None) -> None:
        throbber = self.query_one(Throbber)
        streaming: AgentMessage | None = None
        pending = ""
        last_paint = 0.0
        # A call is passed only when there is one, so a client that predates structured calls still chats.
        turn = (
            self.client.stream(text, session=self.session, call=call)
            if call is not None
            else self.client.stream(text, session=self.session)
        )
        async for event in turn:
            if isinstance(event, TokenDelta):
                # Batched: the model sends many small pieces; repaint at most every STREAM_PAINT_S seconds.
                pending += event.text
                now = asyncio.get_running_loop().time()
                if streaming is None:
                    streaming = AgentMessage(pending, agent=event.agent, classes="-streaming")
                    pending, last_paint = "", now
                    await self.transcript.post(streaming)
                elif now - last_paint >= STREAM_PAINT_S:
                    streaming.reply += pending
                    pending, last_paint = "", now
                    streaming.refresh(layout=True)
                continue
            if streaming is not None and isinstance(event, TurnFinished | TurnFailed):
                await streaming.remove()  # the finished reply (with its plan cards) takes its place
                streaming = None
            if isinstance(event, TurnStarted):
                throbber.say("Commander is on it…")
            elif isinstance(event, ToolCalled):
                throbber.say(f"{event.tool}: {event.summary or event.status}")
            elif isinstance(event, TurnFinished):
                await self._show_result(event.result)
            elif isinstance(event, TurnFailed):
                await self._failed(event.message, "Nothing was changed. Try again, or /status to check the fleet.")
            elif isinstance(event, JobProgress):
                await self.show_progress(event)
            elif isinstance(event, ConnectionLost | ConnectionRestored):
                throbber.say(event.message)
                await self.connection_changed(event)
            else:
                log.debug("chat ignores %s events", type(event).__name__)

    def _write_log(self, exc: BaseException) -> Path | None:
        """Append the full traceback to ``log_path``; the transcript only gets one line."""
        if self.log_path is None:
            return None
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a", encoding="utf-8") as out:
                out.write("".join(traceback.format_exception(exc)) + "\n")
        except OSError:
            return None
        return self.log_path

    async def _failed(self, problem: str, next_step: str) -> None:
        for card in self.query(PlanCard):
            if card.is_pending and card.is_deciding:
                card.reopen()
        await self.transcript.post(ErrorNote(problem, next_step))
        self.refresh_bindings()

    async def _show_result(self, result: TurnResult) -> None:
        refused = any(call.status in ("refused", "error") for call in result.tool_calls)
        widgets: list[Any] = [AgentMessage(result.reply, agent=result.agent, classes="-refused" if refused else None)]
        self.last_reply = result.reply
        # The engine reports a cancellation only in words ("Cancelled pl-…"): a reply naming the card's plan,
        # saying cancel and carrying no plan or job is taken as that plan being cancelled.
        plans_or_jobs = any(getattr(c, "plan", None) or getattr(c, "job", None) for c in result.tool_calls)
        for call in result.tool_calls:
            job = getattr(call, "job", None)
            plan = getattr(call, "plan", None)
            if job is not None:
                self.jobs[job.id] = job
                for card in self.query(PlanCard):
                    if card.plan_id == job.plan_id and card.is_pending:
                        card.resolve(f"confirmed, job {job.status} ({job.done}/{job.total})")
            if plan is not None and plan.status == "pending" and plan.requires_confirmation:
                for card in self.query(PlanCard):
                    if card.is_pending:
                        card.resolve("replaced by a newer plan")
                widgets.append(PlanCard(plan))
        for card in self.query(PlanCard):
            if (
                card.is_pending
                and not plans_or_jobs
                and card.plan_id in result.reply
                and "cancel" in result.reply.lower()
            ):
                card.resolve("cancelled, nothing changed")
            elif card.is_pending and card.is_deciding:
                # The engine answered our go/cancel without running or cancelling this plan (expired, confirmed
                # elsewhere, …); it no longer holds it pending for this session, so neither may the card.
                card.resolve("no longer waiting, see the reply below")
        await self.transcript.post(*widgets)
        await self._show_deferred()  # the jobs this reply started: their progress goes right below it
        self.refresh_bindings()

    # ------------------------------------------------------------------ plan decisions
    async def on_plan_card_decided(self, event: PlanCard.Decided) -> None:
        if self.busy:  # the buttons are disabled meanwhile; this is a click that raced the turn
            event.card.reopen()
            self.query_one(Flash).flash("Wait for the team's reply, then decide on the plan.", warning=True)
            return
        self.refresh_bindings()
        await self.send(event.decision)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "plan":
            card = self.pending_card
            return card is not None and not card.is_deciding and not self.busy
        return True

    def action_plan(self, decision: str) -> None:
        card = self.pending_card
        if card is not None and not card.is_deciding and not self.busy:
            card.decide("go" if decision == "go" else "cancel")

    # ------------------------------------------------------------------ other actions
    def action_copy_last(self) -> None:
        if self.last_reply is None:
            self.query_one(Flash).flash("Nothing to copy yet.", warning=True)
            return
        self._copy(self.last_reply, "the last reply")

    def on_copy_requested(self, event: CopyRequested) -> None:
        self._copy(event.text, "that message")

    def _copy(self, text: str, what: str) -> None:
        """Copy with OSC 52: the operator's own terminal gets it, even over SSH."""
        self.copy_to_clipboard(text)
        self.query_one(Flash).flash(f"Copied {what} ({len(text):,} characters) to your clipboard.")

    def action_toggle_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    async def action_stop_job(self) -> None:
        """F8: stop this operator's most recent running job (the engine stops it at its next safe step)."""
        mine = [
            job_id
            for job_id, job in self.jobs.items()
            if not job.finished
            and job.status != "stopping"
            and (widget := self._progress.get(job_id)) is not None
            and widget.mine
        ]
        if not mine:
            self.query_one(Flash).flash(
                'No job of yours is running here; "what jobs are running?" lists them.', warning=True
            )
            return
        await self.send(f"stop job {mine[-1]}")

    def action_follow(self) -> None:
        self.transcript.follow()

    async def action_push_to_talk(self) -> None:
        """First press records from the microphone (where it is the operator's); the second sends the note."""
        flash = self.query_one(Flash)
        try:
            if not self.recorder.recording:
                self.recorder.start()
                flash.flash("Recording… press F5 again to send the voice note.")
                return
            path = self.recorder.stop()
        except RecorderUnavailable as exc:
            flash.flash(str(exc), warning=True)
            return
        await self.send_voice(str(path))

    def action_show_earlier(self) -> None:
        """Long sessions keep only the newest messages mounted; this brings back the ones before them."""
        if not self.transcript.archived:
            self.query_one(Flash).flash("Nothing earlier is hidden.")
            return
        self.transcript.run_worker(self.transcript.show_earlier(), group="show-earlier")

    def action_scroll_transcript(self, direction: int) -> None:
        if direction < 0:
            self.transcript.scroll_page_up()
        else:
            self.transcript.scroll_page_down()
