"""clawnode against the embedded gateway and against scripted gateways (one per error code)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from engine.gateway import DeviceRegistry, NodeGateway
from node.client import NodeClient
from node.errors import FatalConnectError
from node.identity import DeviceIdentity, load_public_key, verify_signature
from node.protocol import build_device_auth_payload
from node.system import SimulatedSystem
from tests.node.clawnode_testkit import SHARED_TOKEN, Reports, node_config, until


class RecordingClient(NodeClient):
    """A client whose waits are recorded and shortened, so backoff logic is checked without timing."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.sleeps: list[float] = []

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await super()._sleep(min(seconds, 0.01))


def _client(url: str, tmp_path: Path | None = None, cls: type[NodeClient] = NodeClient, **cfg: Any) -> NodeClient:
    state = str(tmp_path / "state.json") if tmp_path is not None else None
    kw = {k: cfg.pop(k) for k in ("rng", "signature_version") if k in cfg}
    return cls(
        node_config(url, state_path=state, **cfg),
        system=SimulatedSystem(),
        backoff_initial_s=0.02,
        backoff_max_s=0.1,
        settle_s=0,
        **kw,
    )


async def _run(client: NodeClient) -> asyncio.Task[None]:
    return asyncio.create_task(client.run())


async def _stop(client: NodeClient, task: asyncio.Task[None]) -> None:
    await client.stop()
    await asyncio.wait_for(task, 10)


# --- embedded gateway -------------------------------------------------------------------------------


async def test_pairing_needs_operator_approval_then_device_token_is_reused(tmp_path: Path, reports: Reports) -> None:
    gw = NodeGateway("127.0.0.1", 0, SHARED_TOKEN, on_health_report=reports.add)  # no auto-approval
    await gw.start()
    try:
        client = _client(gw.url, tmp_path)
        task = await _run(client)
        await until(lambda: len(gw.pending_pairings()) == 1)
        req = gw.pending_pairings()[0]
        assert req.device_id == client.device_id
        await until(lambda: client.stats.refusals.get("PAIRING_REQUIRED", 0) >= 2)  # keeps waiting politely
        assert not client.connected.is_set()
        gw.approve(req.request_id, account_id="acct-001", instance_id="inst-001")
        await client.wait_connected(10)
        assert client.hello is not None and client.hello["auth"]["method"] == "token"
        await reports.wait_for(lambda items: any(r.node_id == client.device_id for r in items))
        assert reports.items[-1].instance_id == "inst-001"
        await _stop(client, task)

        state = tmp_path / "state.json"
        assert stat.S_IMODE(os.stat(state).st_mode) == 0o600
        saved = json.loads(state.read_text())
        assert saved["deviceId"] == client.device_id and len(saved["deviceToken"]) == 43

        again = _client(gw.url, tmp_path)  # same state file: a node restart
        assert again.device_id == client.device_id
        task = await _run(again)
        await again.wait_connected(10)
        assert again.hello is not None and again.hello["auth"]["method"] == "device-token"
        await _stop(again, task)
    finally:
        await gw.stop()


async def test_bootstrap_token_pairs_once_and_binds_the_account(gateway: NodeGateway, reports: Reports) -> None:
    token = gateway.issue_bootstrap_token("inst-42", "acct-042")
    client = _client(gateway.url, token=None, bootstrap_token=token, account_id="acct-042")
    task = await _run(client)
    await client.wait_connected(10)
    assert client.hello is not None and client.hello["auth"]["method"] == "bootstrap-token"
    [node] = [n for n in gateway.connected_nodes() if n.node_id == client.device_id]
    assert (node.account_id, node.instance_id) == ("acct-042", "inst-42")
    await reports.wait_for(lambda items: any(r.instance_id == "inst-42" for r in items))

    thief = _client(gateway.url, token=None, bootstrap_token=token, hostname="thief")
    with pytest.raises(FatalConnectError, match="bootstrap token"):
        await asyncio.wait_for(thief.run(), 10)
    await _stop(client, task)


async def test_wrong_shared_token_stops_with_a_clear_error(gateway: NodeGateway) -> None:
    client = _client(gateway.url, token="not-the-token")
    with pytest.raises(FatalConnectError, match="shared token") as err:
        await asyncio.wait_for(client.run(), 10)
    assert err.value.code == "AUTH_TOKEN_MISMATCH"


