"""Conversation history: every exchange kept per operator in ``chat_messages``.

The store is the source of truth so a chat (terminal, web or remote) can
resume where the operator left off after a restart, and ``/find`` can search
everything that was said.  Rows are written in one transaction per exchange:
the operator's message and the team's reply land together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from engine.policy import Caller
from engine.store import ChatMessage, Store

__all__ = ["HistoryMessage", "load_history", "record_exchange", "search_history"]

SESSION_MAX = 100  # the column's width
NO_SESSION = ""  # one-shot ``clawops ask`` turns without --session


@dataclass(frozen=True, slots=True)
class HistoryMessage:
    """One stored message: ``role`` is ``operator``, ``agent`` or ``error``."""

    id: int
    session: str
    role: str
    agent: str | None
    channel: str
    text: str
    created_at: datetime

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "session": self.session,
            "role": self.role,
            "agent": self.agent,
            "channel": self.channel,
            "text": self.text,
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> HistoryMessage:
        return cls(
            id=int(data["id"]),
            session=str(data["session"]),
            role=str(data["role"]),
            agent=data.get("agent"),
            channel=str(data.get("channel", "")),
            text=str(data["text"]),
            created_at=datetime.fromisoformat(str(data["created_at"])),
        )


def _session(name: str | None) -> str:
    return (name or NO_SESSION)[:SESSION_MAX]


def _view(row: ChatMessage) -> HistoryMessage:
    assert row.id is not None
    return HistoryMessage(
        id=row.id,
        session=row.session,
        role=row.role,
        agent=row.agent,
        channel=row.channel,
        text=row.text,
        created_at=row.created_at,
    )


def record_exchange(
    store: Store,
    caller: Caller,
    session: str | None,
    message: str,
    reply: str,
    agent: str | None,
    *,
    role: str = "agent",
) -> None:
    """Store the operator's message and the reply (or error, ``role="error"``) as one unit."""
    name = _session(session)
    with store.session() as s:
        s.add(
            ChatMessage(
                operator_id=caller.operator_id, session=name, role="operator", channel=caller.channel, text=message
            )
        )
        s.add(
            ChatMessage(
                operator_id=caller.operator_id, session=name, role=role, agent=agent, channel=caller.channel, text=reply
            )
        )


def load_history(store: Store, operator_id: str, session: str | None, limit: int = 200) -> list[HistoryMessage]:
    """The last ``limit`` messages of one session of one operator, oldest first (ready to redraw)."""
    query = (
        select(ChatMessage)
        .where(col(ChatMessage.operator_id) == operator_id, col(ChatMessage.session) == _session(session))
        .order_by(col(ChatMessage.id).desc())
        .limit(max(1, min(limit, 5000)))
    )
    with store.session() as s:
        rows = list(s.exec(query).all())
    return [_view(r) for r in reversed(rows)]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_history(store: Store, operator_id: str, text: str, limit: int = 50) -> list[HistoryMessage]:
    """Messages of this operator (any session) containing ``text``, case-insensitively, newest first."""
    needle = text.strip()
    if not needle:
        return []
    pattern = f"%{_escape_like(needle)}%"
    query = (
        select(ChatMessage)
        .where(col(ChatMessage.operator_id) == operator_id, col(ChatMessage.text).ilike(pattern, escape="\\"))
        .order_by(col(ChatMessage.id).desc())
        .limit(max(1, min(limit, 500)))
    )
    with store.session() as s:
        return [_view(r) for r in s.exec(query).all()]
