"""Brains turn operator language into intents; they never act themselves."""

from engine.brain._intents import CancelIntent, ConfirmIntent, HelpIntent, Intent, ToolIntent, UnknownIntent
from engine.brain._offline import SUGGESTIONS, OfflineBrain

__all__ = [
    "SUGGESTIONS",
    "CancelIntent",
    "ConfirmIntent",
    "HelpIntent",
    "Intent",
    "OfflineBrain",
    "ToolIntent",
    "UnknownIntent",
]
