"""Slash commands: a small registry the prompt completes from and the app dispatches on.

Kept free of Textual so the list can be tested, documented and reused by other
channels.  A command the engine cannot serve yet stays in the registry with
``available=False``: operators see it in the completer and get an honest
"not available yet" instead of an unknown-command error.

A command that asks the team for something (``/status``, ``/jobs``, ``/brief``,
``/silence``) is sent as a structured :class:`~engine.client.ToolCall` — the tool
and its arguments — never as English for a brain to read back: :func:`tool_call`
builds it, and the engine's operation layer validates, judges and plans it exactly
as it would a call read from words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from engine.client import ClawOpsError, Selector, ToolCall


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
    SlashCommand("status", "Fleet status now; /status vultr DEGRADED narrows it (asks Commander)"),
    SlashCommand("jobs", "Running and recent jobs on the fleet; /jobs JOB for one (asks Commander)"),
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


class SlashUsage(Exception):
    """A command typed so it cannot be sent: ``problem`` says what is wrong, ``example`` how to type it."""

    def __init__(self, problem: str, example: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.example = example


_FLEET_FILTERS = ("provider", "region", "geo", "tier", "state")
"""The selector keys ``fleet_status`` takes as its own arguments."""
_DURATION = re.compile(r"\s+(?:for\s+)?(\d+)\s*(m|mins?|minutes?|h|hrs?|hours?)?\s*$", re.IGNORECASE)
"""The duration at the end of ``/silence``: ``60``, ``60m``, ``2 h``, ``for 2 hours`` (a bare number is minutes)."""


def _selector(words: list[str], example: str) -> dict[str, object]:
    """Bare names → the selector object the tool takes (the engine's own vocabulary reads them)."""
    try:
        return Selector.from_words(words).to_dict()
    except ClawOpsError as err:
        raise SlashUsage(str(err), example) from None


def _status(arg: str) -> ToolCall:
    example = "For example: /status, or /status vultr DEGRADED"
    selector = _selector(arg.split(), example)
    other = sorted(set(selector) - set(_FLEET_FILTERS))
    if other:
        raise SlashUsage(f"/status filters by {', '.join(_FLEET_FILTERS)}, not by {other[0]}.", example)
    return ToolCall("fleet_status", selector)


def _jobs(arg: str) -> ToolCall:
    words = arg.split()
    if len(words) > 1:
        raise SlashUsage("Name one job, or none for every running and recent job.", "For example: /jobs")
    # No job named: the engine's view, every job on the fleet, not only this chat's.
    return ToolCall("job_status", {"job_id": words[0]} if words else {})


def _brief(arg: str) -> ToolCall:
    words = arg.lower().split()
    if len(words) > 1:
        raise SlashUsage("Say which briefing: daily (the default) or weekly.", "For example: /brief weekly")
    return ToolCall("briefing", {"kind": words[0] if words else "daily"})


def _silence(arg: str) -> ToolCall:
    example = "For example: /silence eu-hetzner-nbg1 60 (or type it in words, without the slash)"
    if not arg.split():
        raise SlashUsage("Say what to silence and for how long.", example)
    duration = _DURATION.search(" " + arg)
    what = (" " + arg)[: duration.start()].split() if duration else []
    if duration is None or not what:
        raise SlashUsage("Say what to silence, then for how many minutes.", example)
    minutes = int(duration.group(1)) * (60 if (duration.group(2) or "").lower().startswith("h") else 1)
    return ToolCall("silence_alerts", {"selector": _selector(what, example), "minutes": minutes})


CALLS: dict[str, Callable[[str], ToolCall]] = {
    "status": _status,
    "jobs": _jobs,
    "brief": _brief,
    "silence": _silence,
}
"""The commands that ask the team for something, and how each becomes a tool call."""


def tool_call(name: str, arg: str) -> ToolCall | None:
    """The structured call command ``name`` stands for with argument ``arg``; ``None`` when the command is the
    chat's own (``/copy``, ``/help``…).  A command typed wrong raises :class:`SlashUsage`; the arguments are
    otherwise judged by the engine, which refuses what its tool does not accept, in one sentence."""
    build = CALLS.get(name)
    return None if build is None else build(arg)
