"""Trust's errors live in the engine's one tree (``engine.errors``); this module keeps the old import path."""

from __future__ import annotations

from engine.errors import AuthenticationError, TooManyAttempts

__all__ = ["AuthenticationError", "TooManyAttempts"]
