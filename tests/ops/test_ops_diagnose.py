"""instance_diagnose: read-only node checks for an account's pair or one instance, policy-checked and audited."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from engine.operations import _diagnose
from engine.runtime import Engine
from engine.store import AuditEntry, Instance
from tests.engine_kit import sim_nodes

PAIRS = 60


@pytest.fixture
def engine(clawops_home: Path) -> Iterator[Engine]:
    eng = Engine.open(demo_pairs=PAIRS, demo_providers="sim")
    yield eng
    eng.close()


def _sick(engine: Engine, reason: str) -> Instance:
    with engine.store.session() as s:
        return next(i for i in s.exec(select(Instance).where(col(Instance.health_reason) == reason)).all())


def test_a_degraded_primary_shows_its_problem_and_the_healthy_standby_passes(engine: Engine) -> None:
    sick = _sick(engine, "disk 96 %")
    call = asyncio.run(engine.ask_tool("instance_diagnose", {"target": sick.account_id}))
    assert call.status == "done" and call.result["ok"] is False
    by_id = {f["id"]: f for f in call.result["instances"]}
    assert set(by_id) == {f"i-{sick.account_id}-p", f"i-{sick.account_id}-s"}
    finding = by_id[sick.id]
    assert finding["ok"] is False and finding["checks"]["disk"] == {"ok": False, "used_percent": 96.0}
    other = next(f for f in by_id.values() if f["id"] != sick.id)
    assert other["ok"] is True and len(other["checks"]) == 6
    reply = asyncio.run(engine.ask(f"diagnose {sick.account_id}")).reply
    assert "[Triage]" in reply and "PROBLEM: disk 96 % used" in reply
    with engine.store.session() as s:
        entries = s.exec(select(AuditEntry).where(col(AuditEntry.action) == "diagnose")).all()
    assert entries and entries[-1].target == sick.account_id and entries[-1].outcome == "problems"


def test_one_instance_and_chosen_checks(engine: Engine) -> None:
    sick = _sick(engine, "WebSocket latency 2.4 s")
    call = asyncio.run(engine.ask_tool("instance_diagnose", {"target": sick.id, "checks": ["ws-probe", "disk"]}))
    (finding,) = call.result["instances"]
    assert finding["id"] == sick.id and set(finding["checks"]) == {"ws_probe", "disk"}
    assert finding["checks"]["ws_probe"]["ok"] is False and finding["checks"]["ws_probe"]["latency_ms"] == 2400.0


def test_an_unreachable_node_is_a_finding_not_a_crash(engine: Engine) -> None:
    gone = _sick(engine, "unreachable for 3 sweeps")
    call = asyncio.run(engine.ask_tool("instance_diagnose", {"target": gone.id}))
    (finding,) = call.result["instances"]
    assert call.status == "done" and finding["ok"] is False and "not connected" in finding["error"]


def test_bad_checks_and_other_tenants_are_refused_without_asking_a_node(engine: Engine) -> None:
    nodes = sim_nodes(engine)
    before = len(nodes.calls)
    bad = asyncio.run(engine.ask_tool("instance_diagnose", {"target": "acct-001", "checks": ["cpu"]}))
    assert bad.status == "error" and "Unknown check 'cpu'" in bad.message
    with engine.store.session() as s:
        foreign = next(i for i in s.exec(select(Instance)).all() if i.tenant_id != "demo-acme")
    scoped = asyncio.run(engine.ask_tool("instance_diagnose", {"target": foreign.account_id}, operator="acme-ops"))
    assert scoped.status == "error" and "visible to you" in scoped.message
    assert len(nodes.calls) == before


async def test_a_silent_node_times_out_into_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    class Silent:
        async def invoke(self, instance_id: str, command: str, params: Any) -> dict[str, Any]:
            await asyncio.sleep(10)
            return {}

    monkeypatch.setattr(_diagnose, "DIAGNOSE_TIMEOUT_S", 0.05)
    inst = Instance(
        id="i-acct-001-p",
        account_id="acct-001",
        tenant_id="t",
        role="primary",
        provider="hetzner",
        region="eu-hetzner-nbg1",
        tier="standard",
        state="ACTIVE",
        monthly_price=1.0,
        currency="EUR",
    )
    (finding,) = await _diagnose.diagnose_instances(Silent(), [inst], ["disk"])
    assert finding["ok"] is False and "did not answer" in finding["error"]
