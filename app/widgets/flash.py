"""One-line status under the transcript: a throbber while the team works, and transient flashes.

Transient confirmations ("Copied …") belong here rather than in the transcript
(they are not part of the conversation) or in toasts (which cover it).
"""

from __future__ import annotations

from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Static

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class Throbber(Static):
    """Shows that a turn is running and what the team last reported; hidden when idle."""

    DEFAULT_CSS = """
    Throbber { height: 1; padding: 0 2; color: $accent; display: none; }
    """
    busy: reactive[int] = reactive(0)
    """Turns running or queued; the throbber shows while this is above zero."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", markup=False, id=id)
        self.label = "Commander is on it…"
        self._frame = 0
        self._timer: Timer | None = None

    def watch_busy(self, busy: int) -> None:
        self.display = busy > 0
        if busy > 0 and self._timer is None:
            self._frame = 0
            self._timer = self.set_interval(0.1, self._tick)
        elif busy == 0 and self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._draw()

    def say(self, label: str) -> None:
        """Replace the progress text in place (no new line in the transcript)."""
        self.label = label
        self._draw()

    def _tick(self) -> None:
        self._frame = (self._frame + 1) % len(SPINNER)
        self._draw()

    def _draw(self) -> None:
        queued = f"  ({self.busy - 1} more queued)" if self.busy > 1 else ""
        self.update(f"{SPINNER[self._frame]} {self.label}{queued}")


class Flash(Static):
    """A short-lived one-line message (e.g. "Copied the last reply")."""

    DEFAULT_CSS = """
    Flash { height: 1; padding: 0 2; color: $success; display: none; }
    Flash.-warning { color: $warning; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", markup=False, id=id)
        self._timer: Timer | None = None

    def flash(self, text: str, *, warning: bool = False, seconds: float = 4.0) -> None:
        self.update(text)
        self.set_class(warning, "-warning")
        self.display = True
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(seconds, self._clear)

    def _clear(self) -> None:
        self.display = False
        self._timer = None
