"""The transcript: one widget per message in a scroll view that follows new output.

The scroll is *anchored* once on mount: Textual then keeps it at the bottom as
messages arrive, lets go as soon as the operator scrolls up, and re-anchors
when they scroll back to the end — no "are we near the bottom?" arithmetic.
Agent replies parse their Markdown once (replies arrive whole; there is no
token stream to coalesce yet) into a single cheap renderable per widget.

Long sessions stay fast because the DOM stays small, not because the history
is dropped: past a high-water mark the oldest widgets are swapped for
:class:`Archived` records (a few strings each, where a mounted message costs a
few hundred objects that every layout and every full garbage collection walks).
A note at the top says how many are hidden and brings them back, a batch per
click.  Pruning waits while the operator is scrolled up reading, so nothing
moves under them.
"""

from __future__ import annotations

import asyncio
import gc
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Protocol, runtime_checkable

from markdown_it import MarkdownIt
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import Markdown
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from engine.client import printable

USER_MESSAGE_LIMIT = 4_000
"""Characters of an operator message shown in the transcript; the whole message is still sent."""

AGENT_CLASSES = {
    "CMD": "commander",
    "Guardian": "guardian",
    "Forge": "forge",
    "Ledger": "ledger",
    "Triage": "triage",
    "Briefer": "briefer",
}
"""Reply tag → agent name (the CSS class ``-<agent>`` colours the message)."""

_RESTORE_CHUNK = 5
"""Hidden messages mounted per paint when the operator brings history back."""

_TAG_RE = re.compile(r"^\[([A-Za-z][\w-]*)\]\s*")
_FENCE_RE = re.compile(r"^\s*(```|~~~)")


def split_tag(reply: str) -> tuple[str, str]:
    """``"[CMD] Done."`` → ``("CMD", "Done.")``; replies without a tag get ``("", reply)``."""
    match = _TAG_RE.match(reply)
    if match is None:
        return "", reply
    return match.group(1), reply[match.end() :]


def hard_breaks(body: str) -> str:
    """Keep the engine's line breaks in Markdown (which would otherwise join lines into one paragraph).

    Replies put one fact per line ("By provider: …", "Needs attention: …");
    outside fenced code, a single newline becomes a Markdown hard break.
    """
    out: list[str] = []
    in_fence = False
    lines = body.split("\n")
    for index, line in enumerate(lines):
        if _FENCE_RE.match(line):
            in_fence = not in_fence
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if not in_fence and line.strip() and following.strip() and not _FENCE_RE.match(following):
            line = line.rstrip() + "  "
        out.append(line)
    return "\n".join(out)


class _ReplyMarkdown(Markdown):
    """Rich's :class:`Markdown`, parsed by one shared parser.

    Rich builds a new ``MarkdownIt`` (compiling all its rules) for every
    document, which was about half the cost of parsing a short reply.  The
    parser keeps no state between documents, so one serves them all; the
    other attributes are Rich's defaults, taken from a Markdown it built.
    """

    _parser: MarkdownIt | None = None
    _defaults: dict[str, object] | None = None

    def __init__(self, markup: str) -> None:
        cls = _ReplyMarkdown
        if cls._parser is None or cls._defaults is None:
            cls._defaults = dict(Markdown("").__dict__)
            cls._parser = MarkdownIt().enable("strikethrough").enable("table")  # as Rich's own
        self.__dict__.update(cls._defaults)
        self.markup = markup
        self.parsed = cls._parser.parse(markup)


