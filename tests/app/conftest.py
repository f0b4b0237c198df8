"""Fixtures for the chat's Pilot and snapshot tests.

Most tests drive the real embedded engine on a small DEMO fleet (fast, and the
replies are the real ones).  ``ScriptedClient`` stands in where a test needs
something the demo cannot do on demand: a failed turn, a broken engine, a slow
turn held open by the test.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from engine.client import EmbeddedClient, EngineEvent, TurnFailed, TurnFinished, TurnResult, TurnStarted

DEMO_PAIRS = 60


@pytest.fixture
def client(clawops_home: Path) -> Iterator[EmbeddedClient]:
    """The embedded engine on a 60-account DEMO fleet, in an isolated CLAWOPS_HOME."""
    engine_client = EmbeddedClient.open(demo_pairs=DEMO_PAIRS, channel="tui")
    try:
        yield engine_client
    finally:
        engine_client.close()


@pytest.fixture
def fixed_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plan and job ids are random hex; number them instead so snapshots are stable."""
    from engine.operations import _service

    counter = itertools.count(1)
    monkeypatch.setattr(_service, "_new_id", lambda prefix: f"{prefix}-{next(counter):08x}")


class ScriptedClient:
    """A client whose turns the test decides: a reply, a failure, an exception, or a turn held open."""

    is_demo = True

    def __init__(self, *, reply: str = "[CMD] Scripted reply.", fail: str | None = None,
                 crash: Exception | None = None) -> None:
        self.reply = reply
        self.fail = fail
        self.crash = crash
        self.asked: list[str] = []
        self.release: asyncio.Event | None = None

    def hold(self) -> asyncio.Event:
        """Make the next turns wait until the returned event is set."""
        self.release = asyncio.Event()
        return self.release

    async def stream(self, message: str, *, session: str | None = None) -> AsyncIterator[EngineEvent]:
        self.asked.append(message)
        yield TurnStarted(message, session)
        if self.release is not None:
            await self.release.wait()
        if self.crash is not None:
            raise self.crash
        if self.fail is not None:
            yield TurnFailed(self.fail)
            return
        yield TurnFinished(TurnResult(reply=self.reply, session=session))

    def close(self) -> None:
        pass


@pytest.fixture
def scripted() -> type[ScriptedClient]:
    """The :class:`ScriptedClient` class (tests import fixtures, not conftest modules)."""
    return ScriptedClient
