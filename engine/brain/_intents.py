"""What a brain hands the conversation: intents, never actions.

A brain (offline or LLM) only *proposes* tool calls.  Confirmation and
cancellation are intents too, but the conversation accepts them only from the
operator's own message, never from a model's output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ToolIntent:
    tool: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConfirmIntent:
    """The operator said "go"."""


@dataclass(frozen=True, slots=True)
class CancelIntent:
    """The operator said "cancel"."""


@dataclass(frozen=True, slots=True)
class HelpIntent:
    """The operator asked what the team can do."""


@dataclass(frozen=True, slots=True)
class UnknownIntent:
    text: str
    suggestions: tuple[str, ...] = ()


Intent = ToolIntent | ConfirmIntent | CancelIntent | HelpIntent | UnknownIntent
