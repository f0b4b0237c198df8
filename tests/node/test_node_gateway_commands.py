"""GatewayNodeCommands on its own: instance -> device lookup, payload shapes, and one clear sentence for every
reason a node cannot be reached (never an unbounded wait)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from engine.errors import ClawOpsError
from engine.gateway import NodeGateway
from engine.nodes import BootstrapOptions, GatewayNodeCommands, NodeUnavailable
from engine.store import open_store
from node.sim import SimulatedFleet
from tests.node.clawnode_testkit import node_config

FAST = BootstrapOptions(gateway_url="wss://ops.example:18789/", connect_wait_s=0.2, poll_s=0.05)


async def test_reasons_a_node_cannot_be_reached_are_one_sentence_each(
    sqlite_url: str, gateway: NodeGateway, tmp_path: Path
) -> None:
    store = open_store(sqlite_url)
    nodes = GatewayNodeCommands(store, FAST)
    try:
        with pytest.raises(
            NodeUnavailable,
            match=r"^i-acct-001-p cannot be reached: the node gateway is not running "
            r"in this engine; run the daemon \(`clawops engine`\)",
        ):
            await nodes.invoke("i-acct-001-p", "clawops.health", {})

        nodes.attach(gateway)
        nodes.registry = gateway.registry = type(nodes.registry)(store)  # one store-backed registry for both
        with pytest.raises(NodeUnavailable, match=r"^i-acct-001-p has no paired clawnode; re-provision it"):
            await nodes.invoke("i-acct-001-p", "clawops.health", {})
        nodes.registry.issue_bootstrap_token("i-acct-001-p", "acct-001")
        with pytest.raises(NodeUnavailable, match=r"has not paired yet \(its server may still be booting\)"):
            await nodes.invoke("i-acct-001-p", "clawops.health", {})
        with pytest.raises(ClawOpsError, match="not on the node command allowlist"):
            await nodes.invoke("i-acct-001-p", "system.run", {"command": ["id"]})
    finally:
        store.dispose()


async def test_commands_reach_the_instance_s_node_with_engine_shaped_results(
    sqlite_url: str, gateway: NodeGateway, tmp_path: Path
) -> None:
    store = open_store(sqlite_url)
    gateway.registry = registry = GatewayNodeCommands(store, FAST).registry
    nodes = GatewayNodeCommands(store, FAST, registry=registry)
    nodes.attach(gateway)
    fleet = SimulatedFleet(backoff_initial_s=0.05, backoff_max_s=0.2)
    try:
        token = registry.issue_bootstrap_token("i-acct-009-p", "acct-009")
        node = fleet.boot(
            node_config(
                gateway.url,
                "i-acct-009-p",
                token=None,
                bootstrap_token=token,
                account_id="acct-009",
                state_path=str(tmp_path / "n.json"),
            )
        )
        await node.client.wait_connected(10)
        health = await nodes.invoke("i-acct-009-p", "clawops.health", {})
        assert health["ok"] is True and health["healthy"] is True and health["hostname"] == "i-acct-009-p"
        node.system.disk_full = True
        sick = await nodes.invoke("i-acct-009-p", "clawops.health", {})
        assert sick["healthy"] is False and "disk" in sick["health_reason"]
        diagnosis = await nodes.invoke("i-acct-009-p", "clawops.diagnose", {"checks": ["disk", "gateway"]})
        assert diagnosis["ok"] is False and diagnosis["checks"]["disk"]["ok"] is False  # the node's own verdict
        assert diagnosis["checks"]["gateway"]["ok"] is True
        for version in (1, 2):
            applied = await nodes.invoke("i-acct-009-p", "clawops.config_apply", {"config": {"a": version}})
            assert applied["ok"] and applied["applied"] is True
        assert (await nodes.invoke("i-acct-009-p", "clawops.config_apply", {"rollback": True}))["rolledBack"] is True
        assert json.loads(node.system.config_text or "") == {"a": 1}
        node.system.archive_bytes = 50_000
        archive = await nodes.invoke("i-acct-009-p", "clawops.archive", {"account_id": "acct-009"})
        assert archive["bytes"] == 50_000 and len(base64.b64decode(archive["data"])) == 50_000  # pieces, joined
        assert hashlib.sha256(base64.b64decode(archive["data"])).hexdigest() == archive["sha256"]

        await fleet.shutdown("i-acct-009-p")
        nodes.options = dataclasses.replace(FAST, connect_wait_s=0.1)
        with pytest.raises(NodeUnavailable, match=r"^i-acct-009-p's clawnode \(device [0-9a-f]{12}\) is not connected"):
            await nodes.invoke("i-acct-009-p", "clawops.restart_gateway", {})
    finally:
        await fleet.shutdown_all()
        store.dispose()


def test_user_data_refuses_a_gateway_address_no_server_can_dial() -> None:
    derived = BootstrapOptions(gateway_url="ws://127.0.0.1:18789/")
    with pytest.raises(ClawOpsError, match="set CLAWOPS_GATEWAY_PUBLIC_URL"):
        derived.check_reachable()
    BootstrapOptions(gateway_url="ws://127.0.0.1:18789/", explicit_url=True).check_reachable()  # a tunnel: trusted
    BootstrapOptions(gateway_url="wss://ops.example.com:18789/").check_reachable()


def test_bootstrap_options_come_from_settings_and_environment(
    clawops_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.config import load_settings

    settings = load_settings(demo=False, gateway_host="0.0.0.0")
    derived = BootstrapOptions.from_settings(settings)
    assert derived.gateway_url == "ws://0.0.0.0:18789/" and not derived.explicit_url
    assert derived.package.startswith("clawops==")  # nodes run the clawnode of the engine that made them
    with pytest.raises(ClawOpsError, match="New servers cannot reach the node gateway"):
        derived.check_reachable()
    monkeypatch.setenv("CLAWOPS_GATEWAY_PUBLIC_URL", "wss://ops.example.com:18789/")  # settings read CLAWOPS_*
    monkeypatch.setenv("CLAWOPS_OPENCLAW_IMAGE", "reg.example/oc:1")
    monkeypatch.setenv("CLAWOPS_NODE_PACKAGE", "https://ops.example.com/clawops-0.1.0-py3-none-any.whl")
    named = BootstrapOptions.from_settings(load_settings(demo=False, gateway_host="0.0.0.0"))
    assert (named.gateway_url, named.explicit_url, named.openclaw_image) == (
        "wss://ops.example.com:18789/",
        True,
        "reg.example/oc:1",
    )
    assert named.package.endswith(".whl")
