"""clawnode and ClawOps against a real OpenClaw gateway (issue 20): everything through the gateway as it is.

This module owns the test run's one real gateway (npm ``openclaw@2026.9.6``, loopback).  Booting it costs
~15-20 CPU-seconds, so every test that needs a live real gateway lives here and shares it (``--dist loadfile``
keeps a module on one worker).  The gateway boots as a fresh one does, loopback auto-approval on, because the
live frame diff runs first and compares a gateway just as it became ready; it switches auto-approval off once
(hot reload, before anything restarts the gateway), and every later test starts from that remote pairing flow
(``openclaw`` fixture: gateway running, auto-approval off) with devices of its own.

* ``test_embedded_frames_match_a_live_real_gateway``: the frame diff of ``test_gateway_frame_diff.py`` (which
  compares the embedded gateway with the recorded fixture) run against this live gateway.  It runs first: a
  hot reload after the restart below once never took effect within 300 s.

* ``test_clawnode_and_clawops_through_a_real_gateway``: the engine's operator link
  (``openclaw_gateway_url``) is how ClawOps sees the nodes behind it.  Proves: pairing (device, then
  command surface), invokes, health arriving in ClawOps's store, config apply / rollback with truthful
  results, a 50 MB archive read in bounded pieces byte for byte, and the node and the link reconnecting
  after the gateway restarts (the reconnect *time* is measured in ``bench/bench_node.py``, not asserted
  here).
* ``test_clawnode_pairs_and_is_invoked_by_a_real_gateway``: ``peer_scenario.py``'s scenario, the one
  ``test_node_peers.py`` runs against the embedded gateway.

The operator's approvals and invokes go over the operator connection the ``openclaw`` CLI itself makes
on loopback (``OpenClaw.call``), not through a Node process per call.

Skipped, with the reason, when the gateway cannot be installed from npm (no ``npm``, no registry).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from engine.gateway import OpenClawOperatorLink
from engine.nodes import BootstrapOptions, GatewayNodeCommands, NodeCommandFailed, start_node_gateway
from engine.runtime import Engine
from engine.store import HealthReportRecord
from node.client import NodeClient
from node.commands import COMMANDS
from node.system import ProcSystem, SimulatedSystem, is_gateway_cmdline
from tests.node.clawnode_openclaw import TOKEN, OpenClaw, OpenClawUnavailable, running_openclaw
from tests.node.clawnode_testkit import node_config, until
from tests.node.openclaw_frames import ALL_CASES, comparable, diff, embedded_recording
from tests.node.peer_scenario import OpenClawPeer, pairs_and_is_invoked
from tests.node.record_openclaw_frames import record_all

pytestmark = [pytest.mark.openclaw, pytest.mark.slow]

ARCHIVE_BYTES = 50 * 1024 * 1024
INSTANCE, ACCOUNT = "i-acct-001-p", "acct-001"
AUTO_APPROVE_LOCAL = "gateway.nodes.pairing.autoApproveLocal"


@pytest.fixture(scope="module")
def real_gateway() -> Iterator[OpenClaw]:
    # Our commands must be on the gateway's allowlist (custom commands are dropped otherwise).  Loopback
    # auto-approval keeps its default (on) for the frame diff, which switches it off.  The browser Control UI is
    # off: nothing here uses it, and preparing its assets is ~2.5 CPU-s of every boot.
    config = {"gateway": {"nodes": {"commands": {"allow": sorted(COMMANDS)}}, "controlUi": {"enabled": False}}}
    try:
        with running_openclaw(config) as oc:
            yield oc
    except OpenClawUnavailable as exc:
        pytest.skip(f"no real OpenClaw gateway here: {exc}")


@pytest.fixture
def openclaw(real_gateway: OpenClaw) -> OpenClaw:
    """The module's gateway, running, whatever the test before did to it (one restarts it), with loopback
    auto-approval off, so pairing goes the way it does for a VPS: request, operator approves.  The frame diff
    has already switched it off in a whole run; this switches it only when that test did not run first."""
    if real_gateway.proc is None or real_gateway.proc.poll() is not None:
        real_gateway.stop()
        real_gateway.start()
    real_gateway.set_config(AUTO_APPROVE_LOCAL, False)
    return real_gateway


def archive_data(seed: str) -> bytes:
    return random.Random(seed).randbytes(ARCHIVE_BYTES)


class ArchivingSystem(SimulatedSystem):
    """A simulated VPS whose export is 50 MB of incompressible bytes (what a tar.gz looks like)."""

    async def archive_chunks(self, chunk_size: int) -> AsyncIterator[bytes]:
        data = archive_data(self.hostname)
        for i in range(0, len(data), chunk_size):
            yield data[i : i + chunk_size]
            await asyncio.sleep(0)


async def _approve_surface(oc: OpenClaw, node_id: str) -> None:
    async with asyncio.timeout(60):
        while True:
            mine = [p for p in await oc.pending_nodes() if p.get("nodeId") == node_id]
            if mine:
                assert set(mine[0]["commands"]) == set(COMMANDS)  # every allowlisted command reached it
                await oc.approve_node(mine[0]["requestId"])
                return
            await asyncio.sleep(0.5)


async def test_embedded_frames_match_a_live_real_gateway(
    real_gateway: OpenClaw, capsys: pytest.CaptureFixture[str]
) -> None:
    """First in the module: the cases are recorded from a gateway that has just become ready, auto-approval on."""
    assert real_gateway.config_value(AUTO_APPROVE_LOCAL) is not False, "the frame diff must run on a fresh gateway"
    live = await record_all(real_gateway)  # switches loopback auto-approval off and leaves it off
    failures: dict[str, list[str]] = {}
    for name in ALL_CASES:
        found = diff(comparable(name, live[name]), comparable(name, await embedded_recording(name)))
        if found:
            failures[name] = found
    with capsys.disabled():
        print(f"\nframe-diff against live openclaw: {len(ALL_CASES) - len(failures)}/{len(ALL_CASES)} cases match")
    assert failures == {}


async def test_clawnode_and_clawops_through_a_real_gateway(
    openclaw: OpenClaw, clawops_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAWOPS_OPENCLAW_GATEWAY_URL", openclaw.url + "/")
    monkeypatch.setenv("CLAWOPS_OPENCLAW_GATEWAY_TOKEN", TOKEN)
    engine = Engine.open(demo_pairs=20, demo_providers="sim")
    gateway = await start_node_gateway(engine, port=0)  # the embedded gateway, and the operator link beside it
    link = gateway.upstream
    assert isinstance(link, OpenClawOperatorLink)
    system = ArchivingSystem(hostname="vps-acct-001-p")
    client = NodeClient(
        node_config(
            openclaw.url + "/",
            "vps-acct-001-p",
            token=TOKEN,
            account_id=ACCOUNT,
            instance_id=INSTANCE,
            state_path=str(clawops_home / "node-state.json"),
            spool_dir=str(clawops_home / "spool"),
            health_interval_s=0.5,
        ),
        system=system,
        backoff_initial_s=0.1,
        backoff_max_s=1.0,
        settle_s=0,
    )
    task = asyncio.create_task(client.run())
    try:
        # --- the operator link pairs like any operator device (remote flow: one approval) ----------------
        async with asyncio.timeout(60):
            while not link.connected.is_set():
                if link.last_error is not None and link.last_error.details.get("requestId"):
                    await openclaw.approve_device(str(link.last_error.details["requestId"]))
                    link.last_error = None
                await asyncio.sleep(0.1)

        # --- pairing: PAIRING_REQUIRED -> device approved -> hello-ok with a device token -> surface --------
        await until(lambda: client.last_error is not None and client.last_error.code == "NOT_PAIRED", timeout=60)
        assert client.last_error is not None and client.last_error.detail_code == "PAIRING_REQUIRED"
        await openclaw.approve_device(str(client.last_error.details["requestId"]))
        await client.wait_connected(60)
        assert client.hello is not None and client.hello["protocol"] == 4
        assert client.identity.device_token and len(client.identity.device_token) == 43
        await _approve_surface(openclaw, client.device_id)

        # --- health arrives in ClawOps: pulled through the link into health_reports -------------------------
        def stored() -> HealthReportRecord | None:
            with engine.store.session() as s:
                return s.get(HealthReportRecord, INSTANCE)

        await until(lambda: stored() is not None, timeout=60)
        record = stored()
        assert record is not None and record.payload["nodeId"] == client.device_id
        # The node learned that this gateway does not take clawops.health events, and sends node.host.stats,
        # which the gateway keeps and broadcasts to operators.
        await until(
            lambda: client.stats.health_events_unsupported >= 1 and client.stats.host_stats_sent >= 1, timeout=30
        )
        await until(
            lambda: (
                link.nodes.get(client.device_id) is not None and link.nodes[client.device_id].host_stats is not None
            ),
            timeout=30,
        )
        host_stats = link.nodes[client.device_id].host_stats
        assert host_stats is not None and host_stats["memoryTotalBytes"] == system.mem_total_bytes

        # --- the real gateway process is recognised under the name it gives itself -------------------------
        found = ProcSystem().gateway_pid()
        assert found is not None
        proc = Path("/proc", str(found))
        assert (proc / "cmdline").read_bytes().startswith(b"openclaw-gateway")  # 2026.9 renames itself
        assert is_gateway_cmdline((proc / "cmdline").read_bytes(), (proc / "comm").read_bytes())

        # --- invokes through the real gateway, as job steps make them ------------------------------------
        nodes = GatewayNodeCommands(engine.store, BootstrapOptions(gateway_url=gateway.url, connect_wait_s=1))
        nodes.attach(gateway)
        nodes.attach_upstream(link)
        health = await nodes.invoke(INSTANCE, "clawops.health", {})
        assert health["ok"] and health["nodeId"] == client.device_id and health["healthy"] is True, health

        # --- config apply / rollback, truthful ------------------------------------------------------------
        first = await nodes.invoke(INSTANCE, "clawops.config_apply", {"config": {"a": 1}})
        assert first["applied"] is True and first["previousSha256"] is None  # there was no config before
        second = await nodes.invoke(INSTANCE, "clawops.config_apply", {"config": {"a": 2}})
        assert second["applied"] is True and second["previousSha256"] == first["sha256"]
        back = await nodes.invoke(INSTANCE, "clawops.config_apply", {"rollback": True})
        assert back["rolledBack"] is True and back["sha256"] == first["sha256"]
        assert json.loads(system.config_text or "") == {"a": 1}
        system.trust_current_config()
        system.config_apply_breaks_gateway = True  # the next config keeps the gateway down
        with pytest.raises(
            NodeCommandFailed, match="CONFIG_ROLLED_BACK.*previous config was restored and the gateway is running again"
        ):
            await nodes.invoke(INSTANCE, "clawops.config_apply", {"config": {"a": 3}})
        assert json.loads(system.config_text or "") == {"a": 1} and system.gateway_pid() is not None

        # --- a 50 MB archive, read in bounded pieces, byte for byte ---------------------------------------
        archive = await nodes.invoke(INSTANCE, "clawops.archive", {"account_id": ACCOUNT})
        data = base64.b64decode(archive["data"])
        expected = archive_data(system.hostname)
        assert len(data) == ARCHIVE_BYTES and data == expected
        assert archive["sha256"] == hashlib.sha256(expected).hexdigest() and archive["pieces"] >= 10
        assert not list((clawops_home / "spool").iterdir())  # the node's copy is gone once read

        # --- the gateway restarts: node and link come back by themselves ----------------------------------
        connects, link_connects = client.stats.connects, link.stats.connects
        await asyncio.to_thread(openclaw.stop)
        await asyncio.to_thread(openclaw.start)
        await until(lambda: client.stats.connects > connects and client.connected.is_set(), timeout=60)
        await until(lambda: link.stats.connects > link_connects and link.connected.is_set(), timeout=60)
        assert client.hello is not None and client.hello["auth"]["method"] == "device-token"
        async with asyncio.timeout(60):
            while True:  # the gateway re-checks the node's pairing for a moment after it is back
                try:
                    health = await nodes.invoke(INSTANCE, "clawops.health", {})
                    break
                except Exception:
                    await asyncio.sleep(0.5)
        assert health["healthy"] is True
    finally:
        await client.stop()
        await asyncio.wait_for(task, 15)
        await gateway.stop()
        engine.close()


async def test_clawnode_pairs_and_is_invoked_by_a_real_gateway(openclaw: OpenClaw, tmp_path: Path) -> None:
    await pairs_and_is_invoked(OpenClawPeer(openclaw), tmp_path)
