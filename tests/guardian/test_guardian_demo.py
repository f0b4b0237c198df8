"""Guardian in the demo: the simulated fleet has a sweep source that tells the truth about it, and a FAILED
primary with a healthy standby is failed over by Guardian itself on the next sweep."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlmodel import col, select

from engine.client import EmbeddedClient
from engine.guardian._demo import demo_reports
from engine.store import AuditEntry, Instance, utcnow


def test_the_demo_sweep_source_reports_what_the_simulation_holds(clawops_home: Path) -> None:
    client = EmbeddedClient.open(demo_pairs=300, demo_providers="sim")
    try:
        with client.engine.store.session() as s:
            rows = list(s.exec(select(Instance)).all())
        reports = demo_reports(client.engine.store, utcnow())
        failed = [i for i in rows if i.state == "FAILED"]
        disk = [i for i in rows if i.state == "DEGRADED" and i.health_reason.startswith("disk")]
        assert failed and all(i.id not in reports for i in failed)  # a dead node says nothing
        assert all(reports[i.id].disk_percent == 96.0 for i in disk)  # a symptom is reported as the reading
        healthy = next(i for i in rows if i.state == "ACTIVE")
        assert reports[healthy.id].gateway_up and reports[healthy.id].docker_running
    finally:
        client.close()


def test_a_failed_primary_with_a_healthy_standby_fails_over_on_the_next_sweep(clawops_home: Path) -> None:
    client = EmbeddedClient.open(demo_pairs=300, demo_providers="sim")
    try:
        with client.engine.store.session() as s:
            failed = [
                (i.id, i.account_id)
                for i in s.exec(
                    select(Instance).where(col(Instance.state) == "FAILED", col(Instance.role) == "primary")
                )
            ]
        assert failed
        swept = asyncio.run(client.ask("run a health sweep now"))
        call = swept.tool_calls[0]
        assert call.tool == "guardian_sweep" and call.status == "done"
        assert {a["instance"] for a in call.result["actions"] if a["tool"] == "failover"} >= {iid for iid, _ in failed}
        with client.engine.store.session() as s:
            for iid, account in failed:
                pair = {i.id: i for i in s.exec(select(Instance).where(col(Instance.account_id) == account))}
                serving = [i for i in pair.values() if i.role == "primary"]
                assert len(serving) == 1 and serving[0].state == "ACTIVE" and serving[0].id != iid
                assert pair[iid].role == "standby" and pair[iid].state == "FAILED"
                assert any(i.role == "standby" and i.state == "ACTIVE" for i in pair.values() if i.id != iid)
            actors = set(s.exec(select(AuditEntry.actor).where(col(AuditEntry.action) == "confirm.failover")).all())
        assert any("guardian" in a for a in actors)  # Guardian acted under its standing approval
    finally:
        client.close()
