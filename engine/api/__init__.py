"""The daemon's operator API: HTTP + WebSocket, /metrics, structured logs, history and the shared feed.

This package is imported by the embedded client too (history, feed, turn
runner, wire shapes), so its top level stays light: the aiohttp server lives
in ``engine.api._server`` and ``engine.api._daemon`` and is imported only by
whoever serves it.  ``run_daemon`` is exported, but loaded on first use (``__getattr__``): importing it here
made every ``clawops`` command (``ask``, ``operator list``…) import aiohttp, its TLS contexts and
prometheus_client, ~0.2 s of CPU that only the daemon uses.
"""

from typing import TYPE_CHECKING, Any

from engine.api._auth import WRONG_KEY, Authenticate, default_authenticator, static_authenticator
from engine.api._errors import EngineUnavailable, Unauthorized
from engine.api._history import HistoryMessage, load_history, record_exchange, search_history
from engine.api._remote import (
    ClientEvent,
    ConnectionLost,
    ConnectionRestored,
    RemoteClient,
    key_checker,
)
from engine.api._turns import DeltaScrubber, run_turn
from engine.api._wire import (
    audit_from_wire,
    audit_to_wire,
    event_from_wire,
    event_to_wire,
    turn_from_wire,
    turn_to_wire,
)
from engine.events import FeedItem, Hub, visible_to

if TYPE_CHECKING:
    from engine.api._daemon import run_daemon


def __getattr__(name: str) -> Any:
    """``run_daemon`` on first use (see the module docstring); any other unknown name is an AttributeError."""
    if name == "run_daemon":
        from engine.api._daemon import run_daemon

        return run_daemon
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "run_daemon",
    "WRONG_KEY",
    "Authenticate",
    "ClientEvent",
    "ConnectionLost",
    "ConnectionRestored",
    "EngineUnavailable",
    "FeedItem",
    "HistoryMessage",
    "Hub",
    "RemoteClient",
    "Unauthorized",
    "audit_from_wire",
    "audit_to_wire",
    "default_authenticator",
    "event_from_wire",
    "event_to_wire",
    "visible_to",
    "key_checker",
    "load_history",
    "record_exchange",
    "run_turn",
    "DeltaScrubber",
    "search_history",
    "static_authenticator",
    "turn_from_wire",
    "turn_to_wire",
]
