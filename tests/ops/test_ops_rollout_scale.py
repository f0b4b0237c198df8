"""A rolling config push over more than 100 instances with a bad batch leaves nobody on the bad config.

The bench (bench/bench_ops_scale.py) runs this at 1,000 instances; here 150 primaries with the default
rolling batch (rule 2: more than 100 instances are never pushed at once) keep it quick.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from engine.demo import SimNodeCommands
from engine.operations import Operations
from engine.operations._drafts import DEFAULT_ROLLING_BATCH
from engine.runtime import Engine
from engine.store import Account, AuditEntry, Instance, JobStep, Tenant

PRIMARIES = 150


@pytest.fixture
def engine(clawops_home: Path) -> Iterator[Engine]:
    """A store with 150 ACTIVE pairs and no demo fleet; the nodes are simulated (see :func:`_push`)."""
    eng = Engine.open(demo=False)
    with eng.store.session() as s:
        s.add(Tenant(id="default", name="Default"))
        s.flush()
        for k in range(1, PRIMARIES + 1):
            acct = f"acct-{k:03d}"
            s.add(Account(id=acct, tenant_id="default"))
            s.flush()
            for role, provider, region in (
                ("primary", "hetzner", "eu-hetzner-nbg1"),
                ("standby", "vultr", "eu-vultr-fra"),
            ):
                s.add(
                    Instance(
                        id=f"i-{acct}-{role[0]}",
                        account_id=acct,
                        tenant_id="default",
                        role=role,
                        provider=provider,
                        region=region,
                        tier="standard",
                        state="ACTIVE",
                        health_score=100,
                    )
                )
    yield eng
    eng.close()


def _push(engine: Engine, nodes: SimNodeCommands, config: dict[str, object]) -> object:
    """The operator's confirmed config push to every primary, through the real operation layer."""
    ops = Operations(engine.store, engine.settings, engine.drivers, nodes)
    return asyncio.run(
        ops.call(engine.caller(), "config_push", {"selector": {"role": "primary"}, "config": config}, confirmed=True)
    )


def _primaries(engine: Engine) -> list[str]:
    with engine.store.session() as s:
        return list(
            s.exec(select(Instance.id).where(col(Instance.role) == "primary").order_by(col(Instance.account_id))).all()
        )


@pytest.mark.parametrize("bad_batch", [1, 2, 3])  # first, middle and last of three default batches
def test_a_bad_batch_anywhere_leaves_no_instance_on_the_bad_config(engine: Engine, bad_batch: int) -> None:
    targets = _primaries(engine)
    assert len(targets) == PRIMARIES > 100
    bad = targets[(bad_batch - 1) * DEFAULT_ROLLING_BATCH + 7]
    nodes = SimNodeCommands()
    nodes.fragile = {bad}
    result: Any = _push(engine, nodes, {"gateway_port": 19999})
    assert result.status == "error" and result.job is not None and result.job.status == "failed"
    assert result.job.done == bad_batch - 1
    on_bad = [i for i in targets if nodes.current_config(i)]
    assert on_bad == []
    applied = {c[0] for c in nodes.calls if c[1] == "clawops.config_apply"}
    assert len(applied) == bad_batch * DEFAULT_ROLLING_BATCH  # later batches never started
    with engine.store.session() as s:
        rollback = s.exec(select(AuditEntry).where(col(AuditEntry.action) == "config_push.rollback")).one()
        steps = list(s.exec(select(JobStep).order_by(col(JobStep.seq))).all())
    assert json.loads(rollback.detail) == {"batch": bad_batch, "restored": bad_batch * DEFAULT_ROLLING_BATCH}
    assert [st.status for st in steps] == ["done"] * (bad_batch - 1) + ["failed"] * (4 - bad_batch)
    assert f"batch {bad_batch} failed its health check" in (result.job.error or "")


def test_a_healthy_rollout_reaches_everyone_in_rolling_batches(engine: Engine) -> None:
    targets = _primaries(engine)
    nodes = SimNodeCommands()
    result: Any = _push(engine, nodes, {"log_level": "info"})
    assert result.status == "done" and result.job is not None and result.job.status == "succeeded"
    assert result.job.total == -(-PRIMARIES // DEFAULT_ROLLING_BATCH) == 3
    assert all(nodes.current_config(i) == {"log_level": "info"} for i in targets)
    standbys = [i.replace("-p", "-s") for i in targets]
    assert not any(nodes.current_config(i) for i in standbys)  # the selector held
