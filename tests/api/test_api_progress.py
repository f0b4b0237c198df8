"""Job progress over the daemon: a "go" returns at once and every connected operator's feed gets the job's
progress until it ends; a tenant-scoped operator does not see another tenant's (or fleet-wide) work."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from engine.api import FeedItem, RemoteClient
from engine.operations import JobProgress
from engine.trust import add_operator
from tests.api.api_testkit import Daemon, Keys


async def _until_job_ends(feed: AsyncIterator[object]) -> list[JobProgress]:
    reports: list[JobProgress] = []
    async for item in feed:
        if isinstance(item, JobProgress):
            reports.append(item)
            if item.job.finished:
                return reports
    return reports


async def _collect(feed: AsyncIterator[object], into: list[object]) -> None:
    async for item in feed:
        into.append(item)


async def test_go_returns_running_and_others_watch_the_job_to_the_end(daemon: Daemon, keys: Keys) -> None:
    engine = daemon.engine
    engine.ops.background_jobs = True  # as `clawops engine` runs it
    owner = engine.caller("owner", "cli")
    add_operator(engine.store, owner, "carol", "viewer", tenant_id="demo-acme")
    carol_key = engine.trust.issue_key(owner, "carol").key
    alice = await asyncio.to_thread(RemoteClient, daemon.url, keys.alice)
    bob = await asyncio.to_thread(RemoteClient, daemon.url, keys.bob)
    carol = await asyncio.to_thread(RemoteClient, daemon.url, carol_key)
    carol_saw: list[object] = []
    bob_watch = asyncio.create_task(_until_job_ends(bob.feed()))
    carol_watch = asyncio.create_task(_collect(carol.feed(), carol_saw))
    while engine.feed.subscribers < 2:
        await asyncio.sleep(0.05)
    try:
        plan = await alice.ask("restart everything degraded on vultr", session="alice-ops")
        assert plan.plan is not None
        went = await alice.ask("go", session="alice-ops")
        assert went.job is not None and went.job["status"] == "running"
        reports = await asyncio.wait_for(bob_watch, 60)
        final = reports[-1]
        assert final.job.id == went.job["id"] and final.job.status == "succeeded"
        assert final.job.done == final.job.total == went.job["total"]
        assert final.operator == "alice" and "done" in final.line
        assert [r.job.id for r in reports] == [final.job.id] * len(reports)
        await asyncio.sleep(0.2)
        assert not [i for i in carol_saw if isinstance(i, FeedItem | JobProgress)]  # rule 6 on the feed
    finally:
        carol_watch.cancel()
        for client in (alice, bob, carol):
            client.close()
        await engine.ops.wait_for_jobs()