class ReplyRenderable:
    """A tagged reply: the agent's tag on its own line, then the body as Markdown.

    ``str()`` gives back the reply exactly as the engine sent it, which is what
    tests and the copy action want.  The Markdown is parsed once, and laid out
    once per width: Textual renders a widget at least twice (to measure its
    height, then to paint) and again on every resize, and Rich's Markdown
    layout was the largest cost of a new reply.
    """

    def __init__(self, reply: str, tag_style: Style) -> None:
        self.reply = reply = printable(reply)  # fleet text in a reply never drives the terminal (OSC 52, DCS, C1)
        self.tag, self.body = split_tag(reply)
        self.tag_style = tag_style
        self.markdown = _ReplyMarkdown(hard_breaks(self.body)) if self.body.strip() else None
        self._lines: dict[tuple[int, str | None, bool], list[list[Segment]]] = {}

    def __str__(self) -> str:
        return self.reply

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.tag:
            yield Text(f"[{self.tag}]", style=self.tag_style, end="\n")
        if self.markdown is None:
            return
        key = (options.max_width, options.justify, options.no_wrap or False)
        lines = self._lines.get(key)
        if lines is None:
            if len(self._lines) >= 4:  # a few widths (resizes) are plenty; keep it small
                self._lines.clear()
            lines = self._lines[key] = console.render_lines(self.markdown, options.update(height=None), pad=False)
        newline = Segment.line()
        for line in lines:
            yield from line
            yield newline


@dataclass(frozen=True, slots=True)
class Archived:
    """A message pruned from view, kept as what it takes to show it again.

    ``text`` is the message as plain text (for searching or copying history
    without mounting it); ``revive`` builds a fresh widget equal to the one
    pruned (a removed Textual widget cannot be mounted again).
    """

    text: str
    revive: Callable[[], Widget]


@runtime_checkable
class Archivable(Protocol):
    """A transcript widget that can be pruned and brought back exactly."""

    def archive(self) -> Archived: ...


def archive(widget: Widget) -> Archived:
    """The record that stands in for ``widget`` once it is pruned.

    Message widgets archive themselves; a decided plan card is rebuilt from its
    plan and outcome (the card's module is another team's; it is read, not
    changed).  Anything else is kept as a plain note naming what it was, so the
    count of hidden messages stays honest even for widgets this module does not
    know.
    """
    if isinstance(widget, Archivable):
        return widget.archive()
    plan = getattr(widget, "plan", None)
    outcome = getattr(widget, "outcome", None)
    if plan is not None and isinstance(outcome, str):
        return Archived(f"Plan {getattr(plan, 'id', '')}: {outcome}", partial(_revive_plan_card, plan, outcome))
    text = f"(an earlier {type(widget).__name__} is no longer shown)"
    return Archived(text, partial(SystemNote, text))


def _revive_plan_card(plan: object, outcome: str) -> Widget:
    from app.widgets.plan_card import PlanCard  # the card's module does not import this one

    card = PlanCard(plan)  # type: ignore[arg-type]
    card.resolve(outcome)
    return card


_heap_holds = 0
"""Transcripts currently mounted in this process that hold the startup heap frozen."""


def _freeze_startup_heap() -> None:
    """Move everything alive now (Textual, Rich, the engine, the app) out of the garbage collector's sight.

    Those objects live as long as the chat, yet every full collection walked
    them: ~150k objects, 50-100 ms on a busy machine, every few dozen messages
    — the chat's longest frames.  Frozen, a full collection walks only what the
    session created since (mostly the mounted messages).  Objects still die by
    reference counting; only cycles among them wait for :func:`_thaw_startup_heap`.
    """
    global _heap_holds
    if _heap_holds == 0:
        gc.freeze()
    _heap_holds += 1


def _thaw_startup_heap() -> None:
    """Undo :func:`_freeze_startup_heap` when the last transcript goes (tests run many apps in one process)."""
    global _heap_holds
    _heap_holds = max(0, _heap_holds - 1)
    if _heap_holds == 0:
        gc.unfreeze()