async def test_revoked_device_token_falls_back_to_shared_token(gateway: NodeGateway, tmp_path: Path) -> None:
    client = _client(gateway.url, tmp_path)
    task = await _run(client)
    await client.wait_connected(10)
    client.connected.clear()
    await gateway.revoke(client.device_id)
    await client.wait_connected(10)  # re-paired (auto-approved) with the shared token
    assert client.stats.refusals.get("AUTH_DEVICE_TOKEN_MISMATCH") == 1
    assert client.hello is not None and client.hello["auth"]["method"] == "token"
    assert client.identity.device_token is not None
    await _stop(client, task)


async def test_reconnects_after_gateway_restart_and_republishes_tools(reports: Reports) -> None:
    registry = DeviceRegistry()

    async def yes(_: Any) -> bool:
        return True

    gw = NodeGateway("127.0.0.1", 0, SHARED_TOKEN, registry=registry, approve_pairing=yes, on_health_report=reports.add)
    await gw.start()
    port = gw.port
    client = _client(gw.url)
    task = await _run(client)
    await client.wait_connected(10)
    await until(lambda: any(n.tools for n in gw.connected_nodes()))
    client.connected.clear()
    await gw.stop(restart_expected_ms=10)
    gw2 = NodeGateway("127.0.0.1", port, SHARED_TOKEN, registry=registry, on_health_report=reports.add)
    await gw2.start()
    try:
        await client.wait_connected(10)
        assert client.hello is not None and client.hello["auth"]["method"] == "device-token"
        await until(lambda: any(n.tools for n in gw2.connected_nodes()))
        [node] = gw2.connected_nodes()
        names = set(node.tools)
        assert names == {
            "clawops_health",
            "clawops_diagnose",
            "clawops_restart_gateway",
            "clawops_restart_docker",
            "clawops_config_apply",
            "clawops_archive",
        }
        assert client.stats.connects == 2
    finally:
        await _stop(client, task)
        await gw2.stop()


# --- scripted gateways --------------------------------------------------------------------------------

Script = Callable[[ServerConnection, dict[str, Any], int], Awaitable[None]]


