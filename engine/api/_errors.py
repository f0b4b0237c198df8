"""Errors of the operator API, in the engine's one tree (every message is one sentence)."""

from __future__ import annotations

from engine.errors import AuthenticationError, Unavailable

__all__ = ["EngineUnavailable", "Unauthorized"]


class Unauthorized(AuthenticationError):
    """The API key is missing, wrong or revoked; the daemon answers 401."""

    exit_code = 77  # EX_NOPERM


class EngineUnavailable(Unavailable):
    """The daemon cannot be reached (down, restarting, wrong URL)."""

    exit_code = 69  # EX_UNAVAILABLE
