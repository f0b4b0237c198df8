"""Many simulated nodes in one process against the embedded gateway: faults show up as facts,
heal steps have their real effect, fan-out reaches everyone."""

from __future__ import annotations

import asyncio

from engine.gateway import NodeGateway
from node.sim import SimulatedFleet
from node.system import SimulatedSystem
from tests.node.clawnode_testkit import Reports, node_config, until

N = 60


async def test_many_simulated_nodes_share_one_process(gateway: NodeGateway, reports: Reports) -> None:
    fleet = SimulatedFleet(backoff_initial_s=0.05, backoff_max_s=0.5, settle_s=0)
    faults = {
        "vps-1": SimulatedSystem(hostname="vps-1", disk_full=True),
        "vps-2": SimulatedSystem(hostname="vps-2", gateway_dead=True),
        "vps-3": SimulatedSystem(hostname="vps-3", docker_missing=True),
    }
    try:
        nodes = []
        for i in range(N):
            name = f"vps-{i}"
            token = gateway.issue_bootstrap_token(f"inst-{i}", f"acct-{i:03d}")
            cfg = node_config(
                gateway.url,
                name,
                token=None,
                bootstrap_token=token,
                account_id=f"acct-{i:03d}",
                instance_id=f"inst-{i}",
                gateway_probe_url="ws://127.0.0.1:18789/",
                health_interval_s=0.5,
            )
            nodes.append(fleet.boot(cfg, system=faults.get(name)))
        await asyncio.gather(*(n.client.wait_connected(30) for n in nodes))
        assert len(gateway.connected_nodes()) == N

        results = await gateway.fan_out("clawops.health", timeout_s=20)
        assert len(results) == N and all(r.ok for r in results.values())
        by_host = {r.payload["hostname"]: r.payload for r in results.values()}
        assert by_host["vps-1"]["disk"]["freeBytes"] == 0
        assert by_host["vps-2"]["gateway"]["running"] is False and "gateway_ws" in by_host["vps-2"]["errors"]
        assert by_host["vps-3"]["docker"]["available"] is False
        assert by_host["vps-3"]["errors"]["docker"] == "docker is not installed"
        assert by_host["vps-10"]["gateway"]["running"] is True and by_host["vps-10"]["errors"] == {}

        await reports.wait_for(lambda items: {r.instance_id for r in items} >= {f"inst-{i}" for i in range(N)})
        # Each report carries the account its bootstrap token was issued for.
        assert all(
            r.account_id == f"acct-{int(r.instance_id.split('-')[1]):03d}" for r in reports.items if r.instance_id
        )

        # A heal step has its real effect on the simulated VPS.
        vps2 = fleet.nodes["vps-2"]
        res = await gateway.invoke(vps2.device_id, "clawops.restart_gateway", timeout_s=10)
        assert res.ok and res.payload["running"] is True
        start = len(reports.items)
        await reports.wait_for(lambda items: any(r.hostname == "vps-2" and r.gateway_running for r in items[start:]))

        # A powered-off VPS disappears from the gateway; fan-out reports it as unavailable.
        gone = fleet.nodes["vps-5"].device_id
        await fleet.shutdown("vps-5")
        await until(lambda: not gateway.is_connected(gone))
        results = await gateway.fan_out("clawops.health", node_ids=[gone, vps2.device_id], timeout_s=10)
        assert results[gone].error_code == "UNAVAILABLE" and results[vps2.device_id].ok
    finally:
        await fleet.shutdown_all()
