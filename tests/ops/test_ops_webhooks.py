"""Signed pair-ACTIVE webhooks: delivered once, verifiable, retried after a failure."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlmodel import select

from engine import webhooks
from engine.runtime import Engine
from engine.store import WebhookDelivery

SECRET = "whsec-test-123"


class Receiver:
    """A COMPANION endpoint on loopback that records what arrives (and can be told to fail)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail = False
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        ok = webhooks.verify_signature(
            SECRET, request.headers["X-ClawOps-Timestamp"], body, request.headers["X-ClawOps-Signature"]
        )
        if self.fail:
            return web.Response(status=503)
        self.received.append({"ok": ok, **json.loads(body)})
        return web.Response(status=204)

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/hooks", self.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]  # the port the OS picked
        self.url = f"http://127.0.0.1:{port}/hooks"
        return runner


def test_each_new_pair_is_announced_once_with_a_valid_signature(clawops_home: Path) -> None:
    receiver = Receiver()

    async def scenario() -> None:
        runner = await receiver.start()
        engine = Engine.open(
            demo_pairs=30, demo_providers="sim", companion_webhook_url=receiver.url, companion_webhook_secret=SECRET
        )
        try:
            result = await engine.ask("provision 3 pairs, hetzner primary", yes=True)
            assert result.job is not None and result.job["status"] == "succeeded"
        finally:
            engine.close()
            await runner.cleanup()

    asyncio.run(scenario())
    assert len(receiver.received) == 3
    assert all(r["ok"] and r["event"] == "pair.active" for r in receiver.received)
    assert {r["data"]["primary"]["provider"] for r in receiver.received} == {"hetzner"}
    assert all(r["data"]["standby"]["provider"] != "hetzner" for r in receiver.received)


def test_a_failed_delivery_stays_pending_and_is_retried(clawops_home: Path) -> None:
    receiver = Receiver()
    receiver.fail = True

    async def scenario() -> int:
        import httpx

        runner = await receiver.start()
        engine = Engine.open(
            demo_pairs=30, demo_providers="sim", companion_webhook_url=receiver.url, companion_webhook_secret=SECRET
        )
        try:
            await engine.ask("provision 1 pair, hetzner primary", yes=True)
            with engine.store.session() as s:
                (row,) = s.exec(select(WebhookDelivery)).all()
                assert row.status == "pending" and row.attempts == 1 and row.last_error == "HTTP 503"
            receiver.fail = False
            async with httpx.AsyncClient() as client:
                return await webhooks.deliver_pending(engine.store, SECRET, client, force=True)
        finally:
            engine.close()
            await runner.cleanup()

    assert asyncio.run(scenario()) == 1
    assert len(receiver.received) == 1 and receiver.received[0]["ok"]


def test_signatures_refuse_tampering_and_replays() -> None:
    body = b'{"event":"pair.active"}'
    stamp = "1700000000"
    header = webhooks.sign(SECRET, stamp, body)
    assert not webhooks.verify_signature(SECRET, stamp, body, header)  # far too old: a replay
    import time

    now = str(int(time.time()))
    header = webhooks.sign(SECRET, now, body)
    assert webhooks.verify_signature(SECRET, now, body, header)
    assert not webhooks.verify_signature(SECRET, now, body + b" ", header)
    assert not webhooks.verify_signature("other-secret", now, body, header)