def _release_style_caches() -> None:
    """Let go of the render caches of removed widgets (Textual 8.2 keeps them alive).

    ``StylesCache.get_inner_outer`` is an ``lru_cache`` on an instance method,
    so its keys pin up to 1,024 ``StylesCache`` objects — and every rendered
    line they hold — after their widgets are gone (textual#6665, open).  In a
    pruned transcript that doubled the objects each full garbage collection
    walks, i.e. the length of the longest frames.  Clearing it is cheap: the
    values are pairs of styles, recomputed on demand.
    """
    try:
        from textual._styles_cache import StylesCache
    except ImportError:  # a Textual that moved it has likely fixed it too
        return
    cache_clear = getattr(StylesCache.get_inner_outer, "cache_clear", None)
    if callable(cache_clear):
        cache_clear()


class CopyRequested(Message):
    """The operator double-clicked a message: copy ``text`` (the app does it, over OSC 52)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class UserMessage(Static):
    """What the operator typed (shown clipped when huge; the engine still gets all of it)."""

    DEFAULT_CSS = """
    UserMessage {
        margin: 1 0 0 0;
        padding: 0 1;
        border-left: outer $foreground 40%;
        background: $boost;
        color: $text;
    }
    """

    def __init__(self, text: str, **kwargs: object) -> None:
        self.text = text
        shown = text = printable(text)  # another operator's words, or history: shown without control sequences
        if len(text) > USER_MESSAGE_LIMIT:
            shown = f"{text[:USER_MESSAGE_LIMIT]}… ({len(text) - USER_MESSAGE_LIMIT:,} more characters sent)"
        super().__init__(shown, markup=False, **kwargs)  # type: ignore[arg-type]

    def on_click(self, event: events.Click) -> None:
        if event.chain == 2:
            self.post_message(CopyRequested(self.text))

    def archive(self) -> Archived:
        return Archived(self.text, partial(UserMessage, self.text, classes=" ".join(self.classes) or None))


class AgentMessage(Widget):
    """A reply from the team, tagged and coloured by the agent that spoke."""

    DEFAULT_CSS = """
    AgentMessage {
        height: auto;
        margin: 1 0 0 0;
        padding: 0 1;
        border-left: outer $accent;
    }
    AgentMessage > .agent-message--tag { color: $accent; text-style: bold; }
    AgentMessage.-guardian { border-left: outer lightskyblue; }
    AgentMessage.-guardian > .agent-message--tag { color: lightskyblue; }
    AgentMessage.-forge { border-left: outer $success; }
    AgentMessage.-forge > .agent-message--tag { color: $success; }
    AgentMessage.-ledger { border-left: outer mediumpurple; }
    AgentMessage.-ledger > .agent-message--tag { color: mediumpurple; }
    AgentMessage.-triage { border-left: outer orchid; }
    AgentMessage.-triage > .agent-message--tag { color: orchid; }
    AgentMessage.-briefer { border-left: outer turquoise; }
    AgentMessage.-briefer > .agent-message--tag { color: turquoise; }
    AgentMessage.-refused { border-left: outer $error; }
    AgentMessage.-refused > .agent-message--tag { color: $error; }
    """
    COMPONENT_CLASSES = {"agent-message--tag"}

    def __init__(
        self,
        reply: str,
        *,
        agent: str | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        tag, _ = split_tag(reply)
        self.agent = agent if agent and agent != "commander" else AGENT_CLASSES.get(tag, agent or "commander")
        # The agent's class goes in with the others: add_class() on a widget not yet mounted restyles it
        # at once, and mounting styles it again (that first pass cost as much as the reply's Markdown).
        super().__init__(name=name, id=id, classes=f"{classes} -{self.agent}" if classes else f"-{self.agent}")
        self.reply = reply

        self._renderable: ReplyRenderable | None = None

    def on_click(self, event: events.Click) -> None:
        if event.chain == 2:
            self.post_message(CopyRequested(self.reply))

    def render(self) -> ReplyRenderable:
        """The reply, parsed once and reused until the tag colour changes (e.g. a theme switch)."""
        tag_style = self.get_component_rich_style("agent-message--tag")
        if self._renderable is None or self._renderable.tag_style != tag_style:
            self._renderable = ReplyRenderable(self.reply, tag_style)
        return self._renderable

    def archive(self) -> Archived:
        # The agent class is among the classes, so passing them back restores the colour (and -refused).
        classes = " ".join(sorted(self.classes)) or None
        return Archived(self.reply, partial(AgentMessage, self.reply, agent=self.agent, classes=classes))


class SystemNote(Static):
    """Something the chat itself says (welcome, command output): muted, untagged."""

    DEFAULT_CSS = """
    SystemNote { margin: 1 0 0 0; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, text: str, *, markup: bool = False, **kwargs: object) -> None:
        text = printable(text)
        super().__init__(text, markup=markup, **kwargs)  # type: ignore[arg-type]
        self.text = text
        self.markup = markup

    def archive(self) -> Archived:
        return Archived(self.text, partial(SystemNote, self.text, markup=self.markup))


