"""Region failover does everything it safely can: pairs with a verified healthy standby move, the others stay
on their primary and the plan names each one, why, and what to do next."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlmodel import col, select

from engine.runtime import Engine
from engine.store import Instance


def test_a_region_failover_moves_the_healthy_pairs_and_lists_the_rest(clawops_home: Path) -> None:
    engine = Engine.open(demo_pairs=120, demo_providers="sim")
    try:
        with engine.store.session() as s:
            primaries = list(
                s.exec(
                    select(Instance).where(
                        col(Instance.region) == "eu-hetzner-nbg1",
                        col(Instance.role) == "primary",
                        col(Instance.state) == "ACTIVE",
                    )
                ).all()
            )
            assert len(primaries) >= 3
            weak = primaries[0].account_id
            standby = s.exec(
                select(Instance).where(col(Instance.account_id) == weak, col(Instance.role) == "standby")
            ).one()
            standby.state, standby.health_score, standby.health_reason = "DEGRADED", 55, "disk 96 %"
            s.add(standby)
            weak_standby = standby.id
        planned = asyncio.run(engine.ask("fail over everyone in nuremberg", session="fo"))
        (call,) = planned.tool_calls
        assert call.status == "planned" and planned.plan is not None  # not refused as a whole
        assert weak in planned.reply and weak_standby in planned.reply and "Not failed over (" in planned.reply
        assert f'"restart {weak_standby}"' in planned.reply  # the next step, in words the team understands
        went = asyncio.run(engine.ask("go", session="fo"))
        assert went.job is not None and went.job["status"] == "succeeded"
        with engine.store.session() as s:
            weak_pair = {i.role: i for i in s.exec(select(Instance).where(col(Instance.account_id) == weak))}
            moved = primaries[1].account_id
            moved_pair = list(s.exec(select(Instance).where(col(Instance.account_id) == moved)).all())
        assert weak_pair["primary"].region == "eu-hetzner-nbg1" and weak_pair["primary"].state == "ACTIVE"
        assert any(i.role == "primary" and i.region != "eu-hetzner-nbg1" and i.state == "ACTIVE" for i in moved_pair)
    finally:
        engine.close()


def test_with_no_healthy_standby_at_all_the_failover_is_refused_with_the_rule(clawops_home: Path) -> None:
    engine = Engine.open(demo_pairs=60, demo_providers="sim")
    try:
        with engine.store.session() as s:
            standby = s.exec(
                select(Instance).where(col(Instance.account_id) == "acct-001", col(Instance.role) == "standby")
            ).one()
            standby.state, standby.health_score = "DEGRADED", 40
            s.add(standby)
        refused = asyncio.run(engine.ask("fail over acct-001", session="fo1"))
        (call,) = refused.tool_calls
        assert call.status == "refused" and call.rule == "standby_verified"
    finally:
        engine.close()
