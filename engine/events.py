"""Typed events from the engine to any UI: plain frozen dataclasses, no UI imports; and the shared feed.

The Textual app (and later the web and chat channels) turn these into their own
messages; the engine never knows who is listening.  The feed (:class:`Hub`, one
per engine: ``Engine.feed``) carries every operator's finished turns
(:class:`FeedItem`) and job progress to everyone connected.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

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


# ---------------------------------------------------------------------------- the shared feed
@dataclass(frozen=True, slots=True)
class FeedItem:
    """One operator's turn as the others see it: who, where, what was asked, what happened."""

    operator: str
    channel: str
    session: str | None
    message: str
    reply: str
    agent: str = "commander"
    tool_calls: tuple[dict[str, Any], ...] = ()
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    tenant: str | None = None
    """The tenant of the operator who spoke (``None``: fleet-wide); tenant-scoped readers see only their own."""

    @property
    def summary(self) -> str:
        """A one-line account for a feed, e.g. ``alice (tui): restart planned, provision_pairs done``."""
        calls = ", ".join(f"{c.get('tool')} {c.get('status')}" for c in self.tool_calls) or "no action"
        return f"{self.operator} ({self.channel}): {calls}"

    def to_wire(self) -> dict[str, Any]:
        return {
            "operator": self.operator,
            "channel": self.channel,
            "session": self.session,
            "message": self.message,
            "reply": self.reply,
            "agent": self.agent,
            "tool_calls": list(self.tool_calls),
            "at": self.at,
            "tenant": self.tenant,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> FeedItem:
        return cls(
            operator=str(data["operator"]),
            channel=str(data.get("channel", "")),
            session=data.get("session"),
            message=str(data.get("message", "")),
            reply=str(data.get("reply", "")),
            agent=str(data.get("agent", "commander")),
            tool_calls=tuple(data.get("tool_calls") or ()),
            at=str(data.get("at", "")),
            tenant=data.get("tenant"),
        )


Published = FeedItem | JobProgress
"""What the feed carries: finished turns, and job progress as it happens."""


def visible_to(item: Published, tenant: str | None) -> bool:
    """Policy rule 6 on the feed: a tenant-scoped operator sees only their tenant's turns and jobs."""
    return tenant is None or item.tenant == tenant


class Hub:
    """The shared feed of one engine (``Engine.feed``): every operator's turns and its jobs' progress, fanned out
    to everyone connected.

    Two operators on one engine see each other's actions as they happen.  Each subscriber has a bounded
    queue; a subscriber that stops reading loses its oldest items rather than slowing the engine down.
    """

    def __init__(self, queue_size: int = 500, *, follow: Callable[[Hub], object] | None = None) -> None:
        """``follow(hub)`` starts publishing job progress on the hub; it is called once, by the first
        subscriber or :meth:`follow_jobs` (an engine nobody watches keeps its jobs free of progress reports)."""
        self._queues: set[asyncio.Queue[Published]] = set()
        self._size = queue_size
        self._follow = follow
        self.published = 0

    def follow_jobs(self) -> None:
        """Publish job progress from now on, subscribers or not (the daemon, whose metrics count it)."""
        follow, self._follow = self._follow, None
        if follow is not None:
            follow(self)

    @property
    def subscribers(self) -> int:
        return len(self._queues)

    def publish(self, item: Published) -> None:
        self.published += 1
        for queue in list(self._queues):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(item)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Published]]:
        self.follow_jobs()
        queue: asyncio.Queue[Published] = asyncio.Queue(self._size)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)


__all__ = [
    "EngineEvent",
    "FeedItem",
    "Hub",
    "JobProgress",
    "Published",
    "TokenDelta",
    "ToolCalled",
    "TurnFailed",
    "TurnFinished",
    "TurnStarted",
    "visible_to",
]
