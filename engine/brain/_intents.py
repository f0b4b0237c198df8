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
    """One proposed tool call.

    ``exclude`` lists providers the operator told us to leave alone ("…, leave
    Contabo").  The contract's selector has no exclusion key, so the
    conversation narrows the selector to explicit instance ids before calling.
    """

    tool: str
    args: dict[str, Any] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    replaces: str = ""
    """The pending plan this call amends ("only the vultr ones", "make it 5"): withdrawn when this is planned."""
    note: str = ""
    """What the brain assumed or corrected, said with the answer ("read 'hetnzer' as hetzner")."""
    purpose: str = ""
    """Why a read is made when it is not the plain answer ("savings": what did that save us?)."""
    adds: bool = False
    """Asked for *in addition to* the pending plan ("fix 2 too", "also restart acct-007"): that plan keeps waiting
    beside this one, and one go runs both."""


@dataclass(frozen=True, slots=True)
class ConfirmIntent:
    """The operator said "go" (``plan_id`` when they named the plan: "go pl-1a2b3c4d")."""

    plan_id: str = ""


@dataclass(frozen=True, slots=True)
class CancelIntent:
    """The operator said "cancel"."""


@dataclass(frozen=True, slots=True)
class HelpIntent:
    """The operator asked what the team can do."""


@dataclass(frozen=True, slots=True)
class UnknownIntent:
    """Nothing to do: ``reason`` (when set) says why in full; otherwise "did you mean" ``suggestions``."""

    text: str
    suggestions: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ClarifyIntent:
    """A question back: what was understood, the likely readings, and the words not understood.

    Asked instead of guessing whenever an action was requested but a slot is missing, a word is not
    understood, or a follow-up refers to nothing.  ``withdraws`` is set when the operator tried to change or
    retract a pending plan and could not be understood: that plan is withdrawn and the reply says so.
    """

    question: str
    understood: str = ""
    readings: tuple[str, ...] = ()
    unknown_words: tuple[str, ...] = ()
    withdraws: bool = False


@dataclass(frozen=True, slots=True)
class RememberIntent:
    """A standing preference to keep ("leave Contabo alone", "brief me at 06:30")."""

    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ForgetIntent:
    """Forget memories whose text mentions ``about`` (empty: everything)."""

    about: str


@dataclass(frozen=True, slots=True)
class RecallIntent:
    """Show what the team remembers about this operator."""


@dataclass(frozen=True, slots=True)
class SuspectIntent:
    """The message reads like a prompt injection: no action, and the attempt is audited."""

    text: str
    marker: str


Intent = (
    ToolIntent
    | ConfirmIntent
    | CancelIntent
    | HelpIntent
    | UnknownIntent
    | RememberIntent
    | ForgetIntent
    | RecallIntent
    | SuspectIntent
    | ClarifyIntent
)


@dataclass(frozen=True, slots=True)
class BrainContext:
    """What the conversation remembers between turns, so "the 18" and "restart them" mean something.

    Built by the conversation from the session row and the operator's
    memories; the offline brain itself stays stateless (and so testable).
    """

    last_filters: dict[str, Any] | None = None
    findings: dict[str, int] = field(default_factory=dict)
    finding_tiers: dict[str, str] = field(default_factory=dict)
    last_job: str | None = None
    last_target: str | None = None
    excluded_providers: tuple[str, ...] = ()
    findings_list: tuple[str, ...] = ()
    """Ledger's waste findings in the order they were shown, numbered from 1 ("fix 1 and 3")."""
    pending: dict[str, Any] | None = None
    """The live pending plan's frame: ``{"id", "tool", "args"}`` (amend it, or confirm or cancel it)."""
    last_action: dict[str, Any] | None = None
    """The last action frame: ``{"tool", "args", "job"?, "plan"?, "before"?}`` ("same for X", "undo that")."""
    last_list: tuple[str, ...] = ()
    """The ids of the last list shown, in order ("the second one")."""
    last_was_action: bool = False
    """Whether the latest answer was an action (so "same for vultr" repeats it) rather than a read."""
    url_allowlist: tuple[str, ...] = ()
    """Hosts a config push may point a URL at (setting ``config_url_allowlist``)."""
