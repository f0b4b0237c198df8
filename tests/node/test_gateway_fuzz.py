"""Fuzz the gateway's handshake: any mutation of a valid connect is answered with a reference error
code and a policy/protocol close (never an internal error, 1011), or accepted if still valid."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from engine.gateway import NodeGateway
from node.identity import DeviceIdentity
from tests.node.clawnode_testkit import SHARED_TOKEN, signed_connect

_IDENT = DeviceIdentity.generate()
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_PATHS = [
    ("minProtocol",),
    ("maxProtocol",),
    ("client",),
    ("client", "id"),
    ("client", "mode"),
    ("client", "platform"),
    ("client", "deviceFamily"),
    ("role",),
    ("scopes",),
    ("commands",),
    ("auth",),
    ("auth", "token"),
    ("device",),
    ("device", "id"),
    ("device", "publicKey"),
    ("device", "signature"),
    ("device", "signedAt"),
    ("device", "nonce"),
    ("extra",),
]
KNOWN = {
    "INVALID_PARAMS",
    "PROTOCOL_MISMATCH",
    "ROLE_NOT_ALLOWED",
    "DEVICE_IDENTITY_REQUIRED",
    "DEVICE_AUTH_DEVICE_ID_MISMATCH",
    "DEVICE_AUTH_SIGNATURE_EXPIRED",
    "DEVICE_AUTH_NONCE_MISMATCH",
    "DEVICE_AUTH_SIGNATURE_INVALID",
    "AUTH_TOKEN_MISMATCH",
    "AUTH_DEVICE_TOKEN_MISMATCH",
    "AUTH_BOOTSTRAP_TOKEN_INVALID",
    "PAIRING_REQUIRED",
}


async def _attempt(mutations: list[tuple[tuple[str, ...], Any]]) -> tuple[dict[str, Any], int | None, int]:
    gw = NodeGateway("127.0.0.1", 0, SHARED_TOKEN)  # no auto-approval: valid connects end in PAIRING_REQUIRED
    await gw.start()
    try:
        async with connect(gw.url, compression=None, ping_interval=None) as ws:
            challenge = json.loads(await ws.recv())["payload"]
            params = signed_connect(_IDENT, challenge["nonce"], challenge["ts"], {"token": SHARED_TOKEN})
            for path, value in mutations:
                target: Any = params
                for key in path[:-1]:
                    target = target.get(key) if isinstance(target, dict) else None
                if isinstance(target, dict):
                    target[path[-1]] = copy.deepcopy(value)
            await ws.send(json.dumps({"type": "req", "id": "c1", "method": "connect", "params": params}))
            res = json.loads(await ws.recv())
            with contextlib.suppress(ConnectionClosed):
                async with asyncio.timeout(5):
                    async for _ in ws:
                        pass
            return res, ws.close_code, gw.stats.refusals["UNEXPECTED"]
    finally:
        await gw.stop()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(_PATHS), _json | st.text(alphabet=st.characters(), max_size=20)),
        min_size=1,
        max_size=3,
    )
)
def test_fuzzed_connect_is_refused_cleanly(mutations: list[tuple[tuple[str, ...], Any]]) -> None:
    res, close, unexpected = asyncio.run(_attempt(mutations))
    assert unexpected == 0  # every refusal came from a deliberate check
    assert res["id"] == "c1" and res["ok"] is False
    # OpenClaw answers a schema violation with a message and no details.code (frame-diff fixtures).
    detail = res["error"].get("details", {}).get("code")
    assert detail in KNOWN or (detail is None and res["error"]["message"].startswith("invalid connect params: "))
    assert close in (1008, 1002)


_METHODS = [
    "node.event",
    "node.invoke.result",
    "node.invoke.progress",
    "node.pluginTools.update",
    "health",
    "node.skills.update",
    "node.list",
    "whatever",
]


async def _after_auth(calls: list[tuple[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    async def yes(_: Any) -> bool:
        return True

    gw = NodeGateway("127.0.0.1", 0, SHARED_TOKEN, approve_pairing=yes)
    await gw.start()
    try:
        async with connect(gw.url, compression=None, ping_interval=None) as ws:
            challenge = json.loads(await ws.recv())["payload"]
            ident = DeviceIdentity.generate()
            await ws.send(
                json.dumps(
                    {
                        "type": "req",
                        "id": "c",
                        "method": "connect",
                        "params": signed_connect(ident, challenge["nonce"], challenge["ts"], {"token": SHARED_TOKEN}),
                    }
                )
            )
            answers = []
            for i, (method, params) in enumerate([*calls, ("health", {})]):
                await ws.send(json.dumps({"type": "req", "id": f"r{i}", "method": method, "params": params}))
                while True:
                    frame = json.loads(await ws.recv())
                    if frame.get("type") == "res" and frame["id"] == f"r{i}":
                        answers.append(frame)
                        break
            return answers, gw.stats.refusals["UNEXPECTED"]
    finally:
        await gw.stop()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(_METHODS),
            st.dictionaries(
                st.sampled_from(
                    [
                        "event",
                        "payload",
                        "payloadJSON",
                        "id",
                        "nodeId",
                        "ok",
                        "error",
                        "invokeId",
                        "seq",
                        "chunk",
                        "tools",
                    ]
                ),
                _json,
                max_size=5,
            ),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_fuzzed_requests_after_auth_never_break_the_link(calls: list[tuple[str, Any]]) -> None:
    answers, unexpected = asyncio.run(_after_auth(calls))
    assert unexpected == 0
    assert answers[-1]["ok"] is True  # the node is still connected and served
