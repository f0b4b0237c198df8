"""Errors the gateway raises to engine callers (subclasses of the engine's ClawOpsError tree)."""

from __future__ import annotations

from engine.errors import ClawOpsError, InputError

__all__ = ["CommandNotAllowed", "GatewayError", "NodeNotConnected"]


class GatewayError(ClawOpsError):
    """The node gateway could not do what was asked (not started, port taken, …)."""


class NodeNotConnected(GatewayError):
    """The node is not connected to this gateway right now."""

    def __init__(self, node_id: str) -> None:
        super().__init__(f"Node {node_id[:16]} is not connected to the gateway; check that clawnode is running on it.")
        self.node_id = node_id


class CommandNotAllowed(InputError):
    """A command outside the node command allowlist (there is no generic shell command, by design)."""

    def __init__(self, command: str) -> None:
        super().__init__(
            f"Command {command!r} is not on the node command allowlist; use one of the clawops.* commands."
        )
        self.command = command
