"""One clawnode scenario, run against both peers: the embedded gateway and a real OpenClaw gateway.

Scenario (``peer_scenario.py``): unknown device -> PAIRING_REQUIRED -> operator approves the device ->
hello-ok with a device token -> operator approves the node's command surface -> ``node.invoke
clawops.health`` round trip -> node restart reconnects with the device token alone.

This module runs it against the embedded gateway.  The same scenario against a real OpenClaw gateway
(npm ``openclaw@2026.9.6``, protocol reference §14) is
``test_node_real_gateway.py::test_clawnode_pairs_and_is_invoked_by_a_real_gateway``: that module owns
the run's one real gateway, so the gateway boots once per test run rather than once per file.
"""

from __future__ import annotations

from pathlib import Path

from engine.gateway import NodeGateway
from tests.node.clawnode_openclaw import TOKEN
from tests.node.peer_scenario import EmbeddedPeer, pairs_and_is_invoked


async def test_clawnode_pairs_and_is_invoked(tmp_path: Path) -> None:
    gw = NodeGateway("127.0.0.1", 0, TOKEN)  # no auto-approval: the operator approves
    await gw.start()
    try:
        await pairs_and_is_invoked(EmbeddedPeer(gw), tmp_path)
    finally:
        await gw.stop()
