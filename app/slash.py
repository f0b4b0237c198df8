"""Slash commands: a small registry the prompt completes from and the app dispatches on.

Kept free of Textual so the list can be tested, documented and reused by other
channels.  A command the engine cannot serve yet stays in the registry with
``available=False``: operators see it in the completer and get an honest
"not available yet" instead of an unknown-command error.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SlashCommand:
    """One ``/command``: its name (without the slash), a one-line help and an argument hint."""

    name: str
    help: str
    hint: str = ""
    available: bool = True

    @property
    def usage(self) -> str:
        """How it is typed, e.g. ``/voice FILE``."""
        return f"/{self.name}{' ' + self.hint if self.hint else ''}"


COMMANDS: tuple[SlashCommand, ...] = (
    SlashCommand("status", "Fleet status now (asks Commander)"),
    SlashCommand("jobs", "Running and recent jobs on the fleet (asks Commander)"),
    SlashCommand("copy", "Copy the last reply (OSC 52, works over SSH)"),
    SlashCommand("help", "Commands and keys"),
    SlashCommand("quit", "Leave the chat"),
    SlashCommand("voice", "Send an audio file as a voice note", hint="FILE"),
    SlashCommand("silence", "Silence alerts, e.g. /silence eu-hetzner-nbg1 60", hint="WHAT MINUTES"),
    SlashCommand("brief", "Ask Briefer for a briefing now (daily, or /brief weekly)", hint="[weekly]"),
    SlashCommand("find", "Search your earlier conversations", hint="TEXT"),
)
"""Every command, in the order the completer lists them."""

_BY_NAME = {command.name: command for command in COMMANDS}
ALIASES = {"exit": "quit", "?": "help"}


def lookup(name: str) -> SlashCommand | None:
    """The command called ``name`` (without the slash, aliases allowed), or ``None``."""
    name = name.lower()
    return _BY_NAME.get(ALIASES.get(name, name))


def parse(text: str) -> tuple[str, str] | None:
    """Split ``"/voice note.ogg"`` into ``("voice", "note.ogg")``; ``None`` when ``text`` is not a command.

    A lone ``/`` or a path such as ``/etc/hosts said`` is still a command *attempt*
    (its name is everything up to the first space); the app reports unknown ones
    rather than sending them to the agent, so a typo never becomes a request.
    """
    stripped = text.strip()
    if not stripped.startswith("/") or "\n" in stripped:
        return None
    name, _, arg = stripped[1:].partition(" ")
    return name.lower(), arg.strip()


def complete(prefix: str) -> list[SlashCommand]:
    """Commands whose name starts with what follows the slash in ``prefix``; empty when not completing.

    Completion stops as soon as the operator types a space (they are on the
    argument by then) or a second line.
    """
    if not prefix.startswith("/") or " " in prefix or "\n" in prefix:
        return []
    wanted = prefix[1:].lower()
    return [command for command in COMMANDS if command.name.startswith(wanted)]


def silence_request(arg: str) -> str | None:
    """``/silence eu-hetzner-nbg1 60`` → the words the team understands; ``None`` when there is nothing to say.

    A trailing number is minutes; anything else is passed on as said ("/silence vultr for 2 hours").
    """
    words = arg.split()
    if not words:
        return None
    if len(words) >= 2 and words[-1].isdigit():
        return f"silence alerts on {' '.join(words[:-1])} for {words[-1]} minutes"
    return f"silence alerts {arg.strip()}"


def brief_request(arg: str) -> str:
    """``/brief`` → the daily briefing; ``/brief weekly`` → the weekly one."""
    return "weekly briefing" if arg.strip().lower().startswith("week") else "brief me"
