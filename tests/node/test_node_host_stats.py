"""The standard node.host.stats event: clawnode sends it, the embedded gateway keeps it as OpenClaw does."""

from __future__ import annotations

from engine.gateway import NodeGateway
from node.identity import DeviceIdentity
from node.sim import SimulatedFleet
from node.system import SimulatedSystem
from tests.node.clawnode_testkit import RawPeer, node_config, signed_connect, until


async def test_clawnode_sends_host_stats_and_the_gateway_keeps_them(gateway: NodeGateway) -> None:
    fleet = SimulatedFleet(backoff_initial_s=0.05, backoff_max_s=0.2)
    system = SimulatedSystem(hostname="stats-node")
    node = fleet.boot(node_config(gateway.url, "stats-node", host_stats_interval_s=0.2), system=system)
    try:
        await node.client.wait_connected(10)

        def kept() -> bool:
            live = gateway.connected_node(node.device_id)
            return live is not None and live.host_stats is not None

        await until(kept)
        live = gateway.connected_node(node.device_id)
        assert live is not None and live.host_stats is not None
        stats = live.host_stats
        assert stats["memoryTotalBytes"] == system.mem_total_bytes
        assert stats["diskTotalBytes"] == system.disk_total_bytes and stats["cpuCount"] >= 1
        assert isinstance(stats["updatedAtMs"], int)
        assert node.client.stats.health_sent >= 1  # this gateway takes clawops.health too
        assert node.client.stats.health_events_unsupported == 0
    finally:
        await fleet.shutdown_all()


async def test_host_stats_are_checked_like_openclaw_does(gateway: NodeGateway) -> None:
    ident = DeviceIdentity.generate()
    peer = await RawPeer.open(gateway.url)
    assert (
        await peer.request("connect", signed_connect(ident, peer.nonce, peer.ts, {"token": "shared-token-for-tests"}))
    )["ok"]
    good = {"cpuCount": 2, "memoryTotalBytes": 100, "memoryFreeBytes": 50}
    res = await peer.request("node.event", {"event": "node.host.stats", "payload": good})
    assert res["payload"] == {"ok": True, "event": "node.host.stats", "handled": True, "reason": "updated"}
    for bad in (
        {**good, "memoryFreeBytes": 101},
        {**good, "diskTotalBytes": 10},
        {**good, "extra": 1},
        {**good, "cpuCount": 0},
        {**good, "loadAverage": [1, 2]},
    ):
        res = await peer.request("node.event", {"event": "node.host.stats", "payload": bad})
        assert res["payload"]["handled"] is False and res["payload"]["reason"] == "invalid_payload", bad
    res = await peer.request("node.event", {"event": "something.else", "payload": {}})
    assert res["payload"]["reason"] == "unsupported_event"
