"""The slash-command completer: a small list floating above the prompt.

It lives on the screen's overlay layer, so opening it never moves the
transcript.  It never takes focus: the prompt keeps the keyboard and drives it.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from app.slash import SlashCommand


class SlashComplete(OptionList):
    """Matching commands for what is typed after ``/``."""

    can_focus = False
    DEFAULT_CSS = """
    SlashComplete {
        layer: overlay;
        dock: bottom;
        display: none;
        height: auto;
        max-height: 10;
        width: 72;
        max-width: 100%;
        margin: 0 0 4 1;
        border: round $primary;
        background: $surface;
        padding: 0;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.commands: list[SlashCommand] = []

    def show(self, commands: list[SlashCommand], *, above: int) -> None:
        """List ``commands`` just above a prompt area ``above`` rows tall (hide when there are none)."""
        if not commands:
            self.hide()
            return
        previous = self.selected
        self.commands = commands
        self.clear_options()
        self.add_options([Option(self._label(command), id=command.name) for command in commands])
        self.styles.margin = (0, 0, above, 1)
        self.highlighted = commands.index(previous) if previous in commands else 0
        self.display = True

    def hide(self) -> None:
        self.display = False

    def move(self, step: int) -> None:
        if not self.commands:
            return
        current = self.highlighted or 0
        self.highlighted = (current + step) % len(self.commands)

    @property
    def selected(self) -> SlashCommand | None:
        if not self.display or self.highlighted is None or not self.commands:
            return None
        return self.commands[self.highlighted]

    @staticmethod
    def _label(command: SlashCommand) -> Text:
        label = Text(no_wrap=True, overflow="ellipsis")
        label.append(f"{command.usage:<14}", style="bold")
        label.append(command.help)
        if not command.available:
            label.append(" (not yet)", style="dim italic")
        return label
