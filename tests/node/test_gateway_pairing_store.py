"""The pairing registry in the store: paired nodes survive an engine restart, and a bootstrap token pairs
exactly one device even with several engines on one store (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import select

from engine.gateway import NodeGateway, StoredDeviceRegistry
from engine.store import NodeBootstrapToken, NodeDevice, open_store
from node.identity import DeviceIdentity
from node.protocol import DetailCode
from node.sim import SimulatedFleet
from tests.node.clawnode_testkit import SHARED_TOKEN, RawPeer, Reports, node_config, signed_connect, until


def test_devices_and_instance_bindings_persist_hashed(store_url: str) -> None:
    store = open_store(store_url)
    try:
        reg = StoredDeviceRegistry(store)
        device, token = reg.pair(
            "a" * 64, "pk-a", approved_via="bootstrap", account_id="acct-001", instance_id="i-acct-001-p"
        )
        with store.session() as s:
            rows = [r.model_dump() for r in s.exec(select(NodeDevice)).all()]
        assert len(rows) == 1 and token not in json.dumps(rows, default=str)  # only the hash is stored

        again = StoredDeviceRegistry(store)  # a restarted engine
        assert again.check_device_token(device.device_id, token)
        bound = again.device_for_instance("i-acct-001-p")
        assert bound is not None and bound.device_id == device.device_id

        # The VPS was rebuilt: a new device pairs for the same instance and takes the binding over.
        newer, _ = again.pair(
            "b" * 64, "pk-b", approved_via="bootstrap", account_id="acct-001", instance_id="i-acct-001-p"
        )
        third = StoredDeviceRegistry(store)
        rebound, old = third.device_for_instance("i-acct-001-p"), third.get("a" * 64)
        assert rebound is not None and rebound.device_id == newer.device_id
        assert old is not None and old.instance_id is None

        rotated = third.rotate_token(newer.device_id)
        assert StoredDeviceRegistry(store).check_device_token(newer.device_id, rotated)
        assert third.revoke(newer.device_id)
        assert StoredDeviceRegistry(store).get(newer.device_id) is None
    finally:
        store.dispose()


def test_bootstrap_token_is_single_use_across_engines_on_one_store(store_url: str) -> None:
    store_a, store_b = open_store(store_url), open_store(store_url)
    try:
        engine_a, engine_b = StoredDeviceRegistry(store_a), StoredDeviceRegistry(store_b)
        first = engine_a.issue_bootstrap_token("i-acct-002-p", "acct-002")
        token = engine_a.issue_bootstrap_token("i-acct-002-p", "acct-002")
        assert engine_b.peek_bootstrap(first) is None  # a newer token for the instance withdraws the older one
        assert engine_b.bootstrap_pending("i-acct-002-p")
        grant = engine_b.consume_bootstrap(token)
        assert grant is not None and (grant.instance_id, grant.account_id) == ("i-acct-002-p", "acct-002")
        assert engine_a.consume_bootstrap(token) is None and engine_b.consume_bootstrap(token) is None
        assert not engine_a.bootstrap_pending("i-acct-002-p")
        with store_a.session() as s:
            assert s.exec(select(NodeBootstrapToken)).all() == []
    finally:
        store_a.dispose()
        store_b.dispose()


async def test_paired_node_reconnects_after_an_engine_restart(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url)
    fleet = SimulatedFleet(backoff_initial_s=0.05, backoff_max_s=0.2)
    reports = Reports()
    gw = NodeGateway("127.0.0.1", 0, SHARED_TOKEN, registry=StoredDeviceRegistry(store), on_health_report=reports.add)
    await gw.start()
    port = gw.port
    try:
        token = gw.issue_bootstrap_token("i-acct-003-p", "acct-003")
        config = node_config(
            gw.url,
            "i-acct-003-p",
            token=None,
            bootstrap_token=token,
            account_id="acct-003",
            state_path=str(tmp_path / "state.json"),
        )
        node = fleet.boot(config)
        await node.client.wait_connected(10)
        await gw.stop()
        await until(lambda: not node.client.connected.is_set())

        # A new engine process: a fresh store handle, a fresh registry, the same address.
        store.dispose()
        store = open_store(store_url)
        gw = NodeGateway(
            "127.0.0.1", port, SHARED_TOKEN, registry=StoredDeviceRegistry(store), on_health_report=reports.add
        )
        await gw.start()
        await node.client.wait_connected(10)
        assert node.client.hello is not None and node.client.hello["auth"]["method"] == "device-token"
        paired = gw.registry.device_for_instance("i-acct-003-p")
        assert paired is not None and paired.device_id == node.device_id
        await reports.wait_for(lambda items: any(r.instance_id == "i-acct-003-p" for r in items))

        # The spent bootstrap token is refused, to this node's identity or any other.
        for identity in (DeviceIdentity.generate(), DeviceIdentity.load_or_create(tmp_path / "state.json")):
            peer = await RawPeer.open(gw.url)
            res = await peer.request(
                "connect", signed_connect(identity, peer.nonce, peer.ts, {"bootstrapToken": token})
            )
            assert not res["ok"] and res["error"]["details"]["code"] == DetailCode.BOOTSTRAP_TOKEN_INVALID
            assert await peer.close_code() == 1008
    finally:
        await fleet.shutdown_all()
        await gw.stop()
        store.dispose()