class ErrorNote(Static):
    """A turn that failed: what happened and what to do next, in the transcript rather than a dialog."""

    DEFAULT_CSS = """
    ErrorNote {
        margin: 1 0 0 0;
        padding: 0 1;
        border-left: outer $error;
        color: $text-error;
        background: $error-muted;
    }
    """

    def __init__(self, problem: str, next_step: str = "", **kwargs: object) -> None:
        self.problem = problem
        self.next_step = next_step
        text = printable(problem if not next_step else f"{problem}\n{next_step}")
        super().__init__(text, markup=False, **kwargs)  # type: ignore[arg-type]

    def archive(self) -> Archived:
        text = self.problem if not self.next_step else f"{self.problem}\n{self.next_step}"
        return Archived(text, partial(ErrorNote, self.problem, self.next_step))


class TrimNote(Static):
    """Stands in for messages pruned from the top of a long session; a click brings back the previous batch."""

    DEFAULT_CSS = """
    TrimNote { padding: 0 1; color: $text-muted; text-style: italic; }
    TrimNote:hover { color: $text; }
    """

    def __init__(self) -> None:
        super().__init__("", markup=False)
        self.count = 0

    def add(self, count: int) -> None:
        """``count`` more messages were hidden (negative: brought back)."""
        self.count += count
        self.update(f"{self.count:,} earlier messages are hidden to keep the chat fast. Click to show more.")

    def on_click(self, event: events.Click) -> None:
        event.stop()
        transcript = self.parent
        if isinstance(transcript, Transcript):
            # The transcript runs it: this note is removed once nothing is hidden, and a widget's workers go with it.
            transcript.run_worker(transcript.show_earlier(), group="show-earlier")


