"""The gateway assembles ``node.invoke.request`` frames from a pre-encoded tail (fan-out speed); the bytes must be
exactly what the protocol encoder produces, so nodes (ours and OpenClaw's) see no difference."""

from __future__ import annotations

import asyncio
import json

from engine.gateway import NodeGateway
from node.identity import DeviceIdentity
from node.protocol import EventFrame, InvokeRequest, encode_frame
from tests.node.clawnode_testkit import SHARED_TOKEN, RawPeer, signed_connect


async def test_invoke_frame_is_byte_identical_to_the_protocol_encoder(gateway: NodeGateway) -> None:
    peer = await RawPeer.open(gateway.url)
    identity = DeviceIdentity.generate()
    hello = await peer.request(
        "connect",
        signed_connect(
            identity, peer.nonce, peer.ts, {"token": SHARED_TOKEN}, commands=["clawops.health", "clawops.config_apply"]
        ),
    )
    assert hello["ok"]
    params = {"config": {"motd": 'grüße "quoted" \\ back\nslash', "n": 1}}
    task = asyncio.create_task(
        gateway.invoke(identity.device_id, "clawops.config_apply", params, timeout_s=5, idempotency_key="key-ü-1")
    )
    async with asyncio.timeout(10):
        while True:
            raw = await peer.ws.recv()
            frame = json.loads(raw)
            if frame.get("event") == "node.invoke.request":
                break
    body = frame["payload"]
    expected = InvokeRequest(body["id"], identity.device_id, "clawops.config_apply", None, 5000, "key-ü-1")
    assert raw == encode_frame(
        EventFrame(
            "node.invoke.request", expected.to_payload(json.dumps(params, separators=(",", ":"))), seq=frame["seq"]
        )
    )
    assert json.loads(body["paramsJSON"]) == params
    await peer.send(
        {
            "type": "req",
            "id": "r1",
            "method": "node.invoke.result",
            "params": {
                "id": body["id"],
                "nodeId": identity.device_id,
                "ok": True,
                "payloadJSON": json.dumps({"applied": True}),
            },
        }
    )
    result = await task
    assert result.ok and result.payload == {"applied": True}
    await peer.ws.close()
