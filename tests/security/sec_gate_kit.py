"""Helpers for the decision-gate red-team tests: a small DEMO fleet, its snapshot, and what ran."""

from __future__ import annotations

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
        return {i.id: (i.state, i.role, i.tier, i.provider, i.provider_server_id, i.monthly_price)
                for i in s.exec(select(Instance)).all()}


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
