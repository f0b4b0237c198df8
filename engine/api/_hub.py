"""The shared feed: every operator's turns, fanned out to everyone connected.

Two operators on one engine see each other's actions as they happen.  Each
subscriber has a bounded queue; a subscriber that stops reading loses its
oldest items rather than slowing the engine down.  One hub per engine object
(kept in a weak map, so an engine that is dropped takes its hub with it).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.operations import JobProgress

__all__ = ["FeedItem", "Hub", "Published", "hub_for", "visible_to"]


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
        return {"operator": self.operator, "channel": self.channel, "session": self.session,
                "message": self.message, "reply": self.reply, "agent": self.agent,
                "tool_calls": list(self.tool_calls), "at": self.at, "tenant": self.tenant}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> FeedItem:
        return cls(operator=str(data["operator"]), channel=str(data.get("channel", "")),
                   session=data.get("session"), message=str(data.get("message", "")),
                   reply=str(data.get("reply", "")), agent=str(data.get("agent", "commander")),
                   tool_calls=tuple(data.get("tool_calls") or ()), at=str(data.get("at", "")),
                   tenant=data.get("tenant"))


Published = FeedItem | JobProgress
"""What the feed carries: finished turns, and job progress as it happens."""


def visible_to(item: Published, tenant: str | None) -> bool:
    """Policy rule 6 on the feed: a tenant-scoped operator sees only their tenant's turns and jobs."""
    return tenant is None or item.tenant == tenant


class Hub:
    """Fan-out of :class:`FeedItem` and :class:`JobProgress` to any number of subscribers."""

    def __init__(self, queue_size: int = 500) -> None:
        self._queues: set[asyncio.Queue[Published]] = set()
        self._size = queue_size
        self.published = 0

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
        queue: asyncio.Queue[Published] = asyncio.Queue(self._size)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)


_HUBS: weakref.WeakKeyDictionary[object, Hub] = weakref.WeakKeyDictionary()


def hub_for(engine: object) -> Hub:
    """The feed hub of one engine object (created on first use, and from then on told of job progress)."""
    hub = _HUBS.get(engine)
    if hub is None:
        hub = _HUBS[engine] = Hub()
        ops: Any = getattr(engine, "ops", None)
        if ops is not None and hasattr(ops, "add_progress_listener"):
            ops.add_progress_listener(_scrubbed_publisher(engine, hub))
    return hub


def _scrubbed_publisher(engine: object, hub: Hub) -> Any:
    """Job errors can quote a provider's answer: they pass the trust redactor before anyone sees them."""
    redactor: Any = getattr(getattr(engine, "trust", None), "redactor", None)

    def publish(progress: JobProgress) -> None:
        if redactor is not None and progress.job.error:
            progress = redactor.scrub_value(progress)
        hub.publish(progress)

    return publish
