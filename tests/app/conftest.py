"""Fixtures for the chat's Pilot and snapshot tests.

Most tests drive the real embedded engine on a small DEMO fleet (fast, and the
replies are the real ones).  ``ScriptedClient`` stands in where a test needs
something the demo cannot do on demand: a failed turn, a broken engine, a slow
turn held open by the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from engine.client import EmbeddedClient, EngineEvent, ToolCall, TurnFailed, TurnFinished, TurnResult, TurnStarted

DEMO_PAIRS = 60


@pytest.fixture
def client(clawops_home: Path) -> Iterator[EmbeddedClient]:
    """The embedded engine on a 60-account DEMO fleet, in an isolated CLAWOPS_HOME."""
    engine_client = EmbeddedClient.open(demo_pairs=DEMO_PAIRS, channel="tui")
    try:
        yield engine_client
    finally:
        engine_client.close()


class ScriptedClient:
    """A client whose turns the test decides: a reply, a failure, an exception, or a turn held open."""

    is_demo = True

    def __init__(
        self,
        *,
        reply: str = "[CMD] Scripted reply.",
        fail: str | None = None,
        crash: Exception | None = None,
        script: dict[str, TurnResult] | None = None,
    ) -> None:
        self.reply = reply
        self.script = dict(script or {})
        self.fail = fail
        self.crash = crash
        self.asked: list[str] = []
        self.called: list[ToolCall | None] = []
        """Per turn, the structured tool call it was sent with (a slash command), or ``None`` for words."""
        self.release: asyncio.Event | None = None

    def hold(self) -> asyncio.Event:
        """Make the next turns wait until the returned event is set."""
        self.release = asyncio.Event()
        return self.release

    async def stream(
        self, message: str, *, session: str | None = None, call: ToolCall | None = None
    ) -> AsyncIterator[EngineEvent]:
        self.asked.append(message)
        self.called.append(call)
        yield TurnStarted(message, session)
        if self.release is not None:
            await self.release.wait()
        if self.crash is not None:
            raise self.crash
        if self.fail is not None:
            yield TurnFailed(self.fail)
            return
        result = self.script.get(message) or TurnResult(reply=self.reply, session=session)
        yield TurnFinished(result)

    def close(self) -> None:
        pass


STATUS_REPLY = (
    "[CMD] DEMO fleet: 120 instances across 60 accounts — 93 ACTIVE, 24 DEGRADED, 3 FAILED.\n"
    "By provider: hetzner 37 (6 DEGRADED); vultr 37 (13 DEGRADED, 1 FAILED); digitalocean 36 (5 DEGRADED, "
    "1 FAILED); contabo 8; hostinger 2 (1 FAILED).\n"
    "Needs attention: i-acct-021-p hostinger ap-hostinger-sin FAILED 0 (unreachable for 3 sweeps); "
    "i-acct-014-p hetzner eu-hetzner-hel1 DEGRADED 53 (gateway restarted 3x in 10 min); and 25 more."
)


def demo_script() -> dict[str, TurnResult]:
    """Fixed turns shaped like the real engine's (a status, a plan, its go), for snapshots.

    Snapshots pin the *UI*; they use fixed data so a change of engine wording or
    demo seed does not repaint them (the Pilot tests cover the real engine).
    """
    from engine.operations import JobView, PlanView, ToolOutcome

    policy = (
        {"rule": "role", "passed": True, "needs_human": False, "note": "owner may call restart"},
        {
            "rule": "rule5_confirm_above_threshold",
            "passed": True,
            "needs_human": True,
            "note": "affects 37 users (> 10): needs your confirmation",
        },
    )
    summary = "Restart the OpenClaw gateway on 37 instances (instances on hetzner), affecting 37 users. No cost change."
    steps = tuple(f"restart the OpenClaw gateway on i-acct-{n:03d}-p (hetzner, ACTIVE)" for n in range(1, 21))
    plan = PlanView(
        id="pl-0000a001",
        tool="restart",
        summary=summary,
        requires_confirmation=True,
        affected_users=37,
        monthly_cost_delta=0.0,
        status="pending",
        steps=steps,
        policy=policy,
    )
    confirmed = PlanView(
        id="pl-0000a001",
        tool="restart",
        summary=summary,
        requires_confirmation=True,
        affected_users=37,
        monthly_cost_delta=0.0,
        status="confirmed",
        steps=steps,
        policy=policy,
    )
    job = JobView(
        id="job-0000b001",
        plan_id="pl-0000a001",
        tool="restart",
        status="succeeded",
        total=37,
        done=37,
        failed=0,
        states={"ACTIVE": 37},
    )
    restart = "restart everything on hetzner"
    return {
        "fleet status": TurnResult(reply=STATUS_REPLY, tool_calls=[ToolOutcome("fleet_status", {}, "done")]),
        restart: TurnResult(
            reply=f"[CMD] Plan pl-0000a001: {summary} Policy: affects 37 users (> 10): needs your confirmation. "
            "Confirm? (go / cancel)",
            tool_calls=[ToolOutcome("restart", {}, "planned", plan=plan)],
        ),
        "go": TurnResult(
            reply="[CMD] Done: job job-0000b001 finished 37/37 steps. Now: 37 ACTIVE.",
            tool_calls=[ToolOutcome("restart", {}, "done", plan=confirmed, job=job)],
        ),
    }


@pytest.fixture
def demo() -> ScriptedClient:
    """A scripted client answering "fleet status", "restart everything on hetzner" and "go" like the demo."""
    return ScriptedClient(script=demo_script())


@pytest.fixture
def scripted() -> type[ScriptedClient]:
    """The :class:`ScriptedClient` class (tests import fixtures, not conftest modules)."""
    return ScriptedClient