class Scripted:
    """A tiny gateway that answers each connect by a test-supplied script (attempt number given)."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.attempts: list[dict[str, Any]] = []
        self.close_codes: list[int | None] = []

    async def handler(self, ws: ServerConnection) -> None:
        await ws.send(
            json.dumps(
                {
                    "type": "event",
                    "event": "connect.challenge",
                    "payload": {"nonce": f"n-{len(self.attempts)}", "ts": 1_795_512_134_799},
                }
            )
        )
        req = json.loads(await ws.recv())
        self.attempts.append(req)
        try:
            await self.script(ws, req, len(self.attempts))
            async for _ in ws:
                pass
        finally:
            self.close_codes.append(ws.close_code)


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[Script], Awaitable[tuple[Scripted, str]]]]:
    servers: list[Any] = []

    async def make(script: Script) -> tuple[Scripted, str]:
        s = Scripted(script)
        server = await serve(s.handler, "127.0.0.1", 0, compression=None)
        servers.append(server)
        port = next(iter(server.sockets)).getsockname()[1]
        return s, f"ws://127.0.0.1:{port}/"

    yield make
    for server in servers:
        server.close()
        await server.wait_closed()


def _err(req: dict[str, Any], code: str, detail: str | None = None, **extra: Any) -> str:
    details: dict[str, Any] = {"code": detail} if detail else {}
    error: dict[str, Any] = {"code": code, "message": "x", "details": details}
    for key in ("retryAfterMs",):
        if key in extra:
            error[key] = extra.pop(key)
    details.update(extra)
    return json.dumps({"type": "res", "id": req["id"], "ok": False, "error": error})


def _hello(req: dict[str, Any], tick_ms: int = 30_000) -> str:
    return json.dumps(
        {
            "type": "res",
            "id": req["id"],
            "ok": True,
            "payload": {
                "type": "hello-ok",
                "protocol": 4,
                "auth": {"method": "token", "role": "node", "scopes": []},
                "policy": {"tickIntervalMs": tick_ms, "maxPayload": 1 << 20},
            },
        }
    )


async def test_unavailable_honours_retry_after(scripted: Any) -> None:
    async def script(ws: ServerConnection, req: dict[str, Any], n: int) -> None:
        if n == 1:
            await ws.send(_err(req, "UNAVAILABLE", "startup-sidecars", retryAfterMs=4321))
            await ws.close(1013)
        else:
            await ws.send(_hello(req))

    server, url = await scripted(script)
    client = _client(url, cls=RecordingClient)
    task = await _run(client)
    await client.wait_connected(10)
    assert isinstance(client, RecordingClient) and client.sleeps[0] == pytest.approx(4.321)
    await _stop(client, task)


async def test_protocol_mismatch_is_fatal(scripted: Any) -> None:
    async def script(ws: ServerConnection, req: dict[str, Any], n: int) -> None:
        await ws.send(_err(req, "INVALID_REQUEST", "PROTOCOL_MISMATCH", expectedProtocol=5))
        await ws.close(1002)

    server, url = await scripted(script)
    with pytest.raises(FatalConnectError, match="protocol"):
        await asyncio.wait_for(_client(url).run(), 10)
    assert len(server.attempts) == 1


async def test_v3_rejection_falls_back_to_v2_signature(scripted: Any) -> None:
    async def script(ws: ServerConnection, req: dict[str, Any], n: int) -> None:
        if n == 1:
            await ws.send(_err(req, "INVALID_REQUEST", "DEVICE_AUTH_SIGNATURE_INVALID"))
            await ws.close(1008)
        else:
            await ws.send(_hello(req))

    server, url = await scripted(script)
    client = _client(url)
    task = await _run(client)
    await client.wait_connected(10)
    versions = []
    for req in server.attempts:
        p, dev = req["params"], req["params"]["device"]
        key = load_public_key(dev["publicKey"])
        for version in ("v3", "v2"):
            payload = build_device_auth_payload(
                version,
                device_id=dev["id"],
                client_id="node-host",
                client_mode="node",
                role="node",
                scopes=[],
                signed_at_ms=dev["signedAt"],
                token=p["auth"]["token"],
                nonce=dev["nonce"],
                platform="linux",
            )
            if verify_signature(key, payload, dev["signature"]):
                versions.append(version)
    assert versions == ["v3", "v2"]
    # signedAt is the challenge ts, as the reference says
    assert {r["params"]["device"]["signedAt"] for r in server.attempts} == {1_795_512_134_799}
    await _stop(client, task)


async def test_pairing_required_waits_with_capped_jittered_backoff(scripted: Any) -> None:
    async def script(ws: ServerConnection, req: dict[str, Any], n: int) -> None:
        if n < 8:
            await ws.send(_err(req, "NOT_PAIRED", "PAIRING_REQUIRED", requestId="r-1"))
            await ws.close(1008)
        else:
            await ws.send(_hello(req))

    server, url = await scripted(script)
    client = _client(url, cls=RecordingClient, rng=random.Random(7))
    client.backoff_initial_s, client.backoff_max_s = 1.0, 30.0
    task = await _run(client)
    await client.wait_connected(10)
    assert isinstance(client, RecordingClient)
    delays = client.sleeps[:7]
    for attempt, delay in enumerate(delays, start=1):
        base = min(30.0, 2.0**attempt)
        assert base / 2 <= delay <= base
    assert len(set(delays)) == len(delays)  # jittered
    assert len(server.attempts) == 8
    await _stop(client, task)


async def test_dead_link_closes_4000_and_reconnects(scripted: Any) -> None:
    async def script(ws: ServerConnection, req: dict[str, Any], n: int) -> None:
        await ws.send(_hello(req, tick_ms=100))  # then silence: no ticks at all

    server, url = await scripted(script)
    client = _client(url, health_interval_s=3600)
    task = await _run(client)
    await until(lambda: len(server.attempts) >= 2)
    await until(lambda: 4000 in server.close_codes)
    assert client.stats.dead_links >= 1
    await _stop(client, task)


async def test_flapping_network_reconnects(gateway: NodeGateway) -> None:
    system = SimulatedSystem(network_flap_period_s=0.4)
    client = NodeClient(
        node_config(gateway.url, "flappy"),
        system=system,
        backoff_initial_s=0.02,
        backoff_max_s=0.05,
        settle_s=0,
        watch_interval_s=0.02,
    )
    task = await _run(client)
    await until(lambda: client.stats.connects >= 3, timeout=20)
    assert client.stats.dead_links >= 2
    await _stop(client, task)


async def test_identity_cli_prints_id_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from node.cli import main

    state = tmp_path / "s.json"
    assert main(["identity", "--state", str(state), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ident = DeviceIdentity.load_or_create(state)
    assert out == {"deviceId": ident.device_id, "publicKey": ident.public_key_b64url, "paired": False}
    cfg = tmp_path / "c.json"
    cfg.write_text(
        json.dumps({"gateway": "ws://127.0.0.1:1/", "token": "t", "hostname": "h", "state_path": str(state)})
    )
    assert main(["identity", "--config", str(cfg)]) == 0
    assert ident.device_id in capsys.readouterr().out
    cfg.write_text(json.dumps({"gateway": "http://nope", "token": "t"}))
    assert main(["run", "--config", str(cfg)]) == 78
    assert "ws://" in capsys.readouterr().err


async def test_rejected_device_token_without_fallback_keeps_retrying(tmp_path: Path) -> None:
    """A bootstrap-only node whose gateway forgot it (registry lost) must not exit and go unmanaged."""
    gw = NodeGateway("127.0.0.1", 0, SHARED_TOKEN)
    await gw.start()
    try:
        token = gw.issue_bootstrap_token("inst-5", "acct-005")
        client = _client(gw.url, tmp_path, cls=RecordingClient, token=None, bootstrap_token=token)
        task = await _run(client)
        await client.wait_connected(10)
        device_token = client.identity.device_token
        client.connected.clear()
        await gw.revoke(client.device_id)
        await until(lambda: client.stats.refusals.get("AUTH_DEVICE_TOKEN_MISMATCH", 0) >= 2)
        assert not task.done()  # still trying, not crashed out
        assert client.identity.device_token == device_token  # kept for a gateway that comes back
        assert isinstance(client, RecordingClient) and client.backoff_max_s in client.sleeps
        await _stop(client, task)
    finally:
        await gw.stop()


async def test_backoff_starts_over_after_every_session(scripted: Any) -> None:
    async def script(ws: ServerConnection, req: dict[str, Any], n: int) -> None:
        await ws.send(_hello(req))
        await ws.close(1012)  # gateway restarting, again and again

    server, url = await scripted(script)
    client = _client(url, cls=RecordingClient, health_interval_s=3600)
    client.backoff_initial_s, client.backoff_max_s = 1.0, 30.0
    task = await _run(client)
    await until(lambda: len(server.attempts) >= 6)
    assert isinstance(client, RecordingClient)
    assert all(0.5 <= d <= 1.0 for d in client.sleeps[:5])  # never escalates while sessions succeed
    await _stop(client, task)


async def test_a_restarting_gateway_is_retried_within_the_restart_cap(scripted: Any) -> None:
    """After a session ended, retries stay ≤ restart_cap_s (2 s) however many fail: a restarted gateway is
    reached within about 2 s of accepting again.  Without a session first, the backoff grows to its maximum."""

    async def script(ws: ServerConnection, req: dict[str, Any], n: int) -> None:
        if n == 1:
            await ws.send(_hello(req))
            await ws.close(1012)  # the gateway restarts ...
        elif n < 10:
            await ws.send(_err(req, "UNAVAILABLE", "startup-sidecars"))  # ... and is not back for a while
            await ws.close(1013)
        else:
            await ws.send(_hello(req))

    server, url = await scripted(script)
    client = _client(url, cls=RecordingClient, health_interval_s=3600)
    assert client.restart_cap_s == 2.0  # the production default
    client.backoff_initial_s, client.backoff_max_s = 0.5, 30.0  # production backoff (waits are recorded, not slept)
    task = await _run(client)
    await until(lambda: len(server.attempts) >= 10)
    assert isinstance(client, RecordingClient)
    assert len(client.sleeps) >= 9 and max(client.sleeps[:9]) <= 2.0
    assert client.sleeps[0] < 1.0  # the first retry comes in under a second
    await _stop(client, task)

    fresh = _client(url, cls=RecordingClient)
    fresh.backoff_initial_s, fresh.backoff_max_s = 0.5, 30.0
    assert max(fresh._backoff(a) for a in range(8, 12)) > 2.0  # no lost session: the usual growth to 30 s
