"""SVG snapshots of each chat state (pytest-textual-snapshot).

Baselines live in ``__snapshots__/``; after a deliberate UI change, look at the
new pictures and run ``pytest tests/app/test_app_snapshots.py --snapshot-update``.
Everything shown is deterministic: scripted turns shaped like the engine's
(the ``demo`` fixture: fixed wording, fixed plan and job ids), no clocks, no
cursor blink, and pictures are taken when no turn is running (so the throbber
is hidden).  The real engine is exercised by the Pilot tests instead, so a
change of engine wording does not repaint these pictures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.chat import ChatApp

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from textual.pilot import Pilot

    from tests.app.conftest import ScriptedClient

SIZE = (100, 32)


def _typing(*messages: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    """A ``run_before`` that sends each message and waits for its reply."""

    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, ChatApp)
        app.prompt.cursor_blink = False
        for text in messages:
            app.prompt.text = text
            await pilot.press("escape", "enter")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()

    return run_before


def test_empty(snap_compare: Callable[..., bool], demo: ScriptedClient) -> None:
    """You should see the welcome note (mentioning the DEMO fleet) resting just above the prompt (an anchored
    transcript fills from the bottom), the prompt with its placeholder, and the footer with Send, Quit, Help
    and Copy reply."""
    assert snap_compare(ChatApp(demo), terminal_size=SIZE, run_before=_typing())


def test_reply(snap_compare: Callable[..., bool], demo: ScriptedClient) -> None:
    """You should see the operator's "fleet status" (grey bar), then Commander's reply: a bold [CMD] tag on its
    own line and the status one fact per line (totals, by provider, needs attention)."""
    assert snap_compare(ChatApp(demo), terminal_size=SIZE, run_before=_typing("fleet status"))


def test_plan_card(snap_compare: Callable[..., bool], demo: ScriptedClient) -> None:
    """You should see Commander's plan reply followed by a yellow-bordered card titled "Plan — waiting for your
    go" listing What, Users (37 affected), Cost (no change), Policy (needs your confirmation), two Steps and
    "… 18+ more", with green Go and red Cancel buttons; the footer shows ^g Go and ^n Cancel plan."""
    assert snap_compare(ChatApp(demo), terminal_size=SIZE, run_before=_typing("restart everything on hetzner"))


def test_plan_confirmed(snap_compare: Callable[..., bool], demo: ScriptedClient) -> None:
    """You should see the plan card greyed out, titled "Plan — confirmed, job succeeded (37/37)" with no
    buttons, then the operator's "go" and Commander's "Done: job job-0000b001 finished 37/37 steps"."""
    assert snap_compare(ChatApp(demo), terminal_size=SIZE, run_before=_typing("restart everything on hetzner", "go"))


def test_error_note(snap_compare: Callable[..., bool], scripted: type[ScriptedClient]) -> None:
    """You should see the operator's "fleet status" and below it a red note: "The fleet store is not
    reachable (connection refused)." with the next step "Nothing was changed. Try again, …" on a second line."""
    client = scripted(fail="The fleet store is not reachable (connection refused).")
    assert snap_compare(ChatApp(client), terminal_size=SIZE, run_before=_typing("fleet status"))


def test_slash_popup(snap_compare: Callable[..., bool], demo: ScriptedClient) -> None:
    """You should see a rounded list floating just above the prompt (which holds "/") with every command and
    its help — /status highlighted first, /voice FILE, /silence and /brief marked "(not yet)", a scrollbar for
    the rest — over the welcome note, whose right end still peeks out unmoved (the list overlays)."""

    async def run_before(pilot: Pilot[None]) -> None:
        assert isinstance(pilot.app, ChatApp)
        pilot.app.prompt.cursor_blink = False
        await pilot.press("slash")
        await pilot.pause()

    assert snap_compare(ChatApp(demo), terminal_size=SIZE, run_before=run_before)


def test_narrow_terminal(snap_compare: Callable[..., bool], demo: ScriptedClient) -> None:
    """You should see a 40x10 terminal: the end of Commander's fleet status wrapped to the width, the prompt
    and the footer — nothing cut off mid-widget, no crash."""
    assert snap_compare(ChatApp(demo), terminal_size=(40, 10), run_before=_typing("fleet status"))


def test_help_panel(snap_compare: Callable[..., bool], demo: ScriptedClient) -> None:
    """You should see the F1 help panel on the right: the "Chat" help (Enter, ctrl+j, Up/Down, ctrl+g Go,
    ctrl+n Cancel plan, F2, /) above the key list, with the transcript and prompt narrowed on the left."""

    async def run_before(pilot: Pilot[None]) -> None:
        assert isinstance(pilot.app, ChatApp)
        pilot.app.prompt.cursor_blink = False
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(ChatApp(demo), terminal_size=SIZE, run_before=run_before)


def test_team_replies(snap_compare: Callable[..., bool], demo: ScriptedClient) -> None:
    """You should see four replies, each with its tag on its own line and a left bar in the agent's colour:
    [Guardian] light blue, [Forge] green, [Ledger] purple, and a refused [CMD] reply whose bar and tag are red
    (plain [CMD] replies are orange); the Forge reply renders Markdown (bold "4/20", a two-item bullet list).
    Operator messages have a grey bar."""
    from engine.client import TurnResult
    from engine.operations import ToolOutcome

    demo.script.update(
        {
            "guardian": TurnResult(reply="[Guardian] Sweep done: 3 instances healed, 1 escalated (i-acct-014-p)."),
            "forge": TurnResult(
                reply="[Forge] Provisioning **4/20** ACTIVE.\n\n- 11 BOOTSTRAPPING\n- 5 CREATING", agent="forge"
            ),
            "ledger": TurnResult(reply="[Ledger] This month: 1,284.50 EUR so far, 3% under budget.", agent="ledger"),
            "refused": TurnResult(
                reply="[CMD] Refused: acct-042 belongs to another tenant.",
                tool_calls=[ToolOutcome("restart", {}, "refused", message="other tenant", rule="rule6")],
            ),
        }
    )
    assert snap_compare(ChatApp(demo), terminal_size=SIZE, run_before=_typing("guardian", "forge", "ledger", "refused"))
