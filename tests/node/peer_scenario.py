"""One clawnode scenario, run against both peers: the embedded gateway and a real OpenClaw gateway.

Scenario: unknown device -> PAIRING_REQUIRED -> operator approves the device -> hello-ok with a
device token -> operator approves the node's command surface -> ``node.invoke clawops.health``
round trip -> node restart reconnects with the device token alone.

``test_node_peers.py`` runs it against the embedded gateway; ``test_node_real_gateway.py`` runs it
against the real one (the module that owns the run's one real gateway, so it boots once).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol

from engine.gateway import NodeGateway
from node.client import NodeClient
from node.commands import COMMANDS
from node.system import SimulatedSystem
from tests.node.clawnode_openclaw import TOKEN, OpenClaw
from tests.node.clawnode_testkit import node_config, until


class Peer(Protocol):
    url: str

    async def approve_device(self, request_id: str) -> None: ...

    async def approve_surface(self, node_id: str) -> None: ...

    async def invoke(self, node_id: str, command: str, params: dict[str, Any]) -> Any: ...


class EmbeddedPeer:
    def __init__(self, gw: NodeGateway) -> None:
        self.gw, self.url = gw, gw.url

    async def approve_device(self, request_id: str) -> None:
        self.gw.approve(request_id)

    async def approve_surface(self, node_id: str) -> None:
        return None  # the embedded gateway approves the allowlisted surface with the device

    async def invoke(self, node_id: str, command: str, params: dict[str, Any]) -> Any:
        res = await self.gw.invoke(node_id, command, params, timeout_s=15)
        assert res.ok, res
        return res.payload


class OpenClawPeer:
    """The operator's side of a real gateway: what ``openclaw devices approve`` / ``nodes pending`` /
    ``nodes approve`` / ``nodes invoke`` send, over the operator connection the CLI makes on loopback."""

    def __init__(self, oc: OpenClaw) -> None:
        self.oc, self.url = oc, oc.url + "/"

    async def approve_device(self, request_id: str) -> None:
        await self.oc.approve_device(request_id)

    async def approve_surface(self, node_id: str) -> None:
        async with asyncio.timeout(60):
            while True:
                mine = [p for p in await self.oc.pending_nodes() if p.get("nodeId") == node_id]
                if mine:
                    assert set(mine[0]["commands"]) == set(COMMANDS)  # all allowlisted commands reached it
                    await self.oc.approve_node(mine[0]["requestId"])
                    return
                await asyncio.sleep(0.5)

    async def invoke(self, node_id: str, command: str, params: dict[str, Any]) -> Any:
        out = await self.oc.invoke(node_id, command, params)
        assert out["ok"] is True and out["command"] == command
        return out["payload"]


async def pairs_and_is_invoked(peer: Peer, tmp_path: Path) -> None:
    """The scenario (module docstring), asserting every step."""

    def make() -> NodeClient:
        return NodeClient(
            node_config(
                peer.url, "peer-node", token=TOKEN, state_path=str(tmp_path / "state.json"), health_interval_s=0.5
            ),
            system=SimulatedSystem(hostname="peer-node"),
            backoff_initial_s=0.1,
            backoff_max_s=0.5,
            settle_s=0,
        )

    client = make()
    task = asyncio.create_task(client.run())
    try:
        # (a gateway still starting answers UNAVAILABLE first; the client retries through that)
        await until(lambda: client.last_error is not None and client.last_error.code == "NOT_PAIRED", timeout=60)
        assert client.last_error is not None and client.last_error.detail_code == "PAIRING_REQUIRED"
        await peer.approve_device(str(client.last_error.details["requestId"]))
        await client.wait_connected(60)
        assert client.hello is not None and client.hello["protocol"] == 4
        assert client.identity.device_token and len(client.identity.device_token) == 43

        await peer.approve_surface(client.device_id)
        async with asyncio.timeout(60):
            while True:  # a surface approval may take a moment to reach the live session
                try:
                    payload = await peer.invoke(client.device_id, "clawops.health", {})
                    break
                except (AssertionError, RuntimeError):
                    await asyncio.sleep(0.5)
        assert payload["nodeId"] == client.device_id and payload["hostname"] == "peer-node"
        assert payload["gateway"]["running"] is True and payload["errors"] == {}
        # Reports go out: as clawops.health where the gateway takes them (embedded), as the standard
        # node.host.stats where it does not (a real gateway answers clawops.health "unsupported_event").
        await until(
            lambda: (
                client.stats.health_sent >= 1
                or (client.stats.health_events_unsupported >= 1 and client.stats.host_stats_sent >= 1)
            ),
            timeout=30,
        )
    finally:
        await client.stop()
        await asyncio.wait_for(task, 15)

    again = make()  # node restart: only the stored device token is needed now
    task = asyncio.create_task(again.run())
    try:
        await again.wait_connected(60)
        assert again.device_id == client.device_id
        assert again.hello is not None and again.hello["auth"]["method"] == "device-token"
    finally:
        await again.stop()
        await asyncio.wait_for(task, 15)
