"""Two operators on one engine: each sees the other's actions in the feed; the audit log names who did what."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from sqlmodel import col, select

from engine.api import FeedItem, RemoteClient
from engine.store import AuditEntry
from tests.api.api_testkit import Daemon, Keys


async def _next_items(feed: AsyncIterator[object], count: int) -> list[FeedItem]:
    items: list[FeedItem] = []
    async for item in feed:
        if isinstance(item, FeedItem):
            items.append(item)
            if len(items) == count:
                return items
    return items


async def test_two_operators_see_each_other_and_the_audit_names_them(daemon: Daemon, keys: Keys) -> None:
    alice = await asyncio.to_thread(RemoteClient, daemon.url, keys.alice)
    bob = await asyncio.to_thread(RemoteClient, daemon.url, keys.bob)
    bob_feed = bob.feed()
    alice_feed = alice.feed()
    bob_sees = asyncio.create_task(_next_items(bob_feed, 3))
    alice_sees = asyncio.create_task(_next_items(alice_feed, 3))
    while daemon.engine is not None and _subscribers(daemon) < 2:
        await asyncio.sleep(0.05)

    plan = await alice.ask("restart everything degraded on vultr", session="alice-ops")
    assert plan.plan is not None
    done = await alice.ask("go", session="alice-ops")
    assert done.job is not None
    await bob.ask("fleet status", session="bob-ops")

    seen_by_bob = await asyncio.wait_for(bob_sees, 60)
    seen_by_alice = await asyncio.wait_for(alice_sees, 60)
    assert [(i.operator, i.message) for i in seen_by_bob] == [
        ("alice", "restart everything degraded on vultr"),
        ("alice", "go"),
        ("bob", "fleet status"),
    ]
    assert seen_by_alice == seen_by_bob
    assert seen_by_bob[1].tool_calls and seen_by_bob[1].summary.startswith("alice (tui): ")
    alice.close()
    bob.close()

    with daemon.engine.store.session() as s:
        entries = s.exec(select(AuditEntry).order_by(col(AuditEntry.seq))).all()
    plan_id = plan.plan["id"]
    about_plan = [e for e in entries if plan_id in e.target or plan_id in e.detail]
    assert about_plan and {e.actor for e in about_plan} == {"alice"}
    confirm = [e for e in about_plan if "confirm" in e.action]
    assert confirm and confirm[0].channel == "tui"
    assert any(e.actor == "bob" and e.action == "login" for e in entries)
    assert json.loads(confirm[0].detail) is not None


def _subscribers(daemon: Daemon) -> int:
    return daemon.engine.feed.subscribers
