"""Jobs in the real chat (Textual pilot, embedded engine): progress below the message that started it, updated
in place while the pairs come up, the label asked for on every new account, and F8 stopping the job at a safe
step with nothing orphaned."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlmodel import col, select

from app.chat import ChatApp
from app.widgets import AgentMessage, JobProgressMessage, PlanCard
from engine.client import EmbeddedClient
from engine.operations import _service
from engine.store import Account, Instance
from tests.engine_kit import sim_nodes

if TYPE_CHECKING:
    from collections.abc import Callable

    from textual.pilot import Pilot


async def _until(pilot: Pilot[None], condition: Callable[[], object], what: str, attempts: int = 600) -> None:
    for _ in range(attempts):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture
def pairs_two_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(_service.TOOL_CONCURRENCY, "provision_pairs", 2)


async def test_provisioning_reports_below_its_reply_and_f8_stops_it_cleanly(
    clawops_home: Path, pairs_two_at_a_time: None
) -> None:
    client = EmbeddedClient.open(demo_pairs=20, demo_providers="sim", channel="tui", background_jobs=True)
    sim_nodes(client.engine).latency = 0.25  # each pair takes a moment: there is time to watch and to stop
    try:
        app = ChatApp(client)
        async with app.run_test(size=(120, 40)) as pilot:
            app.prompt.text = "provision 12 standard pairs in the eu, hetzner primary, vultr standby, label 'COMPANION'"
            await pilot.press("enter")
            await _until(pilot, lambda: bool(app.query(PlanCard)), "plan card")
            await pilot.press("ctrl+g")
            await _until(pilot, lambda: bool(app.query(JobProgressMessage)), "progress message")
            children = list(app.transcript.children)
            (progress,) = app.query(JobProgressMessage)
            started = [w for w in children if isinstance(w, AgentMessage) and "Started job" in w.reply]
            assert started and children.index(started[-1]) < children.index(progress)  # below "Started job"
            await _until(pilot, lambda: progress.report.job.done >= 1 and not progress.finished, "a pair done")
            assert "ACTIVE" in progress.text and progress.updates > 1  # one message, rewritten in place
            await pilot.press("f8")
            await _until(pilot, lambda: progress.finished, "job stopped")
            job = progress.report.job
            assert job.status == "stopped" and job.skipped >= 1 and job.done + job.skipped == job.total
            assert len(app.query(JobProgressMessage)) == 1
    finally:
        await client.engine.ops.wait_for_jobs()
        with client.engine.store.session() as s:
            # (the offline brain folds the label's case today: the understanding work keeps it as typed)
            new = [a for a in s.exec(select(Account)).all() if a.label.lower() == "companion"]
            instances = list(s.exec(select(Instance).where(col(Instance.account_id).in_([a.id for a in new]))).all())
        client.close()
    assert len(new) == job.done  # the label reached every pair built; the unbought ones left no account
    assert instances and {i.state for i in instances} == {"ACTIVE"}  # nothing half-built
