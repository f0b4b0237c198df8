"""Helpers shared by the clawnode and node-gateway tests (a uniquely named module, not `conftest`,
because several test folders have a conftest.py and `from conftest import ...` would be ambiguous)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection, connect

from engine.gateway import NodeHealthReport
from node.config import NodeConfig
from node.identity import DeviceIdentity
from node.protocol import build_device_auth_payload

SHARED_TOKEN = "shared-token-for-tests"


class Reports:
    """Collects health reports and lets a test wait for a condition on them (no sleeps)."""

    def __init__(self) -> None:
        self.items: list[NodeHealthReport] = []
        self._changed = asyncio.Condition()

    async def add(self, report: NodeHealthReport) -> None:
        async with self._changed:
            self.items.append(report)
            self._changed.notify_all()

    async def wait_for(self, pred: Callable[[list[NodeHealthReport]], bool], timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: pred(self.items))


async def until(pred: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition that another task makes true (polling, bounded; never a timing assertion)."""
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.01)


def node_config(url: str, hostname: str = "vps-1", **extra: Any) -> NodeConfig:
    data: dict[str, Any] = {
        "gateway": url,
        "token": SHARED_TOKEN,
        "hostname": hostname,
        "account_id": "acct-001",
        "provider": "sim",
        "region": "eu-sim-lab1",
        "tier": "nano",
        "role": "primary",
        "health_interval_s": 0.2,
        "gateway_probe_url": None,
    }
    data.update(extra)
    return NodeConfig.from_dict({k: v for k, v in data.items() if v is not None})


def signed_connect(
    identity: DeviceIdentity,
    nonce: str,
    signed_at: int,
    auth: dict[str, str],
    *,
    version: Literal["v2", "v3"] = "v3",
    min_protocol: int = 3,
    max_protocol: int = 4,
    commands: list[str] | None = None,
) -> dict[str, Any]:
    """A correct node ``connect`` params object, for tests that then break one thing in it."""
    token = auth.get("token") or auth.get("deviceToken") or auth.get("bootstrapToken") or ""
    payload = build_device_auth_payload(
        version,
        device_id=identity.device_id,
        client_id="node-host",
        client_mode="node",
        role="node",
        scopes=[],
        signed_at_ms=signed_at,
        token=token,
        nonce=nonce,
        platform="linux",
    )
    return {
        "minProtocol": min_protocol,
        "maxProtocol": max_protocol,
        "client": {"id": "node-host", "displayName": "raw", "version": "0", "platform": "linux", "mode": "node"},
        "role": "node",
        "scopes": [],
        "caps": ["system"],
        "commands": commands if commands is not None else ["clawops.health"],
        "auth": auth,
        "device": {
            "id": identity.device_id,
            "publicKey": identity.public_key_b64url,
            "signature": identity.sign(payload),
            "signedAt": signed_at,
            "nonce": nonce,
        },
    }


class RawPeer:
    """A hand-driven WebSocket peer for attack tests."""

    def __init__(self, ws: ClientConnection, challenge: dict[str, Any]) -> None:
        self.ws = ws
        self.nonce: str = challenge["payload"]["nonce"]
        self.ts: int = challenge["payload"]["ts"]

    @classmethod
    async def open(cls, url: str, max_size: int | None = 2**26) -> RawPeer:
        ws = await connect(url, max_size=max_size, compression=None, ping_interval=None)
        challenge = json.loads(await ws.recv())
        assert challenge["event"] == "connect.challenge"
        return cls(ws, challenge)

    async def send(self, obj: Any) -> None:
        await self.ws.send(obj if isinstance(obj, (str, bytes)) else json.dumps(obj))

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        req_id = str(uuid.uuid4())
        await self.send({"type": "req", "id": req_id, "method": method, "params": params})
        return await self.response(req_id)

    async def response(self, req_id: str | None = None) -> dict[str, Any]:
        async with asyncio.timeout(10):
            while True:
                frame: dict[str, Any] = json.loads(await self.ws.recv())
                if frame.get("type") == "res" and (req_id is None or frame["id"] == req_id):
                    return frame

    async def close_code(self) -> int | None:
        async with asyncio.timeout(10):
            try:
                while True:
                    await self.ws.recv()
            except Exception:
                pass
        return self.ws.close_code
