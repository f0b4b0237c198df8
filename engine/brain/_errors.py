"""The brain's one error, kept apart from the SDK so importing the engine never loads ``anthropic``."""

from __future__ import annotations

from engine.errors import Unavailable

__all__ = ["BrainUnavailable"]


class BrainUnavailable(Unavailable):
    """The model API cannot answer now; the conversation falls back to the offline brain."""
