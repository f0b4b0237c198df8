"""wss:// with a pinned certificate fingerprint (the reference's optional TLS pinning)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from engine.gateway import NodeGateway, PairingRequest
from node.client import NodeClient
from node.system import SimulatedSystem
from tests.node.clawnode_testkit import SHARED_TOKEN, node_config, until


def _self_signed(tmp: Path) -> tuple[ssl.SSLContext, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "clawops-gateway")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    return ctx, hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


async def _yes(_: PairingRequest) -> bool:
    return True


async def test_pinned_certificate_connects_and_a_wrong_pin_does_not(tmp_path: Path) -> None:
    ctx, fingerprint = _self_signed(tmp_path)
    gw = NodeGateway("127.0.0.1", 0, SHARED_TOKEN, approve_pairing=_yes, ssl_context=ctx)
    await gw.start()
    assert gw.url.startswith("wss://")
    clients: list[NodeClient] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        pin = ":".join(fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()  # colon/upper form accepted
        good = NodeClient(
            node_config(gw.url, "pinned", tls_fingerprint=pin),
            system=SimulatedSystem(),
            backoff_initial_s=0.05,
            settle_s=0,
        )
        bad = NodeClient(
            node_config(gw.url, "wrong-pin", tls_fingerprint="0" * 64),
            system=SimulatedSystem(),
            backoff_initial_s=0.05,
            backoff_max_s=0.1,
            settle_s=0,
        )
        clients = [good, bad]
        tasks = [asyncio.create_task(c.run()) for c in clients]
        await good.wait_connected(10)
        res = await gw.invoke(good.device_id, "clawops.health", timeout_s=10)
        assert res.ok and res.payload["hostname"] == "pinned"
        await until(lambda: bad.stats.refusals.get("TLS_PIN_MISMATCH", 0) >= 2)
        assert not bad.connected.is_set() and not gw.is_connected(bad.device_id)
        # The mismatching node hung up after TLS, before sending (or signing) a connect.
        assert gw.stats.handshakes_ok == 1 and not gw.stats.refusals
    finally:
        for c in clients:
            await c.stop()
        for t in tasks:
            await asyncio.wait_for(t, 10)
        await gw.stop()
