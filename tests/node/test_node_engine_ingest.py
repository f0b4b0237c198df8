"""A simulated clawnode pairs with the engine's gateway and its health reports land in the store,
where Guardian's sweep reads them (issue 5 item 4)."""

from __future__ import annotations

from pathlib import Path

from clawnode_testkit import node_config, until

from engine.guardian import load_reports
from engine.nodes import gateway_token, start_node_gateway
from engine.runtime import Engine
from engine.store import HealthReportRecord
from node.sim import SimulatedFleet
from node.system import SimulatedSystem


async def test_reports_from_a_paired_node_reach_health_reports(clawops_home: Path) -> None:
    engine = Engine.open(demo_pairs=20, demo_providers="sim")
    gateway = await start_node_gateway(engine, port=0)
    fleet = SimulatedFleet(backoff_initial_s=0.05, backoff_max_s=0.5, settle_s=0)
    try:
        token = gateway.issue_bootstrap_token("i-acct-001-p", "acct-001")
        cfg = node_config(gateway.url, "vps-acct-001-p", token=None, bootstrap_token=token, account_id="acct-001",
                          instance_id="i-acct-001-p", health_interval_s=0.2)
        fleet.boot(cfg, system=SimulatedSystem(hostname="vps-acct-001-p", disk_full=True))

        def stored() -> bool:
            with engine.store.session() as s:
                return s.get(HealthReportRecord, "i-acct-001-p") is not None

        await until(stored, timeout=30)
        reports = load_reports(engine.store)
        assert set(reports) == {"i-acct-001-p"}
        assert reports["i-acct-001-p"].disk_percent is not None and reports["i-acct-001-p"].disk_percent >= 99
        # The token is generated once and kept (encrypted) for the next start.
        assert gateway_token(engine) == gateway_token(engine)
    finally:
        await fleet.shutdown_all()
        await gateway.stop()
        engine.close()
