"""The prompt: a TextArea with chat keys.

Enter sends; ctrl+j and shift+enter insert a newline (many terminals cannot
tell shift+enter from enter, so ctrl+j is the one that always works); Up on
the first line recalls earlier messages and Down on the last line walks back.
While the slash completer is open, Up/Down move through it and Tab or Enter
pick the highlighted command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea

from app import slash

if TYPE_CHECKING:
    from app.widgets.slash_complete import SlashComplete


class Prompt(TextArea):
    """Where the operator talks to the team."""

    BINDING_GROUP_TITLE = "Prompt"
    HELP = """
## Chat

Ask in plain words; changes come back as a plan and wait for your **go**.

- **Enter** send · **ctrl+j** new line
- **Up** / **Down** history
- **/** commands · **Tab** completes
- **ctrl+g** Go · **ctrl+n** Cancel plan
- **F2** copy the last reply
"""
    BINDINGS = [
        Binding("enter", "submit", "Send", id="prompt.send", tooltip="Send the message to the team"),
        Binding(
            "ctrl+j,shift+enter",
            "newline",
            "Newline",
            id="prompt.newline",
            show=False,
            tooltip="Start a new line without sending",
        ),
        Binding(
            "tab",
            "complete",
            "Complete",
            id="prompt.complete",
            show=False,
            tooltip="Complete the highlighted slash command",
        ),
        Binding("escape", "dismiss", "Close", id="prompt.dismiss", show=False, tooltip="Close the command list"),
    ]
    DEFAULT_CSS = """
    Prompt {
        height: auto;
        min-height: 3;
        max-height: 8;
        border: tall $primary 40%;
        padding: 0 1;
        &:focus { border: tall $primary; }
    }
    """

    class Submitted(Message):
        """The operator sent ``text`` (already stripped, never empty)."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, *, id: str | None = None, placeholder: str = "") -> None:
        super().__init__(
            id=id,
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            placeholder=placeholder,
            highlight_cursor_line=False,
        )
        self.sent: list[str] = []
        """Messages sent from this prompt, oldest first (Up recalls them)."""
        self._recall: int | None = None
        self._draft = ""
        self.completer: SlashComplete | None = None

    IN_ORDER_ACTIONS = frozenset({"submit", "newline", "complete", "dismiss"})
    """Actions run as the key arrives, in line with the typed characters.

    Bindings otherwise run when the key event has bubbled up to the app, *after*
    keys already queued here: a fast typist (or tmux, or a paste ending in a
    newline) would send "fleet sta" and leave "tus" in the prompt.
    """

    async def _on_key(self, event: events.Key) -> None:
        active = self.screen.active_bindings.get(event.key)
        if (
            active is not None
            and active.node is self
            and active.enabled
            and active.binding.action in self.IN_ORDER_ACTIONS
        ):
            event.stop()
            event.prevent_default()
            await self.run_action(active.binding.action)
            return
        await super()._on_key(event)
        self.refresh_completer()  # now, not when Changed arrives: a Tab right behind "/st" must see the list

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self.refresh_completer()  # text set by code (history recall, tests)

    def refresh_completer(self) -> None:
        """Show the commands matching what is typed after ``/``, floating just above the prompt."""
        if self.completer is None:
            return
        text = self.text
        matches = slash.complete(text)
        if len(matches) > 1 or (matches and text != f"/{matches[0].name}"):
            self.completer.show(matches, above=max(0, self.screen.size.height - self.region.y))
        else:
            self.completer.hide()

    # ------------------------------------------------------------------ completer
    def _completing(self) -> bool:
        return self.completer is not None and self.completer.display

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("complete", "dismiss"):
            return self._completing()
        return True

    def action_complete(self) -> None:
        """Replace the text with the highlighted command (plus a space when it takes an argument)."""
        if self.completer is None:
            return
        command = self.completer.selected
        self.completer.hide()
        if command is not None:
            self.text = f"/{command.name}{' ' if command.hint else ''}"
            self.move_cursor(self.document.end)

    def action_dismiss(self) -> None:
        if self.completer is not None:
            self.completer.hide()

    # ------------------------------------------------------------------ sending
    def action_submit(self) -> None:
        if self._completing() and self.completer is not None:
            command = self.completer.selected
            typed = self.text.strip()
            if command is not None and typed != f"/{command.name}":
                self.action_complete()
                if command.hint:
                    return
        text = self.text.strip()
        if not text:
            return
        if not self.sent or self.sent[-1] != text:
            self.sent.append(text)
        self._recall = None
        self._draft = ""
        self.clear()
        if self.completer is not None:
            self.completer.hide()
        self.post_message(self.Submitted(text))

    def action_newline(self) -> None:
        self.type_text("\n")

    def type_text(self, text: str) -> None:
        """Insert ``text`` at the cursor (replacing any selection) and leave the cursor after it, as typing does."""
        start, end = self.selection
        self.replace(text, start, end, maintain_selection_offset=False)

    # ------------------------------------------------------------------ history
    def action_cursor_up(self, select: bool = False) -> None:
        if self._completing() and self.completer is not None and not select:
            self.completer.move(-1)
            return
        if not select and self.cursor_location[0] == 0 and self.sent:
            self._recall_step(-1)
            return
        super().action_cursor_up(select)

    def action_cursor_down(self, select: bool = False) -> None:
        if self._completing() and self.completer is not None and not select:
            self.completer.move(+1)
            return
        if not select and self._recall is not None and self.cursor_location[0] == self.document.line_count - 1:
            self._recall_step(+1)
            return
        super().action_cursor_down(select)

    def _recall_step(self, step: int) -> None:
        if self._recall is None:
            if step > 0:
                return
            self._draft = self.text
            index = len(self.sent) - 1
        else:
            index = self._recall + step
        if index < 0:
            return
        if index >= len(self.sent):
            self._recall = None
            self.text = self._draft
        else:
            self._recall = index
            self.text = self.sent[index]
        self.move_cursor(self.document.end)
