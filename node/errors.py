"""clawnode's own exception tree (``node`` imports nothing from ``engine``).

``str(err)`` is one sentence an operator reading the node's log can act on.
"""

from __future__ import annotations

__all__ = ["ConfigError", "FatalConnectError", "IdentityError", "NodeError"]


class NodeError(Exception):
    """Base class of every error clawnode raises on purpose."""

    exit_code = 1


class ConfigError(NodeError):
    """The JSON config file is missing, unreadable or has a bad field."""

    exit_code = 78  # EX_CONFIG


class IdentityError(NodeError):
    """The identity state file cannot be read, written or is corrupt."""

    exit_code = 74  # EX_IOERR


class FatalConnectError(NodeError):
    """The gateway refused us in a way retrying cannot fix (wrong shared token, protocol mismatch)."""

    exit_code = 77  # EX_NOPERM

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code
