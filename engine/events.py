"""Typed events from the engine to any UI: plain frozen dataclasses, no UI imports.

The Textual app (and later the web and chat channels) turn these into their own
messages; the engine never knows who is listening.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.operations import JobProgress

if TYPE_CHECKING:
    from engine.conversation import TurnResult


@dataclass(frozen=True, slots=True)
class TurnStarted:
    message: str
    session: str | None


@dataclass(frozen=True, slots=True)
class ToolCalled:
    tool: str
    status: str
    summary: str


@dataclass(frozen=True, slots=True)
class TokenDelta:
    """A piece of reply text as the model streams it (LLM brain only); ``agent`` is who is speaking."""

    agent: str
    text: str


@dataclass(frozen=True, slots=True)
class TurnFinished:
    result: TurnResult


@dataclass(frozen=True, slots=True)
class TurnFailed:
    """A turn could not run (store down, bad config): ``message`` is the one sentence to show."""

    message: str


EngineEvent = TurnStarted | ToolCalled | TokenDelta | JobProgress | TurnFinished | TurnFailed
"""Everything a UI may receive during a turn; :class:`JobProgress` also arrives on the feed between turns."""

__all__ = ["EngineEvent", "JobProgress", "TokenDelta", "ToolCalled", "TurnFailed", "TurnFinished", "TurnStarted"]
