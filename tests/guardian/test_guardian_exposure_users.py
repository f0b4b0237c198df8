"""Exposure answers name the users: who, what is wrong, since when, and the recommended action."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlmodel import col, select

from engine.runtime import Engine
from engine.store import Instance


def test_exposure_names_each_user_at_risk_with_since_and_action(clawops_home: Path) -> None:
    engine = Engine.open(demo_pairs=120, demo_providers="sim")
    try:
        with engine.store.session() as s:
            primary = s.exec(
                select(Instance).where(
                    col(Instance.region) == "eu-hetzner-nbg1",
                    col(Instance.role) == "primary",
                    col(Instance.state) == "ACTIVE",
                )
            ).first()
            assert primary is not None
            primary.state, primary.health_score, primary.health_reason = "FAILED", 0, "unreachable for 3 sweeps"
            s.add(primary)
            account, failed_id = primary.account_id, primary.id
        answer = asyncio.run(engine.ask("hetzner nuremberg looks down. what's our exposure?", session="exp"))
        call = next(c for c in answer.tool_calls if c.tool == "provider_health")
        risks = call.result["providers"]["hetzner"]["at_risk"]
        mine = next(r for r in risks if r["account"] == account)
        assert mine["problem"].startswith("no gateway: primary " + failed_id)
        assert mine["since"].endswith("UTC") and mine["action"].startswith(f"fail over {account}")
        assert risks[0]["account"] == account or risks[0]["problem"].startswith("no gateway")  # worst first
        assert f"{account}: no gateway" in answer.reply and "recommended: fail over" in answer.reply
    finally:
        engine.close()
