"""Plans render as an inline card; Go / Cancel (buttons, keys or typed words) send the operator's own decision."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from app.chat import AgentMessage, ChatApp, UserMessage
from app.widgets import PlanCard
from app.widgets.plan_card import cost_text, policy_notes
from evals.stores import fresh_store

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from textual.pilot import Pilot

    from engine.client import EmbeddedClient, EngineEvent, ToolCall
    from tests.app.conftest import ScriptedClient


@pytest.fixture
def clawops_home(clawops_home: Path) -> Path:
    """The isolated home, with a new empty store already in it (migrated once per process: evals/stores.py)."""
    fresh_store(clawops_home / "clawops.db")
    return clawops_home


async def _say(pilot: Pilot[None], app: ChatApp, text: str) -> None:
    app.prompt.text = text
    await pilot.press("enter")
    await _settle(pilot, app)


async def _settle(pilot: Pilot[None], app: ChatApp) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def _users(app: ChatApp) -> list[str]:
    return [str(w.render()) for w in app.query(UserMessage)]


def _replies(app: ChatApp) -> list[str]:
    return [str(w.render()) for w in app.query(AgentMessage)]


def test_card_wording() -> None:
    assert cost_text(0.0) == "no change"
    assert cost_text(12.5) == "+12.50 per month"
    assert cost_text(-3) == "−3.00 per month"
    policy = [
        {"rule": "role", "passed": True, "needs_human": False, "note": "owner may call restart"},
        {"rule": "rule5", "passed": True, "needs_human": True, "note": "affects 37 users (> 10)"},
        {"rule": "rule6", "passed": False, "needs_human": False, "note": "other tenant"},
    ]
    assert policy_notes(policy) == ["affects 37 users (> 10)", "other tenant"]


async def test_a_plan_shows_a_card_with_what_users_cost_and_policy(client: EmbeddedClient) -> None:
    app = ChatApp(client)
    async with app.run_test(size=(100, 40)) as pilot:
        await _say(pilot, app, "restart everything on hetzner")
        (card,) = app.query(PlanCard)
        assert card.is_pending
        details = card.details_text()
        assert "Restart the OpenClaw gateway on 37 instances" in details
        assert "37 affected" in details
        assert "no change" in details
        assert "needs your confirmation" in details
        assert app.check_action("plan", ()) is True


async def test_go_button_sends_go_as_the_operator(client: EmbeddedClient) -> None:
    app = ChatApp(client)
    async with app.run_test(size=(100, 40)) as pilot:
        await _say(pilot, app, "restart everything on hetzner")
        await pilot.click("#plan-go")
        await _settle(pilot, app)
        (card,) = app.query(PlanCard)
        assert _users(app) == ["restart everything on hetzner", "go"]
        assert _replies(app)[-1].startswith("[CMD] Done: job job-")
        assert not card.is_pending
        assert card.outcome is not None and card.outcome.startswith("confirmed, job succeeded (37/37)")
        assert not card.query_one("#plan-buttons").display or card.has_class("-resolved")
        assert app.check_action("plan", ()) is False
        assert len(app.jobs) == 1


async def test_cancel_key_cancels_the_plan(client: EmbeddedClient) -> None:
    app = ChatApp(client)
    async with app.run_test(size=(100, 40)) as pilot:
        await _say(pilot, app, "restart everything degraded on vultr")
        await pilot.press("ctrl+n")
        await _settle(pilot, app)
        (card,) = app.query(PlanCard)
        assert _users(app)[-1] == "cancel"
        assert _replies(app)[-1].startswith("[CMD] Cancelled")
        assert card.outcome == "cancelled, nothing changed"
        assert not app.jobs


async def test_go_key_and_typed_go_both_work(client: EmbeddedClient) -> None:
    app = ChatApp(client)
    async with app.run_test(size=(100, 40)) as pilot:
        await _say(pilot, app, "restart everything on hetzner")
        await pilot.press("ctrl+g")
        await _settle(pilot, app)
        await _say(pilot, app, "restart everything degraded on vultr")
        await _say(pilot, app, "go")
        cards = list(app.query(PlanCard))
        assert len(cards) == 2
        assert all(card.outcome and card.outcome.startswith("confirmed") for card in cards)
        assert len(app.jobs) == 2


async def test_a_newer_plan_replaces_the_pending_card(client: EmbeddedClient) -> None:
    app = ChatApp(client)
    async with app.run_test(size=(100, 40)) as pilot:
        await _say(pilot, app, "restart everything on hetzner")
        await _say(pilot, app, "fleet status")
        first = app.query_one(PlanCard)
        assert first.is_pending  # a question in between leaves the plan waiting
        await _say(pilot, app, "restart everything degraded on vultr")
        old, new = app.query(PlanCard)
        assert old.outcome == "replaced by a newer plan"
        assert new.is_pending
        assert app.pending_card is new


async def test_keys_do_nothing_without_a_pending_plan(client: EmbeddedClient) -> None:
    app = ChatApp(client)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+g")
        await _settle(pilot, app)
        assert not app.query(UserMessage)


class _HeldClient:
    """The real engine, but each turn waits until the test lets it go."""

    def __init__(self, inner: EmbeddedClient) -> None:
        import asyncio

        self.inner = inner
        self.is_demo = inner.is_demo
        self.release = asyncio.Event()
        self.release.set()

    async def stream(
        self, message: str, *, session: str | None = None, call: ToolCall | None = None
    ) -> AsyncIterator[EngineEvent]:
        await self.release.wait()
        async for event in self.inner.stream(message, session=session, call=call):
            yield event


async def test_go_waits_while_a_turn_is_in_flight(client: EmbeddedClient) -> None:
    """A go sent behind a queued request could approve a plan nobody has seen: the controls wait."""
    held = _HeldClient(client)
    app = ChatApp(held)
    async with app.run_test(size=(100, 40)) as pilot:
        await _say(pilot, app, "restart everything on hetzner")
        held.release.clear()
        app.prompt.text = "restart everything degraded on vultr"
        await pilot.press("enter")
        await pilot.pause()
        card = app.query_one(PlanCard)
        assert app.check_action("plan", ()) is False
        assert card.query_one("#plan-go").disabled
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert _users(app)[-1] == "restart everything degraded on vultr"  # no go was sent
        held.release.set()
        await _settle(pilot, app)
        old, new = app.query(PlanCard)
        assert old.outcome == "replaced by a newer plan"
        assert not new.query_one("#plan-go").disabled
        assert app.check_action("plan", ()) is True


async def test_a_go_that_runs_nothing_retires_the_card(demo: ScriptedClient) -> None:
    demo.reply = "[CMD] There is nothing waiting for your go. Ask for something first."
    del demo.script["go"]
    app = ChatApp(demo)
    async with app.run_test(size=(100, 40)) as pilot:
        await _say(pilot, app, "restart everything on hetzner")
        await pilot.click("#plan-go")
        await _settle(pilot, app)
        card = app.query_one(PlanCard)
        assert card.outcome == "no longer waiting, see the reply below"
        assert app.check_action("plan", ()) is False


async def test_a_failed_go_offers_the_buttons_again(demo: ScriptedClient) -> None:
    app = ChatApp(demo)
    async with app.run_test(size=(100, 40)) as pilot:
        await _say(pilot, app, "restart everything on hetzner")
        demo.fail = "The engine is restarting."
        await pilot.click("#plan-go")
        await _settle(pilot, app)
        card = app.query_one(PlanCard)
        assert card.is_pending and not card.is_deciding
        assert not card.query_one("#plan-go").disabled
