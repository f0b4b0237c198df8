"""Shared fixtures for the clawnode and node-gateway tests (loopback only, port 0)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

# tests/conftest.py puts tests/ on sys.path, where this folder (tests/node, no __init__) would shadow
# the real `node` package as a namespace package when pytest is started as `pytest` rather than
# `python -m pytest`.  Put the repository root first and drop a shadow that may already be cached.
_ROOT = str(Path(__file__).resolve().parents[2])
if sys.path[0] != _ROOT:
    sys.path.insert(0, _ROOT)
if "node" in sys.modules and getattr(sys.modules["node"], "__file__", None) is None:
    del sys.modules["node"]

import pytest  # noqa: E402

from engine.gateway import NodeGateway, PairingRequest  # noqa: E402
from tests.node.clawnode_testkit import SHARED_TOKEN, Reports  # noqa: E402


@pytest.fixture
async def reports() -> Reports:
    return Reports()


@pytest.fixture
async def gateway(reports: Reports) -> AsyncIterator[NodeGateway]:
    """An embedded gateway that auto-approves shared-token pairing (like OpenClaw on loopback)."""

    async def approve(_req: PairingRequest) -> bool:
        return True

    gw = NodeGateway("127.0.0.1", 0, SHARED_TOKEN, on_health_report=reports.add, approve_pairing=approve)
    await gw.start()
    try:
        yield gw
    finally:
        await gw.stop()
