"""A plan waiting for the operator's go, rendered inline as a compact card.

The card shows what would happen, to how many users, what it costs and which
policy rules want a human — then Go / Cancel.  Pressing a button sends "go" or
"cancel" as the operator's own message in the session: confirmation always
comes from the operator's input, exactly as if they had typed it, and the
engine decides which plan that refers to (the one pending in this session).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalGroup
from textual.message import Message
from textual.widgets import Button, Static

from engine.client import printable

Decision = Literal["go", "cancel"]


class PlanLike(Protocol):
    """What the card reads from a plan (the engine's ``PlanView``)."""

    @property
    def id(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def affected_users(self) -> int: ...
    @property
    def monthly_cost_delta(self) -> float: ...
    @property
    def steps(self) -> Sequence[str]: ...
    @property
    def policy(self) -> Sequence[Mapping[str, Any]]: ...


def cost_text(delta: float) -> str:
    if abs(delta) < 0.005:
        return "no change"
    return f"{'+' if delta > 0 else '−'}{abs(delta):,.2f} per month"


def policy_notes(policy: Sequence[Mapping[str, Any]]) -> list[str]:
    """The rules worth a human's eye: those that ask for confirmation or did not pass."""
    return [str(p.get("note", p.get("rule", ""))) for p in policy if p.get("needs_human") or not p.get("passed", True)]


class PlanCard(VerticalGroup):
    """One pending plan with Go / Cancel; once decided it stays as a record without buttons."""

    BINDING_GROUP_TITLE = "Plan"
    HELP = """
## Plan card

Commander plans anything that changes the fleet and waits for you.

- **Go** (button, **ctrl+g**, or type `go`) runs it.
- **Cancel** (button, **ctrl+n**, or type `cancel`) drops it; nothing changes.

The card lists what will happen, how many users it touches, the monthly cost change
and the policy rules that asked for a human.
"""
    DEFAULT_CSS = """
    PlanCard {
        margin: 1 0 0 0;
        padding: 0 1;
        border: round $warning;
        border-title-color: $warning;
        border-title-style: bold;
        height: auto;
    }
    PlanCard > #plan-details { height: auto; }
    PlanCard > #plan-buttons { height: auto; margin-top: 1; }
    PlanCard #plan-go { margin-right: 2; }
    PlanCard.-resolved { border: round $panel-lighten-2; border-title-color: $text-muted; }
    PlanCard.-resolved > #plan-buttons { display: none; }
    """

    class Decided(Message):
        """The operator pressed Go or Cancel on ``card``."""

        def __init__(self, card: PlanCard, decision: Decision) -> None:
            super().__init__()
            self.card = card
            self.decision = decision

    def __init__(self, plan: PlanLike, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.plan = plan
        self.plan_id = plan.id
        self.outcome: str | None = None
        self.border_title = "Plan — waiting for your go"

    @property
    def is_pending(self) -> bool:
        """Still waiting for a decision (the transcript never prunes these)."""
        return self.outcome is None

    @property
    def is_deciding(self) -> bool:
        """Go or Cancel was pressed and the turn carrying it has not come back yet."""
        return self.has_class("-deciding")

    def compose(self) -> ComposeResult:
        yield Static(self._details(), id="plan-details")
        with Horizontal(id="plan-buttons"):
            yield Button(
                "Go", id="plan-go", variant="success", compact=True, tooltip="Run this plan (ctrl+g, or type go)"
            )
            yield Button(
                "Cancel",
                id="plan-cancel",
                variant="error",
                compact=True,
                tooltip="Drop this plan; nothing changes (ctrl+n, or type cancel)",
            )

    def rows(self) -> list[tuple[str, str]]:
        """The card's label / value rows, as plain text."""
        plan = self.plan
        rows = [
            ("What", plan.summary),
            ("Users", f"{plan.affected_users:,} affected"),
            ("Cost", cost_text(plan.monthly_cost_delta)),
        ]
        notes = policy_notes(plan.policy)
        if notes:
            rows.append(("Policy", "\n".join(notes)))
        steps = list(plan.steps)
        if steps:
            shown = steps[:2]
            more = len(steps) - len(shown)
            capped = "+" if len(steps) >= 20 else ""  # the engine sends at most 20 steps
            rows.append(("Steps", "\n".join(shown) + (f"\n… {more}{capped} more" if more else "")))
        return [(label, printable(value)) for label, value in rows]  # labels and targets come from the fleet

    def details_text(self) -> str:
        return "\n".join(f"{label}: {value}" for label, value in self.rows())

    def _details(self) -> Table:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(ratio=1)
        for label, value in self.rows():
            grid.add_row(label, Text(value))
        return grid

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if not self.is_pending:
            return
        self.decide("go" if event.button.id == "plan-go" else "cancel")

    def decide(self, decision: Decision) -> None:
        """Ask the app to send ``decision`` as the operator's message; buttons go quiet meanwhile."""
        self.border_title = "Plan — sending go…" if decision == "go" else "Plan — cancelling…"
        self.add_class("-deciding")
        for button in self.query(Button):
            button.disabled = True
        self.post_message(self.Decided(self, decision))

    def set_waiting(self, waiting: bool) -> None:
        """Grey the buttons out while a turn is in flight (see ``ChatApp._busy``)."""
        if not self.is_pending or self.is_deciding:
            return
        for button in self.query(Button):
            button.disabled = waiting

    def resolve(self, outcome: str) -> None:
        """Record how the plan ended ("Confirmed — …", "Cancelled", …) and drop the buttons."""
        self.outcome = outcome
        self.remove_class("-deciding")
        self.border_title = f"Plan — {outcome}"
        self.add_class("-resolved")

    def reopen(self) -> None:
        """The decision did not reach the engine (e.g. the turn failed): offer the buttons again."""
        self.outcome = None
        self.remove_class("-deciding")
        self.border_title = "Plan — waiting for your go"
        self.remove_class("-resolved")
        for button in self.query(Button):
            button.disabled = False
