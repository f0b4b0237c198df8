"""The transcript: one widget per message in a scroll view that follows new output.

The scroll is *anchored* once on mount: Textual then keeps it at the bottom as
messages arrive, lets go as soon as the operator scrolls up, and re-anchors
when they scroll back to the end — no "are we near the bottom?" arithmetic.
Agent replies render their Markdown once (replies arrive whole; there is no
token stream to coalesce yet), as a single cheap renderable per widget so a
long session stays light.  Old widgets are pruned past a high-water mark: the
screen is a view, not the record (actions are in the engine's audit log).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import Markdown
from rich.style import Style
from rich.text import Text
from textual import events
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

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


class ReplyRenderable:
    """A tagged reply: the agent's tag on its own line, then the body as Markdown.

    ``str()`` gives back the reply exactly as the engine sent it, which is what
    tests and the copy action want.
    """

    def __init__(self, reply: str, tag_style: Style) -> None:
        self.reply = reply
        self.tag, self.body = split_tag(reply)
        self.tag_style = tag_style

    def __str__(self) -> str:
        return self.reply

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.tag:
            yield Text(f"[{self.tag}]", style=self.tag_style, end="\n")
        if self.body.strip():
            yield Markdown(hard_breaks(self.body))


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
        shown = text
        if len(text) > USER_MESSAGE_LIMIT:
            shown = f"{text[:USER_MESSAGE_LIMIT]}… ({len(text) - USER_MESSAGE_LIMIT:,} more characters sent)"
        super().__init__(shown, markup=False, **kwargs)  # type: ignore[arg-type]

    def on_click(self, event: events.Click) -> None:
        if event.chain == 2:
            self.post_message(CopyRequested(self.text))


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
        super().__init__(name=name, id=id, classes=classes)
        self.reply = reply
        tag, _ = split_tag(reply)
        self.agent = agent if agent and agent != "commander" else AGENT_CLASSES.get(tag, agent or "commander")
        self.add_class(f"-{self.agent}")

    def on_click(self, event: events.Click) -> None:
        if event.chain == 2:
            self.post_message(CopyRequested(self.reply))

    def render(self) -> ReplyRenderable:
        return ReplyRenderable(self.reply, self.get_component_rich_style("agent-message--tag"))


class SystemNote(Static):
    """Something the chat itself says (welcome, command output): muted, untagged."""

    DEFAULT_CSS = """
    SystemNote { margin: 1 0 0 0; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, text: str, *, markup: bool = False, **kwargs: object) -> None:
        super().__init__(text, markup=markup, **kwargs)  # type: ignore[arg-type]


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
        text = problem if not next_step else f"{problem}\n{next_step}"
        super().__init__(text, markup=False, **kwargs)  # type: ignore[arg-type]


class TrimNote(Static):
    """Stands in for messages pruned from the top of a long session."""

    DEFAULT_CSS = """
    TrimNote { padding: 0 1; color: $text-muted; text-style: italic; }
    """

    def __init__(self) -> None:
        super().__init__("", markup=False)
        self.count = 0

    def add(self, count: int) -> None:
        self.count += count
        self.update(f"{self.count:,} earlier messages were trimmed from view to keep the chat fast.")


class Transcript(VerticalScroll):
    """The conversation; follows new output unless the operator scrolled up.

    ``high_water`` / ``low_water``: when more than ``high_water`` message widgets
    are mounted, the oldest are removed until ``low_water`` remain (a pending plan
    card is never pruned).  Pruning in batches keeps it rare and cheap.
    """

    can_focus = False
    DEFAULT_CSS = """
    Transcript { layout: stream; height: 1fr; padding: 0 1 1 1; scrollbar-size-vertical: 1; }
    """

    def __init__(self, *children: Widget, high_water: int = 400, low_water: int = 300, id: str | None = None) -> None:
        super().__init__(*children, id=id)
        if not 0 < low_water < high_water:
            raise ValueError("need 0 < low_water < high_water")
        self.high_water = high_water
        self.low_water = low_water

    def on_mount(self) -> None:
        self.anchor()

    @property
    def messages(self) -> list[Widget]:
        """Message widgets, oldest first (the trim note is not a message)."""
        return [child for child in self.children if not isinstance(child, TrimNote)]

    async def post(self, *widgets: Widget) -> None:
        """Append messages at the end, then prune if the session grew past the high-water mark."""
        await self.mount_all(widgets)
        await self.prune()

    async def prune(self) -> None:
        messages = self.messages
        if len(messages) <= self.high_water:
            return
        excess = len(messages) - self.low_water
        doomed = [widget for widget in messages[:excess] if not getattr(widget, "is_pending", False)]
        if not doomed:
            return
        trim = self._trim_note()
        if trim.parent is None:
            await self.mount(trim, before=0)
        trim.add(len(doomed))
        await self.remove_children(doomed)

    def _trim_note(self) -> TrimNote:
        found: Iterable[TrimNote] = self.query_children(TrimNote)
        for note in found:
            return note
        return TrimNote()

    def follow(self) -> None:
        """Jump to the newest message and follow new output again."""
        self.anchor()
