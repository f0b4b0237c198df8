"""The conversation-only Textual chat: a transcript and a prompt, nothing else.

One widget per message in an anchored scroll (it follows new replies and lets
go when you scroll up).  Turns run in an exclusive worker so the prompt never
blocks.  The app reaches the engine only through an :class:`EngineClient`.
"""

from __future__ import annotations

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Input, Static

from engine.client import EmbeddedClient, TurnFailed, TurnFinished


class UserMessage(Static):
    """What the operator typed."""

    DEFAULT_CSS = """
    UserMessage { margin: 1 0 0 0; padding: 0 1; color: $text; background: $boost; }
    """


class AgentMessage(Static):
    """A reply from the team, tagged by the agent that spoke."""

    DEFAULT_CSS = """
    AgentMessage { margin: 1 0 0 0; padding: 0 1; }
    AgentMessage.-error { color: $error; }
    """


class SystemNote(Static):
    DEFAULT_CSS = """
    SystemNote { margin: 1 0 0 0; padding: 0 1; color: $text-muted; }
    """


class Transcript(VerticalScroll):
    """The conversation; follows new output unless the operator scrolled up."""

    can_focus = False

    def on_mount(self) -> None:
        self.anchor()


class ChatApp(App[None]):
    """``clawops``: talk to Commander and the team."""

    TITLE = "ClawOps"
    AUTO_FOCUS = "#prompt"
    CSS = """
    Screen { layout: vertical; }
    Transcript { height: 1fr; padding: 0 1; }
    #prompt { dock: bottom; margin: 0 0 1 0; }
    """
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", id="quit", tooltip="Leave the chat")]

    def __init__(self, client: EmbeddedClient, *, session: str = "chat") -> None:
        super().__init__()
        self.client = client
        self.session = session

    def compose(self) -> ComposeResult:
        with Transcript(id="transcript"):
            demo = " You are on the DEMO fleet (no real servers)." if self.client.is_demo else ""
            yield SystemNote(f"ClawOps — say \"fleet status\" or \"help\".{demo}")
        yield Input(placeholder="Message the team…  (Enter to send, Ctrl+Q to quit)", id="prompt")
        yield Footer()

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        event.input.value = ""
        if text in ("/quit", "/exit"):
            self.exit()
            return
        await self.query_one(Transcript).mount(UserMessage(text, markup=False))
        self.run_turn(text)

    @work(exclusive=True, group="turn", exit_on_error=False)
    async def run_turn(self, text: str) -> None:
        transcript = self.query_one(Transcript)
        async for event in self.client.stream(text, session=self.session):
            if isinstance(event, TurnFinished):
                await transcript.mount(AgentMessage(event.result.reply, markup=False))
            elif isinstance(event, TurnFailed):
                await transcript.mount(AgentMessage(event.message, markup=False, classes="-error"))
