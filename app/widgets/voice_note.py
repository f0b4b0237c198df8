"""A voice note in the transcript: who spoke, how long, what was heard, and how to listen to it.

Over SSH there is no speaker on the operator's side of the connection, so the
note always shows the file's path (and double-click copies it); on a machine
with a sound card and a player (``paplay``, ``aplay`` or ``ffplay``) a
double-click plays it instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import partial
from pathlib import Path

from rich.text import Text
from textual import events
from textual.widget import Widget

from app.widgets.transcript import Archived, CopyRequested

__all__ = ["VoiceNoteMessage", "audio_player", "clock"]

PLAYERS = (("paplay", ()), ("ffplay", ("-nodisp", "-autoexit", "-loglevel", "quiet")), ("aplay", ("-q",)))
"""Players tried in order; ``aplay`` last because it cannot decode OGG/Opus."""


def clock(seconds: float | None) -> str:
    """``0:07``, ``1:32``; unknown durations show as ``?:??``."""
    if seconds is None:
        return "?:??"
    whole = max(int(round(seconds)), 0)
    return f"{whole // 60}:{whole % 60:02d}"


def audio_player() -> list[str] | None:
    """The command that plays a file here, or ``None`` without a sound device (SSH, containers, CI)."""
    if not Path("/dev/snd").exists() and not os.environ.get("PULSE_SERVER"):
        return None
    for name, args in PLAYERS:
        found = shutil.which(name)
        if found:
            return [found, *args]
    return None


class VoiceNoteMessage(Widget):
    """One voice note, sent by the operator (``sent=True``) or spoken by the team."""

    DEFAULT_CSS = """
    VoiceNoteMessage {
        height: auto;
        margin: 1 0 0 0;
        padding: 0 1;
        border-left: outer $secondary;
    }
    VoiceNoteMessage.-sent { border-left: outer $primary; }
    """

    def __init__(
        self,
        path: Path | None,
        *,
        sent: bool,
        seconds: float | None = None,
        transcript: str = "",
        agent: str = "commander",
        note: str = "",
    ) -> None:
        super().__init__(classes="-sent" if sent else "-received")
        self.path = path
        self.sent = sent
        self.seconds = seconds
        self.transcript = transcript
        self.agent = agent
        self.note = note
        """A line under the note, e.g. why there is no spoken reply."""

    def archive(self) -> Archived:
        """Pruned from a long session, the note comes back with what was heard."""
        return Archived(
            self.transcript or str(self.path),
            partial(
                VoiceNoteMessage,
                self.path,
                sent=self.sent,
                seconds=self.seconds,
                transcript=self.transcript,
                agent=self.agent,
                note=self.note,
            ),
        )

    def heard(self, transcript: str, seconds: float | None = None) -> None:
        """Fill in what was heard once the speech engine has listened."""
        self.transcript = transcript
        if seconds is not None:
            self.seconds = seconds
        self.refresh(layout=True)

    def on_click(self, event: events.Click) -> None:
        if event.chain != 2 or self.path is None:
            return
        player = audio_player()
        if player is None:
            self.post_message(CopyRequested(str(self.path)))
            return
        subprocess.Popen(
            [*player, str(self.path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def render(self) -> Text:
        out = Text()
        who = "You" if self.sent else self.agent.capitalize()
        out.append(f"{'🎤' if self.sent else '🔊'} {who} · voice note {clock(self.seconds)}", style="bold")
        if self.transcript:
            out.append(f"\n“{self.transcript}”", style="italic")
        elif self.sent:
            out.append("\n(listening…)", style="dim")
        if self.path is not None:
            how = "double-click to play" if audio_player() else "no audio device here: double-click copies the path"
            out.append(f"\n{self.path}  ({how})", style="dim")
        if self.note:
            out.append(f"\n{self.note}", style="dim")
        return out
