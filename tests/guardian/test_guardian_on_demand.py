"""Guardian's sweep on demand: "run a health sweep now" runs the real cycle where the sweep is scheduled (node
reports flow), says why not elsewhere, and is an operator's (not a viewer's) request."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from engine import scheduler
from engine.guardian._drill import healthy_reports
from engine.runtime import Engine
from engine.store import Instance, utcnow


def test_a_sweep_on_demand_runs_the_cycle_over_the_reports(clawops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine.open(demo_pairs=30, demo_providers="sim")
    try:
        engine.ops.sweeper = engine.scheduler.sweep_now  # what start_scheduler(guardian=True) does in the daemon
        monkeypatch.setattr(scheduler, "sweep_reports", lambda engine, now: healthy_reports(engine, utcnow(), set()))
        result = asyncio.run(engine.ask("run a health sweep now"))
        (call,) = result.tool_calls
        with engine.store.session() as s:
            live = s.exec(select(func.count()).select_from(Instance).where(col(Instance.state) != "DELETED")).one()
        assert call.tool == "guardian_sweep" and call.status == "done"
        assert call.result["scored"] == live and call.result["incidents"] == 0
        assert f"Swept {live} instances" in result.reply and "[Guardian]" in result.reply
        viewer = asyncio.run(engine.ask_tool("guardian_sweep", {}, operator="globex-viewer"))
        assert viewer.status == "refused"  # a viewer may look, not set Guardian off
    finally:
        engine.close()


def test_without_reporting_nodes_the_sweep_says_why_not(clawops_home: Path) -> None:
    engine = Engine.open(demo_pairs=30, demo_providers="sim")
    try:
        call = asyncio.run(engine.ask_tool("guardian_sweep", {}))
        assert call.status == "error" and "only where nodes report" in call.message
    finally:
        engine.close()