class Transcript(VerticalScroll):
    """The conversation; follows new output unless the operator scrolled up.

    ``high_water`` / ``low_water``: when more than ``high_water`` message widgets
    are mounted, the oldest are archived and removed until ``low_water`` remain
    (a pending plan card is never pruned).  Pruning in batches keeps it rare;
    it waits while the operator is scrolled up (see :attr:`following`).
    ``restore_batch`` is how many hidden messages each click on the note brings back.

    The default marks come from bench/bench_chat.py: the longest frames of a long
    session are full garbage collections, which walk every mounted message (~300
    objects each); at 80 / 50 they stayed under 50 ms on a busy two-core machine,
    at 400 / 300 they reached ~200 ms.  Fifty messages are still several screens.
    """

    can_focus = False
    DEFAULT_CSS = """
    Transcript { layout: stream; height: 1fr; padding: 0 1 1 1; scrollbar-size-vertical: 1; }
    """

    def __init__(
        self,
        *children: Widget,
        high_water: int = 80,
        low_water: int = 50,
        restore_batch: int = 30,
        id: str | None = None,
    ) -> None:
        super().__init__(*children, id=id)
        if not 0 < low_water < high_water:
            raise ValueError("need 0 < low_water < high_water")
        if restore_batch < 1:
            raise ValueError("need restore_batch >= 1")
        self.high_water = high_water
        self.low_water = low_water
        self.restore_batch = restore_batch
        self.archived: list[Archived] = []
        """Messages pruned from view, oldest first (the note at the top brings them back)."""
        self._trim: TrimNote | None = None

    def on_mount(self) -> None:
        self.anchor()
        _freeze_startup_heap()

    def on_unmount(self) -> None:
        _thaw_startup_heap()

    @property
    def messages(self) -> list[Widget]:
        """Message widgets, oldest first (the trim note is not a message)."""
        return [child for child in self.children if not isinstance(child, TrimNote)]

    @property
    def following(self) -> bool:
        """Whether the view sticks to the newest message (false while the operator has scrolled up).

        Textual keeps this state privately (``_anchor_released``); without it, "at the bottom" is the
        closest public equivalent.
        """
        if not self.is_anchored:
            return False
        released = getattr(self, "_anchor_released", None)
        if isinstance(released, bool):
            return not released
        return self.scroll_y >= self.max_scroll_y

    @property
    def history(self) -> list[str]:
        """The whole session as plain text, oldest first: hidden messages, then the mounted ones."""
        shown = [entry.text for entry in map(archive, self.messages)]
        return [entry.text for entry in self.archived] + shown

    async def post(self, *widgets: Widget) -> None:
        """Append messages at the end, then prune if the session grew past the high-water mark."""
        await self.mount_all(widgets)
        await self.prune()

    async def prune(self) -> None:
        """Archive and remove the oldest widgets past the high-water mark, unless the operator is reading."""
        children = self.children
        count = len(children) - (1 if self._trim is not None and self._trim.parent is self else 0)
        if count <= self.high_water or not self.following:
            return
        messages = self.messages
        excess = len(messages) - self.low_water
        doomed = [widget for widget in messages[:excess] if not getattr(widget, "is_pending", False)]
        if not doomed:
            return
        self.archived.extend(archive(widget) for widget in doomed)
        trim = self._trim_note()
        if trim.parent is None:
            await self.mount(trim, before=0)
        trim.add(len(doomed))
        await self.remove_children(doomed)
        _release_style_caches()

    async def show_earlier(self, count: int | None = None) -> list[Widget]:
        """Bring back the ``count`` (default ``restore_batch``) most recent hidden messages, above the others.

        They are mounted a few at a time, newest first, with a paint in between:
        laying out a few dozen Markdown replies in one go would freeze the chat
        for a fraction of a second.  Returns the widgets, oldest first.  They stay
        until the operator follows the newest messages again and the session next
        grows past the high-water mark.
        """
        take = min(len(self.archived), self.restore_batch if count is None else count)
        if take <= 0:
            return []
        entries = self.archived[-take:]
        del self.archived[-take:]
        trim = self._trim_note()
        if trim.parent is None:  # only if something removed the note; the hidden messages still come back
            await self.mount(trim, before=0)
            trim.add(len(self.archived) + take)
        trim.add(-take)
        widgets = [entry.revive() for entry in entries]
        for end in range(len(widgets), 0, -_RESTORE_CHUNK):
            chunk = widgets[max(0, end - _RESTORE_CHUNK) : end]
            await self.mount_all(chunk, after=trim)
            if end > _RESTORE_CHUNK:
                await self._next_paint()
        if not self.archived:
            await trim.remove()
            self._trim = None
        return widgets

    async def _next_paint(self) -> None:
        painted: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def done() -> None:
            if not painted.done():
                painted.set_result(None)

        self.call_after_refresh(done)
        await painted

    def _trim_note(self) -> TrimNote:
        if self._trim is None or self._trim.parent is not self:
            found: Iterable[TrimNote] = self.query_children(TrimNote)
            self._trim = next(iter(found), None) or TrimNote()
        return self._trim

    def follow(self) -> None:
        """Jump to the newest message and follow new output again (pruning what piled up meanwhile)."""
        self.anchor()
        self.call_later(self.prune)
