"""The attack table: every bad handshake or frame is refused with the reference's codes, counted,
and the gateway keeps serving a well-behaved node connected alongside."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from engine.gateway import CommandNotAllowed, NodeGateway
from node.identity import DeviceIdentity
from node.protocol import b64url_encode
from node.sim import SimulatedFleet
from tests.node.clawnode_testkit import SHARED_TOKEN, RawPeer, node_config, signed_connect, until

Attack = Callable[[NodeGateway, RawPeer], Awaitable[dict[str, Any] | None]]


def _now() -> int:
    return int(time.time() * 1000)


async def replayed_connect(gw: NodeGateway, peer: RawPeer) -> dict[str, Any]:
    """A connect captured from one connection and replayed on another (its nonce is stale)."""
    ident = DeviceIdentity.generate()
    first = await RawPeer.open(gw.url)
    captured = signed_connect(ident, first.nonce, first.ts, {"token": SHARED_TOKEN})
    assert (await first.request("connect", captured))["ok"] is True
    await first.ws.close()
    return await peer.request("connect", captured)


async def wrong_nonce(gw: NodeGateway, peer: RawPeer) -> dict[str, Any]:
    return await peer.request(
        "connect", signed_connect(DeviceIdentity.generate(), str(uuid.uuid4()), peer.ts, {"token": SHARED_TOKEN})
    )


async def bad_signature(gw: NodeGateway, peer: RawPeer) -> dict[str, Any]:
    params = signed_connect(DeviceIdentity.generate(), peer.nonce, peer.ts, {"token": SHARED_TOKEN})
    params["device"]["signature"] = b64url_encode(bytes(64))
    return await peer.request("connect", params)


async def signed_for_other_token(gw: NodeGateway, peer: RawPeer) -> dict[str, Any]:
    """Signature valid over a different token than the one presented."""
    params = signed_connect(DeviceIdentity.generate(), peer.nonce, peer.ts, {"token": "something-else"})
    params["auth"] = {"token": SHARED_TOKEN}
    return await peer.request("connect", params)


async def device_id_mismatch(gw: NodeGateway, peer: RawPeer) -> dict[str, Any]:
    victim = DeviceIdentity.generate()
    params = signed_connect(DeviceIdentity.generate(), peer.nonce, peer.ts, {"token": SHARED_TOKEN})
    params["device"]["id"] = victim.device_id
    return await peer.request("connect", params)


async def stale_signed_at(gw: NodeGateway, peer: RawPeer) -> dict[str, Any]:
    return await peer.request(
        "connect", signed_connect(DeviceIdentity.generate(), peer.nonce, _now() - 121_000, {"token": SHARED_TOKEN})
    )


async def future_signed_at(gw: NodeGateway, peer: RawPeer) -> dict[str, Any]:
    return await peer.request(
        "connect", signed_connect(DeviceIdentity.generate(), peer.nonce, _now() + 121_000, {"token": SHARED_TOKEN})
    )


async def unknown_protocol(gw: NodeGateway, peer: RawPeer) -> dict[str, Any]:
    return await peer.request(
        "connect",
        signed_connect(
            DeviceIdentity.generate(), peer.nonce, peer.ts, {"token": SHARED_TOKEN}, min_protocol=1, max_protocol=2
        ),
    )


async def wrong_shared_token(gw: NodeGateway, peer: RawPeer) -> dict[str, Any]:
    return await peer.request(
        "connect", signed_connect(DeviceIdentity.generate(), peer.nonce, peer.ts, {"token": "guessed"})
    )


async def no_device(gw: NodeGateway, peer: RawPeer) -> dict[str, Any]:
    params = signed_connect(DeviceIdentity.generate(), peer.nonce, peer.ts, {"token": SHARED_TOKEN})
    del params["device"]
    return await peer.request("connect", params)


async def unknown_connect_field(gw: NodeGateway, peer: RawPeer) -> dict[str, Any]:
    params = signed_connect(DeviceIdentity.generate(), peer.nonce, peer.ts, {"token": SHARED_TOKEN})
    params["mesh"] = {"ip": "10.0.0.1"}
    return await peer.request("connect", params)


async def reused_bootstrap_token(gw: NodeGateway, peer: RawPeer) -> dict[str, Any]:
    token = gw.issue_bootstrap_token("inst-9", "acct-009")
    first = await RawPeer.open(gw.url)
    assert (
        await first.request(
            "connect", signed_connect(DeviceIdentity.generate(), first.nonce, first.ts, {"bootstrapToken": token})
        )
    )["ok"] is True
    await first.ws.close()
    return await peer.request(
        "connect", signed_connect(DeviceIdentity.generate(), peer.nonce, peer.ts, {"bootstrapToken": token})
    )


async def forged_device_token(gw: NodeGateway, peer: RawPeer) -> dict[str, Any]:
    return await peer.request(
        "connect", signed_connect(DeviceIdentity.generate(), peer.nonce, peer.ts, {"deviceToken": "A" * 43})
    )


async def oversized_preauth(gw: NodeGateway, peer: RawPeer) -> None:
    await peer.send("x" * (64 * 1024 + 1))
    return None


async def malformed_json(gw: NodeGateway, peer: RawPeer) -> None:
    await peer.send('{"type":"req","id":"1","method":"connect","params":')
    return None


async def first_frame_not_connect(gw: NodeGateway, peer: RawPeer) -> dict[str, Any]:
    return await peer.request("node.event", {"event": "clawops.health", "payload": {}})


# name, attack, expected error.code, expected details.code, expected close code; the refusal counter is the
# details.code, or for the refusals OpenClaw answers without one (frame-diff fixtures) the name in COUNTED_AS.
ATTACKS: list[tuple[str, Attack, str | None, str | None, int]] = [
    ("replayed connect", replayed_connect, "INVALID_REQUEST", "DEVICE_AUTH_NONCE_MISMATCH", 1008),
    ("wrong nonce", wrong_nonce, "INVALID_REQUEST", "DEVICE_AUTH_NONCE_MISMATCH", 1008),
    ("bad signature", bad_signature, "INVALID_REQUEST", "DEVICE_AUTH_SIGNATURE_INVALID", 1008),
    ("signature over another token", signed_for_other_token, "INVALID_REQUEST", "DEVICE_AUTH_SIGNATURE_INVALID", 1008),
    ("device id not sha256(key)", device_id_mismatch, "INVALID_REQUEST", "DEVICE_AUTH_DEVICE_ID_MISMATCH", 1008),
    ("stale signedAt", stale_signed_at, "INVALID_REQUEST", "DEVICE_AUTH_SIGNATURE_EXPIRED", 1008),
    ("future signedAt", future_signed_at, "INVALID_REQUEST", "DEVICE_AUTH_SIGNATURE_EXPIRED", 1008),
    ("unknown protocol version", unknown_protocol, "INVALID_REQUEST", "PROTOCOL_MISMATCH", 1002),
    ("wrong shared token", wrong_shared_token, "INVALID_REQUEST", "AUTH_TOKEN_MISMATCH", 1008),
    ("node without device", no_device, "NOT_PAIRED", "DEVICE_IDENTITY_REQUIRED", 1008),
    ("unknown connect field", unknown_connect_field, "INVALID_REQUEST", None, 1008),
    ("bootstrap token used twice", reused_bootstrap_token, "INVALID_REQUEST", "AUTH_BOOTSTRAP_TOKEN_INVALID", 1008),
    ("forged device token", forged_device_token, "INVALID_REQUEST", "AUTH_DEVICE_TOKEN_MISMATCH", 1008),
    ("oversized frame before auth", oversized_preauth, None, None, 1009),
    ("malformed JSON", malformed_json, None, None, 1000),  # OpenClaw: no answer, a normal close
    ("first frame is not connect", first_frame_not_connect, "INVALID_REQUEST", None, 1008),
]
COUNTED_AS = {
    "unknown connect field": "INVALID_PARAMS",
    "malformed JSON": "INVALID_FRAME",
    "first frame is not connect": "INVALID_FRAME",
    "oversized frame before auth": "FRAME_TOO_LARGE",
}


@pytest.fixture
async def bystander(gateway: NodeGateway) -> Any:
    fleet = SimulatedFleet(backoff_initial_s=0.05, backoff_max_s=0.2)
    node = fleet.boot(node_config(gateway.url, "bystander"))
    await node.client.wait_connected(10)
    yield node
    await fleet.shutdown_all()


@pytest.mark.parametrize(("name", "attack", "code", "detail", "close"), ATTACKS, ids=[a[0] for a in ATTACKS])
async def test_attack_is_refused(
    gateway: NodeGateway, bystander: Any, name: str, attack: Attack, code: str | None, detail: str | None, close: int
) -> None:
    before = sum(gateway.stats.refusals.values())
    peer = await RawPeer.open(gateway.url)
    res = await attack(gateway, peer)
    if code is not None:
        assert res is not None and res["ok"] is False
        assert res["error"]["code"] == code
        assert res["error"].get("details", {}).get("code") == detail
    assert await peer.close_code() == close
    # Logged and counted ...
    await until(lambda: sum(gateway.stats.refusals.values()) == before + 1)
    assert gateway.stats.refusals[COUNTED_AS.get(name) or detail or ""] >= 1
    # ... and the other node is still served.
    result = await gateway.invoke(bystander.device_id, "clawops.health", timeout_s=10)
    assert result.ok and result.payload["hostname"] == "bystander"


async def test_protocol_mismatch_details(gateway: NodeGateway) -> None:
    peer = await RawPeer.open(gateway.url)
    res = await unknown_protocol(gateway, peer)
    assert res["error"]["details"]["expectedProtocol"] == 4
    assert res["error"]["details"]["minimumProbeProtocol"] == 3


async def test_token_mismatch_offers_the_device_token_as_openclaw_does(gateway: NodeGateway) -> None:
    """OpenClaw 2026.9 offers the device-token retry to every device-bound client (recorded frames)."""
    ident = DeviceIdentity.generate()
    peer = await RawPeer.open(gateway.url)
    assert (await peer.request("connect", signed_connect(ident, peer.nonce, peer.ts, {"token": SHARED_TOKEN})))["ok"]
    await peer.ws.close()
    peer = await RawPeer.open(gateway.url)
    res = await peer.request("connect", signed_connect(ident, peer.nonce, peer.ts, {"token": "wrong"}))
    assert res["error"]["details"]["canRetryWithDeviceToken"] is True
    assert res["error"]["details"]["recommendedNextStep"] == "retry_with_device_token"
    assert res["error"]["details"]["authReason"] == "token_mismatch"
    peer = await RawPeer.open(gateway.url)
    res = await wrong_shared_token(gateway, peer)
    assert res["error"]["details"]["canRetryWithDeviceToken"] is True


async def _authed_peer(gateway: NodeGateway, **kw: Any) -> tuple[RawPeer, DeviceIdentity, dict[str, Any]]:
    ident = DeviceIdentity.generate()
    peer = await RawPeer.open(gateway.url)
    res = await peer.request(
        "connect", signed_connect(ident, peer.nonce, peer.ts, kw.pop("auth", {"token": SHARED_TOKEN}), **kw)
    )
    assert res["ok"] is True, res
    return peer, ident, res["payload"]


async def test_after_auth_bad_frames_are_answered_not_fatal(gateway: NodeGateway) -> None:
    peer, _, _ = await _authed_peer(gateway)
    await peer.send("{not json")
    res = await peer.response()
    assert res["error"]["details"]["code"] == "INVALID_FRAME"
    res = await peer.request("totally.unknown", {})
    assert res["error"]["code"] == "INVALID_REQUEST" and res["error"]["details"]["code"] == "UNKNOWN_METHOD"
    res = await peer.request("node.list", {})
    assert res["error"]["message"] == "unauthorized role: node"
    res = await peer.request("connect", {})
    assert res["error"]["details"]["code"] == "ALREADY_CONNECTED"
    # Still alive and useful after all that.
    res = await peer.request("health", {})
    assert res["ok"] is True
    assert gateway.stats.refusals["UNKNOWN_METHOD"] == 1
    assert gateway.stats.refusals["ROLE_NOT_ALLOWED"] == 1


async def test_oversized_frame_after_auth_is_closed_1009(gateway: NodeGateway) -> None:
    small = NodeGateway("127.0.0.1", 0, SHARED_TOKEN, max_payload_bytes=256 * 1024, approve_pairing=_yes)
    await small.start()
    try:
        peer, _, hello = await _authed_peer(small)
        assert hello["policy"]["maxPayload"] == 256 * 1024
        # Between the pre-auth cap and maxPayload: accepted after auth.
        res = await peer.request("node.event", {"event": "noise", "payload": "y" * (100 * 1024)})
        assert res["ok"] is True and res["payload"]["handled"] is False
        await peer.send(json.dumps({"type": "req", "id": "big", "method": "health", "params": {"p": "z" * 300_000}}))
        assert await peer.close_code() == 1009
        await until(lambda: small.stats.refusals["FRAME_TOO_LARGE"] == 1)
    finally:
        await small.stop()


async def _yes(_req: Any) -> bool:
    return True


async def test_node_claiming_another_account_is_refused(gateway: NodeGateway, reports: Any) -> None:
    token = gateway.issue_bootstrap_token("inst-1", "acct-001")
    peer, ident, _ = await _authed_peer(gateway, auth={"bootstrapToken": token})
    good = {"hostname": "h", "accountId": "acct-001", "instanceId": "inst-1", "ts": 1}
    res = await peer.request("node.event", {"event": "clawops.health", "payload": good})
    assert res["ok"] is True and res["payload"]["handled"] is True
    evil = {"hostname": "h", "accountId": "acct-002", "ts": 2}
    res = await peer.request("node.event", {"event": "clawops.health", "payload": evil})
    assert res["ok"] is False
    assert (res["error"]["code"], res["error"]["details"]["code"]) == ("FORBIDDEN", "ACCOUNT_MISMATCH")
    assert await peer.close_code() == 1008
    assert [r.account_id for r in reports.items if r.node_id == ident.device_id] == ["acct-001"]
    assert gateway.stats.refusals["ACCOUNT_MISMATCH"] == 1


async def test_bootstrap_token_of_other_account_cannot_rebind_device(gateway: NodeGateway) -> None:
    ident = DeviceIdentity.generate()
    t1 = gateway.issue_bootstrap_token("inst-1", "acct-001")
    peer = await RawPeer.open(gateway.url)
    assert (await peer.request("connect", signed_connect(ident, peer.nonce, peer.ts, {"bootstrapToken": t1})))["ok"]
    await peer.ws.close()
    t2 = gateway.issue_bootstrap_token("inst-2", "acct-002")
    peer = await RawPeer.open(gateway.url)
    res = await peer.request("connect", signed_connect(ident, peer.nonce, peer.ts, {"bootstrapToken": t2}))
    assert res["error"]["code"] == "FORBIDDEN" and res["error"]["details"]["code"] == "ACCOUNT_MISMATCH"


async def test_non_allowlisted_invoke_is_refused(gateway: NodeGateway, bystander: Any) -> None:
    with pytest.raises(CommandNotAllowed) as err:
        await gateway.invoke(bystander.device_id, "system.run", {"command": ["rm", "-rf", "/"]})
    assert "allowlist" in str(err.value)
    with pytest.raises(CommandNotAllowed):
        await gateway.fan_out("system.run", {"command": ["id"]})
    assert gateway.stats.refusals["COMMAND_NOT_ALLOWED"] == 2
    assert bystander.client.stats.invokes == 0


async def test_handshake_timeout_closes(gateway: NodeGateway) -> None:
    slow = NodeGateway("127.0.0.1", 0, SHARED_TOKEN, handshake_timeout_s=0.2)
    await slow.start()
    try:
        peer = await RawPeer.open(slow.url)
        assert await peer.close_code() == 1008
        assert slow.stats.refusals["HANDSHAKE_TIMEOUT"] == 1
    finally:
        await slow.stop()


async def test_many_attackers_at_once_do_not_disturb_a_node(gateway: NodeGateway, bystander: Any) -> None:
    async def one(i: int) -> int | None:
        peer = await RawPeer.open(gateway.url)
        await wrong_nonce(gateway, peer) if i % 2 else await bad_signature(gateway, peer)
        return await peer.close_code()

    codes = await asyncio.gather(*(one(i) for i in range(40)))
    assert set(codes) == {1008}
    result = await gateway.invoke(bystander.device_id, "clawops.health", timeout_s=10)
    assert result.ok


async def test_approval_callback_can_bind_account_and_instance() -> None:
    from engine.gateway import Approval, PairingRequest

    async def decide(req: PairingRequest) -> Approval | bool:
        return Approval("acct-300", "inst-300") if req.display_name == "raw" else False

    gw = NodeGateway("127.0.0.1", 0, SHARED_TOKEN, approve_pairing=decide)
    await gw.start()
    try:
        peer, ident, _ = await _authed_peer(gw)
        [node] = gw.connected_nodes()
        assert (node.node_id, node.account_id, node.instance_id) == (ident.device_id, "acct-300", "inst-300")
        res = await peer.request(
            "node.event", {"event": "clawops.health", "payload": {"hostname": "h", "accountId": "acct-999", "ts": 1}}
        )
        assert res["error"]["details"]["code"] == "ACCOUNT_MISMATCH"
    finally:
        await gw.stop()


async def test_silent_node_is_dropped_as_dead_link() -> None:
    # The live node reports 60 times per idle timeout: only silence, never a busy machine's scheduling delay,
    # can make a link look dead (with 0.3 s it once dropped the talking node too, on a loaded machine).
    gw = NodeGateway("127.0.0.1", 0, SHARED_TOKEN, approve_pairing=_yes, tick_interval_ms=100, idle_timeout_s=3.0)
    await gw.start()
    fleet = SimulatedFleet(backoff_initial_s=0.05)
    try:
        talker = fleet.boot(node_config(gw.url, "talker", health_interval_s=0.05))
        await talker.client.wait_connected(10)
        peer, ident, _ = await _authed_peer(gw)  # then says nothing, as a VPS that vanished
        assert await peer.close_code() == 4000
        await until(lambda: not gw.is_connected(ident.device_id))
        assert gw.stats.refusals["DEAD_LINK"] == 1
        assert gw.is_connected(talker.device_id)  # reports keep a live node's link fresh
    finally:
        await fleet.shutdown_all()
        await gw.stop()


async def test_node_with_slow_health_reports_stays_alive_via_presence() -> None:
    gw = NodeGateway("127.0.0.1", 0, SHARED_TOKEN, approve_pairing=_yes, tick_interval_ms=100, idle_timeout_s=1.0)
    await gw.start()
    fleet = SimulatedFleet(backoff_initial_s=0.05)
    try:
        quiet = fleet.boot(node_config(gw.url, "quiet", health_interval_s=3600))
        await quiet.client.wait_connected(10)
        await until(lambda: quiet.client.stats.health_sent == 1)
        for _ in range(4):  # two idle timeouts long
            await asyncio.sleep(0.5)
            assert gw.is_connected(quiet.device_id)
        assert gw.stats.refusals["DEAD_LINK"] == 0 and quiet.client.stats.connects == 1
    finally:
        await fleet.shutdown_all()
        await gw.stop()
