"""Brains turn operator language into intents or proposed tool calls; they never act themselves.

The offline brain is always here (deterministic, no network).  The LLM brain
(``engine.brain._llm.LLMBrain``) loads the ``anthropic`` SDK, so it is reached
through :func:`llm_brain_for` and only when an API key is configured.
"""

from engine.brain._answers import leaks
from engine.brain._errors import BrainUnavailable
from engine.brain._factory import llm_brain_for
from engine.brain._intents import (
    BrainContext,
    CancelIntent,
    ClarifyIntent,
    ConfirmIntent,
    ForgetIntent,
    HelpIntent,
    Intent,
    RecallIntent,
    RememberIntent,
    SuspectIntent,
    ToolIntent,
    UnknownIntent,
)
from engine.brain._offline import (
    MAX_MESSAGE_CHARS,
    SUGGESTIONS,
    OfflineBrain,
    answers_offline,
    apply_exclusions,
    ask_back,
    injection_marker,
    left_alone,
)
from engine.brain._session import DialogueKeeper

__all__ = [
    "MAX_MESSAGE_CHARS",
    "SUGGESTIONS",
    "BrainContext",
    "BrainUnavailable",
    "CancelIntent",
    "ClarifyIntent",
    "ConfirmIntent",
    "DialogueKeeper",
    "ForgetIntent",
    "HelpIntent",
    "Intent",
    "OfflineBrain",
    "RecallIntent",
    "RememberIntent",
    "SuspectIntent",
    "ToolIntent",
    "UnknownIntent",
    "answers_offline",
    "apply_exclusions",
    "ask_back",
    "injection_marker",
    "leaks",
    "left_alone",
    "llm_brain_for",
]
