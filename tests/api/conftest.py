"""Fixtures for the operator API: a small DEMO engine, real operator keys, and a live daemon on loopback.

Keys are issued by the trust package (the real check the daemon uses), so these
tests exercise the same path as production.  The daemon runs in the test's own
event loop on 127.0.0.1 with an OS-chosen port.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from engine.runtime import Engine
from engine.trust import add_operator
from tests.api.api_testkit import DEMO_PAIRS, Daemon, Keys, WebServer


@pytest.fixture
def api_engine(clawops_home: Path) -> Iterator[Engine]:
    """A 30-account DEMO fleet on the in-process simulator, with operators alice and bob."""
    engine = Engine.open(demo_pairs=DEMO_PAIRS, demo_providers="sim")
    owner = engine.caller("owner", "cli")
    add_operator(engine.store, owner, "alice", "operator")
    add_operator(engine.store, owner, "bob", "operator")
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture
def keys(api_engine: Engine) -> Keys:
    owner = api_engine.caller("owner", "cli")
    return Keys(
        owner=api_engine.trust.issue_key(owner, "owner").key,
        alice=api_engine.trust.issue_key(owner, "alice").key,
        bob=api_engine.trust.issue_key(owner, "bob").key,
    )


@pytest.fixture
async def daemon(api_engine: Engine) -> AsyncIterator[Daemon]:
    d = Daemon(api_engine)
    await d.start()
    try:
        yield d
    finally:
        with contextlib.suppress(Exception):
            await d.stop()


@pytest.fixture
async def web_chat(api_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[WebServer]:
    """The browser chat on loopback; each tab's process uses the same small simulated DEMO store."""
    monkeypatch.setenv("CLAWOPS_DEMO_PROVIDERS", "sim")
    server = WebServer(api_engine)
    await server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            await server.stop()
