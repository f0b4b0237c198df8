"""The one interface the UI talks to (ARCHITECTURE §1).

``EmbeddedClient`` runs the engine in-process; a daemon client over the
engine's HTTP/WebSocket API will implement the same methods, so the chat does
not care which it has.  Everything the app needs from the engine is
re-exported here, and the app imports nothing else from ``engine``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from engine.audit import AuditReport, verify
from engine.config import Settings, load_settings
from engine.conversation import TurnResult
from engine.errors import ClawOpsError
from engine.events import EngineEvent, ToolCalled, TurnFailed, TurnFinished, TurnStarted
from engine.runtime import Engine

__all__ = [
    "AuditReport",
    "ClawOpsError",
    "EmbeddedClient",
    "EngineClient",
    "EngineEvent",
    "Settings",
    "ToolCalled",
    "TurnFailed",
    "TurnFinished",
    "TurnResult",
    "TurnStarted",
    "load_settings",
    "serve_emulator",
]


class EngineClient(Protocol):
    """What a chat front end can ask of the engine."""

    async def ask(self, message: str, *, session: str | None = None, dry_run: bool = False,
                  yes: bool = False) -> TurnResult: ...

    def stream(self, message: str, *, session: str | None = None) -> AsyncIterator[EngineEvent]: ...

    def audit_verify(self) -> AuditReport: ...

    def close(self) -> None: ...


class EmbeddedClient:
    """The engine in this process, acting as one operator on one channel."""

    def __init__(self, engine: Engine, *, operator: str | None = None, channel: str = "cli") -> None:
        self.engine = engine
        self.operator = operator
        self.channel = channel
        engine.caller(operator, channel)  # fail now, clearly, if the operator is unknown

    @classmethod
    def open(cls, *, config_file: Path | None = None, operator: str | None = None, channel: str = "cli",
             **overrides: Any) -> EmbeddedClient:
        return cls(Engine.open(config_file=config_file, **overrides), operator=operator, channel=channel)

    async def ask(self, message: str, *, session: str | None = None, dry_run: bool = False,
                  yes: bool = False) -> TurnResult:
        return await self.engine.ask(message, operator=self.operator, channel=self.channel, session=session,
                                     dry_run=dry_run, yes=yes)

    async def stream(self, message: str, *, session: str | None = None) -> AsyncIterator[EngineEvent]:
        """The same turn as :meth:`ask`, as events for a UI."""
        yield TurnStarted(message, session)
        try:
            result = await self.ask(message, session=session)
        except ClawOpsError as err:
            yield TurnFailed(str(err))
            return
        for call in result.tool_calls:
            yield ToolCalled(call.tool, call.status, call.message)
        yield TurnFinished(result)

    def audit_verify(self) -> AuditReport:
        return verify(self.engine.store)

    @property
    def is_demo(self) -> bool:
        return self.engine.settings.demo

    def close(self) -> None:
        self.engine.close()


def serve_emulator(provider: str, port: int = 0) -> None:
    """Serve one vendor's emulated API on 127.0.0.1 in the foreground (``clawops emulate``).

    The first line printed is the base URL, with the vendor's own path prefix.
    """
    from engine.providers.emulators import serve_forever

    try:
        serve_forever(provider, port=port)
    except ValueError as exc:
        raise ClawOpsError(str(exc)) from None
