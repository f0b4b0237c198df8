"""The frame-diff cases: one handshake, pairing or refusal each, run against any gateway and recorded.

Each case opens a fresh WebSocket, does one thing, and records what the gateway sent back after the
challenge (the ``res`` frames) plus the close code and reason.  :func:`normalize` replaces what
differs between runs (nonces, ids, timestamps, tokens) with placeholders, so a recording from the
real OpenClaw gateway (``fixtures/openclaw_frames.json``, made by ``record_openclaw_frames.py``)
can be compared field for field with the embedded gateway's frames (``test_gateway_frame_diff.py``).

A case needs the gateway's shared token; ``pairing_required`` needs loopback auto-approval off (the
recorder switches the real gateway's setting; the embedded gateway takes ``auto_approve_local``).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.exceptions import ConnectionClosed

from engine.gateway import NodeGateway
from node.identity import DeviceIdentity
from node.protocol import b64url_encode
from tests.node.clawnode_openclaw import TOKEN
from tests.node.clawnode_testkit import RawPeer, signed_connect

Recording = dict[str, Any]
Case = Callable[[str, str], Awaitable[Recording]]

HELLO_VALUES = (
    "type",
    "protocol",
    "auth.method",
    "auth.role",
    "auth.scopes",
    "policy.maxPayload",
    "policy.maxBufferedBytes",
    "policy.tickIntervalMs",
)
"""hello-ok fields compared by value; the rest of hello-ok is compared by shape (keys and value types),
because a server's version, method list and uptime are its own.  ``snapshot.health`` is compared as "an
object" only: it is the server's own health summary, empty until the gateway's first health check and then
that server's channels and agents (a real gateway fills it about half a second after it is ready, so a
handshake recorded in that half second and one recorded later differ there and nowhere else)."""


def _now() -> int:
    return int(time.time() * 1000)


async def _finish(peer: RawPeer, res: dict[str, Any] | None) -> Recording:
    """The response, then everything until the gateway closes (bounded), and the close code/reason."""
    frames: list[dict[str, Any]] = [res] if res is not None else []
    try:
        async with asyncio.timeout(5):
            while True:
                raw = await peer.ws.recv()
                frame = json.loads(raw)
                if frame.get("type") == "res":
                    frames.append(frame)
    except (ConnectionClosed, TimeoutError):
        pass
    return {"frames": frames, "close": peer.ws.close_code, "reason": peer.ws.close_reason}


async def _connect(url: str, params: dict[str, Any]) -> Recording:
    peer = await RawPeer.open(url)
    return await _finish(peer, await peer.request("connect", params))


def _params(peer: RawPeer, auth: dict[str, str], ident: DeviceIdentity | None = None, **kw: Any) -> dict[str, Any]:
    return signed_connect(ident or DeviceIdentity.generate(), peer.nonce, peer.ts, auth, **kw)


async def challenge(url: str, token: str) -> Recording:
    ws = await RawPeer.open(url)
    # RawPeer has read the challenge already; record it from a second, raw look.
    await ws.ws.close()
    from websockets.asyncio.client import connect

    async with connect(url, compression=None, ping_interval=None) as raw:
        frame = json.loads(await raw.recv())
    return {"frames": [frame], "close": None, "reason": None}


async def hello_ok_loopback(url: str, token: str) -> Recording:
    """A fresh device with the shared token on loopback: approved silently, hello-ok with a device token."""
    peer = await RawPeer.open(url)
    res = await peer.request("connect", _params(peer, {"token": token}))
    await peer.ws.close()
    return {"frames": [res], "close": None, "reason": None}


async def pairing_required(url: str, token: str) -> Recording:
    peer = await RawPeer.open(url)
    return await _finish(peer, await peer.request("connect", _params(peer, {"token": token})))


async def wrong_nonce(url: str, token: str) -> Recording:
    peer = await RawPeer.open(url)
    params = signed_connect(DeviceIdentity.generate(), str(uuid.uuid4()), peer.ts, {"token": token})
    return await _finish(peer, await peer.request("connect", params))


async def bad_signature(url: str, token: str) -> Recording:
    peer = await RawPeer.open(url)
    params = _params(peer, {"token": token})
    params["device"]["signature"] = b64url_encode(bytes(64))
    return await _finish(peer, await peer.request("connect", params))


async def signature_over_other_token(url: str, token: str) -> Recording:
    peer = await RawPeer.open(url)
    params = _params(peer, {"token": "something-else"})
    params["auth"] = {"token": token}
    return await _finish(peer, await peer.request("connect", params))


async def device_id_mismatch(url: str, token: str) -> Recording:
    peer = await RawPeer.open(url)
    params = _params(peer, {"token": token})
    params["device"]["id"] = DeviceIdentity.generate().device_id
    return await _finish(peer, await peer.request("connect", params))


async def stale_signed_at(url: str, token: str) -> Recording:
    peer = await RawPeer.open(url)
    params = signed_connect(DeviceIdentity.generate(), peer.nonce, _now() - 121_000, {"token": token})
    return await _finish(peer, await peer.request("connect", params))


async def future_signed_at(url: str, token: str) -> Recording:
    peer = await RawPeer.open(url)
    params = signed_connect(DeviceIdentity.generate(), peer.nonce, _now() + 121_000, {"token": token})
    return await _finish(peer, await peer.request("connect", params))


async def protocol_mismatch(url: str, token: str) -> Recording:
    peer = await RawPeer.open(url)
    params = _params(peer, {"token": token}, min_protocol=1, max_protocol=2)
    return await _finish(peer, await peer.request("connect", params))


async def wrong_shared_token(url: str, token: str) -> Recording:
    peer = await RawPeer.open(url)
    return await _finish(peer, await peer.request("connect", _params(peer, {"token": "guessed-" + token[:4]})))


async def wrong_token_for_paired_device(url: str, token: str) -> Recording:
    """A device the gateway knows presents a wrong shared token: it may retry with its device token."""
    ident = DeviceIdentity.generate()
    first = await RawPeer.open(url)
    res = await first.request("connect", _params(first, {"token": token}, ident))
    await first.ws.close()
    if not res.get("ok"):
        return {"frames": [res], "close": None, "reason": "setup: the device did not pair"}
    peer = await RawPeer.open(url)
    return await _finish(peer, await peer.request("connect", _params(peer, {"token": "guessed-" + token[:4]}, ident)))


async def no_device(url: str, token: str) -> Recording:
    peer = await RawPeer.open(url)
    params = _params(peer, {"token": token})
    del params["device"]
    return await _finish(peer, await peer.request("connect", params))


async def unknown_connect_field(url: str, token: str) -> Recording:
    peer = await RawPeer.open(url)
    params = _params(peer, {"token": token})
    params["mesh"] = {"ip": "10.0.0.1"}
    return await _finish(peer, await peer.request("connect", params))


async def forged_device_token(url: str, token: str) -> Recording:
    peer = await RawPeer.open(url)
    return await _finish(peer, await peer.request("connect", _params(peer, {"deviceToken": "A" * 43})))


async def malformed_json(url: str, token: str) -> Recording:
    peer = await RawPeer.open(url)
    await peer.send('{"type":"req","id":"1","method":"connect","params":')
    return await _finish(peer, None)


async def first_frame_not_connect(url: str, token: str) -> Recording:
    peer = await RawPeer.open(url)
    await peer.send(
        {"type": "req", "id": "first-1", "method": "node.event", "params": {"event": "clawops.health", "payload": {}}}
    )
    return await _finish(peer, None)


async def oversized_preauth(url: str, token: str) -> Recording:
    peer = await RawPeer.open(url)
    await peer.send("x" * (64 * 1024 + 1))
    return await _finish(peer, None)


CASES: dict[str, Case] = {
    "challenge": challenge,
    "hello_ok_loopback": hello_ok_loopback,
    "wrong_nonce": wrong_nonce,
    "bad_signature": bad_signature,
    "signature_over_other_token": signature_over_other_token,
    "device_id_mismatch": device_id_mismatch,
    "stale_signed_at": stale_signed_at,
    "future_signed_at": future_signed_at,
    "protocol_mismatch": protocol_mismatch,
    "wrong_shared_token": wrong_shared_token,
    "wrong_token_for_paired_device": wrong_token_for_paired_device,
    "no_device": no_device,
    "unknown_connect_field": unknown_connect_field,
    "forged_device_token": forged_device_token,
    "malformed_json": malformed_json,
    "first_frame_not_connect": first_frame_not_connect,
    "oversized_preauth": oversized_preauth,
}
"""Cases run with loopback auto-approval on (OpenClaw's default)."""

LOCKED_CASES: dict[str, Case] = {"pairing_required": pairing_required}
"""Cases run with loopback auto-approval off (the remote pairing flow)."""

ALL_CASES: dict[str, Case] = {**CASES, **LOCKED_CASES}


async def embedded_recording(name: str, token: str = TOKEN) -> Recording:
    """Case ``name`` against a fresh embedded gateway, with loopback auto-approval as the case needs."""
    gw = NodeGateway("127.0.0.1", 0, token, auto_approve_local=name not in LOCKED_CASES)
    await gw.start()
    try:
        return await ALL_CASES[name](gw.url, token)
    finally:
        await gw.stop()


# --- normalisation -------------------------------------------------------------------------------------

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
_UUID_IN_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _norm_text(text: str | None) -> str | None:
    return _UUID_IN_TEXT.sub("<uuid>", text) if text is not None else None


def _norm_value(key: str, value: Any) -> Any:
    if isinstance(value, str):
        if _UUID.match(value):
            return "<uuid>"
        if _HEX64.match(value):
            return "<device-id>"
        if key in ("deviceToken", "nonce") or (_TOKEN.match(value) and key.endswith("Token")):
            return f"<{key}>"
        return _norm_text(value)
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and key in ("ts", "issuedAtMs", "signedAt", "uptimeMs", "serverTime", "now")
    ):
        return f"<{key}>"
    return normalize(value, key)


