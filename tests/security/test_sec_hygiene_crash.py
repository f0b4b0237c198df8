"""A turn that crashes *after* its action ran says what ran — never "try again" — and a retry does not act twice.

The daemon's real HTTP server runs in the test's loop so that the conversation can be made to fail right after
the real turn has done its work (a crash we cannot provoke from outside on purpose).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.api._daemon import serve_api
from engine.runtime import Engine


@pytest.fixture
async def served(clawops_home: Path) -> AsyncIterator[tuple[Engine, str, str]]:
    engine = Engine.open(demo_pairs=20, demo_providers="sim")
    key = engine.trust.issue_key(engine.caller("owner", "cli"), "owner").key
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(serve_api(engine, "127.0.0.1", 0, stop=stop, ready=ready.set_result))
    url = await asyncio.wait_for(ready, 60)
    try:
        yield engine, url, key
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
        engine.close()


def _jobs(home: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(f"file:{home / 'clawops.db'}?mode=ro", uri=True)
    try:
        return [(r[0], r[1]) for r in db.execute("SELECT id, tool FROM jobs")]
    finally:
        db.close()


async def test_a_crash_after_the_action_names_the_job_and_a_retry_does_not_repeat_it(
    served: tuple[Engine, str, str], clawops_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, url, key = served
    real_turn = engine.conversation.turn

    async def turn_then_crash(*args: Any, **kwargs: Any) -> Any:
        await real_turn(*args, **kwargs)
        raise RuntimeError("the reply could not be built")

    monkeypatch.setattr(engine.conversation, "turn", turn_then_crash)
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "retry-me"}
    body = {"message": "restart the gateway on acct-001", "yes": True}
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        first = await http.post("/v1/turns", headers=headers, json=body)
        retry = await http.post("/v1/turns", headers=headers, json=body)
        plain = await http.post(
            "/v1/turns", headers={"Authorization": f"Bearer {key}"}, json={"message": "fleet status"}
        )
    jobs = _jobs(clawops_home)
    assert [tool for _, tool in jobs] == ["restart"]  # one job: the retry did not run it again
    error = first.json()["error"]
    assert first.status_code == 500 and jobs[0][0] in error and "do not send it again" in error
    assert "try again" not in error.lower()
    assert retry.status_code == 500 and retry.json() == first.json()
    # a crash where nothing ran says so: then it *is* safe to try again
    assert plain.status_code == 500 and "nothing ran" in plain.json()["error"]
