"""A failover job serves users first: every standby is promoted before any replacement standby is bought, and
the replacements are steps of the same durable job (resumed, claimed once, counted in its progress)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlmodel import col, select

from engine.runtime import Engine
from engine.store import AuditEntry, Instance, JobRecord, JobStep

ACCOUNTS = ["acct-003", "acct-007", "acct-011", "acct-013"]


def _healthy_standbys(engine: Engine) -> None:
    with engine.store.session() as s:
        for acct in ACCOUNTS:
            for inst in s.exec(select(Instance).where(col(Instance.account_id) == acct)).all():
                inst.state, inst.health_score, inst.health_reason = "ACTIVE", 95, ""
                s.add(inst)


def test_promotions_come_before_replacements_and_all_are_steps_of_one_job(clawops_home: Path) -> None:
    engine = Engine.open(demo_pairs=30, demo_providers="sim")
    try:
        _healthy_standbys(engine)
        primaries = [f"i-{a}-p" for a in ACCOUNTS]
        result = asyncio.run(engine.ask_tool("failover", {"selector": {"instances": primaries}}, yes=True))
        assert result.job is not None and result.job.status == "succeeded"
        with engine.store.session() as s:
            steps = list(
                s.exec(select(JobStep).where(col(JobStep.job_id) == result.job.id).order_by(col(JobStep.seq))).all()
            )
            job = s.get(JobRecord, result.job.id)
            trail = [
                e.action
                for e in s.exec(select(AuditEntry).order_by(col(AuditEntry.seq))).all()
                if e.action in ("failover", "create_standby")
            ]
            standbys = list(
                s.exec(
                    select(Instance).where(col(Instance.account_id).in_(ACCOUNTS), col(Instance.role) == "standby")
                ).all()
            )
        assert [st.action for st in steps] == ["failover"] * 4 + ["create_standby"] * 4
        assert all(st.status == "done" for st in steps) and job is not None and job.total == 8
        assert trail == ["failover"] * 4 + ["create_standby"] * 4  # every user served before any purchase
        fresh = [i for i in standbys if i.state == "ACTIVE" and i.id not in primaries]
        assert len(fresh) == 4  # each account has a new ACTIVE standby
        assert len(engine.drivers.sim.creates) == 4
    finally:
        engine.close()


def test_a_resumed_failover_job_builds_missing_replacements_once(clawops_home: Path) -> None:
    """The engine died after the promotions: the job resumes, adds the replacement steps once, buys once."""
    engine = Engine.open(demo_pairs=30, demo_providers="sim")
    try:
        _healthy_standbys(engine)
        primaries = [f"i-{a}-p" for a in ACCOUNTS[:2]]
        result = asyncio.run(engine.ask_tool("failover", {"selector": {"instances": primaries}}, yes=True))
        assert result.job is not None
        job_id = result.job.id
        with engine.store.session() as s:  # as if it died before building the replacements
            for st in s.exec(
                select(JobStep).where(col(JobStep.job_id) == job_id, col(JobStep.action) == "create_standby")
            ).all():
                s.delete(st)
            job = s.get(JobRecord, job_id)
            assert job is not None
            job.status, job.total = "running", 2
            s.add(job)
            for inst in s.exec(
                select(Instance).where(
                    col(Instance.account_id).in_(ACCOUNTS[:2]),
                    col(Instance.role) == "standby",
                    col(Instance.state) == "ACTIVE",
                )
            ).all():
                inst.state = "CREATING"  # bought, not yet recorded as built
                s.add(inst)
        before = len(engine.drivers.sim.creates)
        views = asyncio.run(engine.ops.resume_unfinished())
        assert [v.status for v in views] == ["succeeded"] and views[0].total == 4
        assert len(engine.drivers.sim.creates) == before  # found by our instance id, not bought again
    finally:
        engine.close()
