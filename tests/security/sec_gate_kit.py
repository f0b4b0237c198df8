"""Helpers for the decision-gate red-team tests: a small DEMO fleet, its snapshot, and what ran."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import col, select

from engine.runtime import Engine
from engine.store import Instance, JobRecord, PlanRecord

PAIRS = 40


def accounts(first: int, n: int) -> list[str]:
    return [f"acct-{i:03d}" for i in range(first, first + n)]


def words(ids: list[str]) -> str:
    return " ".join(ids)


def fleet(engine: Engine) -> dict[str, tuple[Any, ...]]:
    """Everything an action could change about an instance."""
    with engine.store.session() as s:
        return {
            i.id: (i.state, i.role, i.tier, i.provider, i.provider_server_id, i.monthly_price)
            for i in s.exec(select(Instance)).all()
        }


def jobs(engine: Engine) -> list[JobRecord]:
    with engine.store.session() as s:
        return list(s.exec(select(JobRecord)).all())


def plans(engine: Engine, status: str | None = None) -> list[PlanRecord]:
    with engine.store.session() as s:
        stmt = select(PlanRecord)
        if status is not None:
            stmt = stmt.where(col(PlanRecord.status) == status)
        return list(s.exec(stmt).all())


def nothing_ran(engine: Engine, before: dict[str, tuple[Any, ...]], jobs_before: int = 0) -> None:
    """The attack's assertion: no new job, no confirmed plan beyond those before, and the fleet as it was."""
    assert len(jobs(engine)) == jobs_before, [j.tool for j in jobs(engine)]
    assert fleet(engine) == before


class Daemon:
    """The operator API (the daemon's HTTP side) in the test's loop on 127.0.0.1, OS-chosen port."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> str:
        from engine.api._daemon import serve_api

        ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(
            serve_api(self.engine, "127.0.0.1", 0, stop=self._stop, ready=ready.set_result)
        )
        return await asyncio.wait_for(ready, 30)

    async def stop(self) -> None:
        if self._stop is not None and self._task is not None:
            self._stop.set()
            await asyncio.wait_for(self._task, 60)
