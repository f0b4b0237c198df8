"""Security-review findings: stale keys, idle operators, secrets due for rotation, old node versions."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from engine import audit
from engine.store import HealthReportRecord, Operator, open_store, utcnow
from engine.trust import (
    Trust,
    add_operator,
    caller_for_operator,
    inactive_operators,
    outdated_nodes,
    secrets_due_for_rotation,
    security_findings,
    stale_keys,
)


def test_findings(sqlite_url: str, tmp_path: Path) -> None:
    store = open_store(sqlite_url)
    with store.session() as s:
        s.add(Operator(id="op-owner", name="owner", role="owner"))
    trust = Trust(store, tmp_path, environ={})
    me = caller_for_operator(store, "owner")
    for name in ("busy", "sleepy", "ghost"):
        add_operator(store, me, name, "operator")
    busy_key = trust.issue_key(me, "busy")
    trust.issue_key(me, "ghost")
    trust.secrets.set("old/token", "old-token-value-1")
    trust.secrets.set("new/token", "new-token-value-2")
    now = utcnow()
    long_ago = (now - timedelta(days=120)).isoformat()
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE operators SET created_at = :t"), {"t": long_ago})
        conn.execute(text("UPDATE api_keys SET created_at = :t"), {"t": long_ago})
        conn.execute(text("UPDATE secrets SET created_at = :t WHERE name = 'old/token'"), {"t": long_ago})
        conn.execute(text("UPDATE audit_entries SET ts = :t"), {"t": long_ago})
    trust.authenticate(busy_key.key)  # busy logs in now
    with store.session() as s:
        audit.append(s, actor="guardian@owner", action="restart", target="i-1")
        s.add(HealthReportRecord(instance_id="i-1", payload={"version": "0.0.9"}))
        s.add(HealthReportRecord(instance_id="i-2", payload={"version": "0.1.0"}))
        s.add(HealthReportRecord(instance_id="i-3", payload={}))

    keys = stale_keys(store, now=now)
    assert [(k.operator, k.reason) for k in keys] == [("ghost", "never used"), ("busy", "old")]
    assert stale_keys(store, now=now, max_age_days=100, idle_days=1000)[0].reason == "old"
    assert {o.name for o in inactive_operators(store, now=now)} == {"sleepy", "ghost"}
    due = secrets_due_for_rotation(store, now=now)
    assert [(d.name, d.reason) for d in due] == [("old/token", "old")]
    trust.secrets.rotate()
    assert secrets_due_for_rotation(store, now=now) == []
    assert [d.reason for d in secrets_due_for_rotation(store, now=now, current_key_version=3)] == [
        "old key version"
    ] * 3
    assert [(n.instance_id, n.version) for n in outdated_nodes(store, "0.1.0")] == [("i-1", "0.0.9")]
    summary = security_findings(store, now=now, min_node_version="0.1.0")
    assert summary["outdated_nodes"] == [{"instance": "i-1", "version": "0.0.9"}]
    assert {o["operator"] for o in summary["inactive_operators"]} == {"sleepy", "ghost"}
    assert json.dumps(summary)  # JSON-able, as a tool result must be
    store.dispose()
