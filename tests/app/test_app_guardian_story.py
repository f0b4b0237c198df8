"""The seed's Guardian stories through the real chat (Textual pilot, embedded demo engine): a health sweep fails
a FAILED primary over to its healthy standby by itself, and a region failover plans what it safely can, names
the rest, and runs on go with its progress in place."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import col, select

from app.chat import ChatApp
from app.widgets import AgentMessage, JobProgressMessage, PlanCard
from engine.client import EmbeddedClient
from engine.store import Instance

if TYPE_CHECKING:
    from collections.abc import Callable

    from textual.pilot import Pilot


async def _until(pilot: Pilot[None], condition: Callable[[], object], what: str, attempts: int = 600) -> None:
    for _ in range(attempts):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never happened: {what}")


def _replies(app: ChatApp) -> list[str]:
    return [w.reply for w in app.query(AgentMessage)]


async def test_guardian_heals_and_a_region_fails_over_with_its_exceptions_named(clawops_home: Path) -> None:
    client = EmbeddedClient.open(demo_pairs=300, demo_providers="sim", channel="tui", background_jobs=True)
    try:
        with client.engine.store.session() as s:
            failed = {
                i.id: i.account_id
                for i in s.exec(
                    select(Instance).where(col(Instance.state) == "FAILED", col(Instance.role) == "primary")
                )
            }
        assert failed
        app = ChatApp(client)
        async with app.run_test(size=(120, 40)) as pilot:
            app.prompt.text = "run a health sweep now"
            await pilot.press("enter")
            await _until(pilot, lambda: any("Swept" in r for r in _replies(app)), "sweep answered")
            await _until(pilot, lambda: not client.engine.ops.running_jobs, "Guardian's failovers done")
            with client.engine.store.session() as s:
                for iid in failed:
                    row = s.get(Instance, iid)
                    assert row is not None and row.role == "standby"  # its standby serves the user now
            with client.engine.store.session() as s:  # one Nuremberg user's standby is sick today
                primary = s.exec(
                    select(Instance).where(
                        col(Instance.region) == "eu-hetzner-nbg1",
                        col(Instance.role) == "primary",
                        col(Instance.state) == "ACTIVE",
                    )
                ).first()
                assert primary is not None
                weak = s.exec(
                    select(Instance).where(
                        col(Instance.account_id) == primary.account_id, col(Instance.role) == "standby"
                    )
                ).one()
                weak.state, weak.health_score, weak.health_reason = "DEGRADED", 58, "memory 97 %"
                s.add(weak)
                weak_account = primary.account_id
            app.prompt.text = "fail over everyone in nuremberg"
            await pilot.press("enter")
            await _until(pilot, lambda: bool(app.query(PlanCard)), "plan card")
            plan_reply = next(r for r in reversed(_replies(app)) if "Fail over" in r)
            assert "Not failed over (" in plan_reply and weak_account in plan_reply  # the exceptions, named
            assert "then fail over" in plan_reply  # with the next step
            await pilot.press("ctrl+g")
            await _until(
                pilot,
                lambda: any(w.report.job.tool == "failover" and w.finished for w in app.query(JobProgressMessage)),
                "region failover finished",
            )
            widget = next(w for w in app.query(JobProgressMessage) if w.report.job.tool == "failover")
            assert widget.report.job.status == "succeeded"
    finally:
        await client.engine.ops.wait_for_jobs()
        client.close()
