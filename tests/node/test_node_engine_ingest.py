"""A simulated clawnode pairs with the engine's gateway and its health reports land in the store,
where Guardian's sweep reads them (issue 5 item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.guardian import load_reports
from engine.nodes import gateway_token, start_node_gateway
from engine.runtime import Engine
from engine.store import HealthReportRecord, Instance
from node.sim import SimulatedFleet
from node.system import SimulatedSystem
from tests.node.clawnode_testkit import node_config, until


async def test_reports_from_a_paired_node_reach_health_reports(clawops_home: Path) -> None:
    engine = Engine.open(demo_pairs=20, demo_providers="sim")
    gateway = await start_node_gateway(engine, port=0)
    fleet = SimulatedFleet(backoff_initial_s=0.05, backoff_max_s=0.5, settle_s=0)
    try:
        token = gateway.issue_bootstrap_token("i-acct-001-p", "acct-001")
        cfg = node_config(
            gateway.url,
            "vps-acct-001-p",
            token=None,
            bootstrap_token=token,
            account_id="acct-001",
            instance_id="i-acct-001-p",
            health_interval_s=0.2,
        )
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


async def test_an_operator_approved_node_is_bound_to_its_instance_from_its_config(clawops_home: Path) -> None:
    """No bootstrap token (installed by hand with the shared token): the node's config facts name its instance."""
    engine = Engine.open(demo_pairs=20, demo_providers="sim")
    gateway = await start_node_gateway(engine, port=0)
    fleet = SimulatedFleet(backoff_initial_s=0.05, backoff_max_s=0.2, settle_s=0)
    try:
        with engine.store.session() as s:
            inst = s.get(Instance, "i-acct-002-s")
            assert inst is not None
            facts = {"account_id": inst.account_id, "role": inst.role, "provider": inst.provider, "region": inst.region}
        cfg = node_config(gateway.url, "some-box", token=gateway_token(engine), health_interval_s=0.2, **facts)
        node = fleet.boot(cfg)
        await until(lambda: bool(gateway.pending_pairings()), timeout=10)
        gateway.approve(gateway.pending_pairings()[0].request_id)  # the operator's yes; no instance given
        await node.client.wait_connected(10)

        def bound() -> bool:
            device = gateway.registry.device_for_instance("i-acct-002-s")
            return device is not None and device.device_id == node.device_id

        await until(bound, timeout=10)
        await until(lambda: "i-acct-002-s" in load_reports(engine.store), timeout=10)

        # A second node describing the same instance does not take it over (only a re-provision moves it).
        other = fleet.boot(
            node_config(gateway.url, "other-box", token=gateway_token(engine), health_interval_s=0.2, **facts)
        )
        await until(lambda: bool(gateway.pending_pairings()), timeout=10)
        gateway.approve(gateway.pending_pairings()[0].request_id)
        await other.client.wait_connected(10)
        await until(lambda: other.client.stats.health_sent >= 2, timeout=10)
        unbound = gateway.registry.get(other.device_id)
        assert bound() and unbound is not None and unbound.instance_id is None
    finally:
        await fleet.shutdown_all()
        await gateway.stop()
        engine.close()


async def test_a_half_configured_openclaw_link_is_refused_before_the_gateway_listens(
    clawops_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.errors import ConfigError

    monkeypatch.setenv("CLAWOPS_OPENCLAW_GATEWAY_URL", "ws://127.0.0.1:9/")  # and no token
    engine = Engine.open(demo_pairs=20, demo_providers="sim")
    try:
        with pytest.raises(ConfigError, match="CLAWOPS_OPENCLAW_GATEWAY_TOKEN"):
            await start_node_gateway(engine, port=0)
        monkeypatch.setenv("CLAWOPS_OPENCLAW_GATEWAY_URL", "http://example.invalid/")
        monkeypatch.setenv("CLAWOPS_OPENCLAW_GATEWAY_TOKEN", "t")
        engine.close()
        engine = Engine.open(demo_pairs=20, demo_providers="sim")
        with pytest.raises(ConfigError, match="ws:// or wss://"):
            await start_node_gateway(engine, port=0)
    finally:
        engine.close()