def normalize(obj: Any, parent: str = "") -> Any:
    """Placeholders for per-run values (ids, nonces, tokens, times); everything else as sent."""
    if isinstance(obj, dict):
        return {k: _norm_value(k, v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_norm_value(parent, v) for v in obj]
    return obj


def shape(obj: Any) -> Any:
    """Keys and value types only (for hello-ok, whose versions and method lists are each server's own)."""
    if isinstance(obj, dict):
        return {k: shape(v) for k, v in sorted(obj.items())}
    if isinstance(obj, list):
        return ["list"]
    return type(obj).__name__


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def comparable(name: str, recording: Recording) -> Any:
    """What the frame-diff compares for a case: normalised frames, close code and reason."""
    frames = [normalize(f) for f in recording["frames"]]
    if name in ("hello_ok_loopback", "challenge"):
        frame = recording["frames"][0]
        body = frame.get("payload") or {}
        values = {k: _get(body, k) for k in HELLO_VALUES} if name == "hello_ok_loopback" else {}
        snapshot = body.get("snapshot")
        if isinstance(snapshot, dict) and isinstance(snapshot.get("health"), dict):
            body = {**body, "snapshot": {**snapshot, "health": {}}}  # the server's own state (HELLO_VALUES)
        frames = [
            {
                "type": frame.get("type"),
                "ok": frame.get("ok"),
                "event": frame.get("event"),
                "shape": shape(body),
                "values": values,
            }
        ]
    for f in frames:  # a request id the client chose is echoed by both; one the server invents is its own
        if isinstance(f, dict) and "id" in f and f["id"] not in ("1", "first-1"):
            f["id"] = "<id>"
    return {"frames": frames, "close": recording["close"], "reason": _norm_text(recording["reason"])}


def diff(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Human-readable differences, field by field."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out: list[str] = []
        for key in sorted(set(expected) | set(actual)):
            where = f"{path}.{key}" if path else key
            if key not in actual:
                out.append(f"{where}: missing (real: {json.dumps(expected[key])[:120]})")
            elif key not in expected:
                out.append(f"{where}: extra (ours: {json.dumps(actual[key])[:120]})")
            else:
                out += diff(expected[key], actual[key], where)
        return out
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [d for i, (e, a) in enumerate(zip(expected, actual, strict=True)) for d in diff(e, a, f"{path}[{i}]")]
    if expected != actual:
        return [f"{path}: real {json.dumps(expected)[:160]} != ours {json.dumps(actual)[:160]}"]
    return []
