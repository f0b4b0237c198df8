"""Audit query, batched append (same chain as single appends) and anchoring (truncation caught)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from engine import audit
from engine.errors import InputError
from engine.store import Store, open_store
from engine.trust import AuditDraft, anchor, append_many, check_anchor, parse_since, query, verify_with_anchor


def _store(url: str) -> Store:
    store = open_store(url)
    with store.session() as s:
        audit.append(s, actor="owner", action="plan.restart", target="pl-1", channel="cli")
        audit.append(s, actor="guardian@owner", action="restart", target="i-acct-042-p", channel="job")
        audit.append(
            s,
            actor="alice",
            action="refused.teardown",
            target="rule1",
            outcome="refused",
            channel="telegram",
            detail={"reason": "standby unhealthy"},
        )
        audit.append(s, actor="owner", action="confirm.restart", target="pl-1", channel="tui")
    return store


def test_query_filters_newest_first(store_url: str) -> None:
    store = _store(store_url)
    assert [e.seq for e in query(store)] == [4, 3, 2, 1]
    assert [e.action for e in query(store, actor="owner")] == ["confirm.restart", "restart", "plan.restart"]
    assert [e.actor for e in query(store, actor="guardian")] == ["guardian@owner"]
    assert [e.seq for e in query(store, action="refused")] == [3]
    assert query(store, action="refused")[0].detail == {"reason": "standby unhealthy"}
    assert [e.seq for e in query(store, target="pl-1", limit=1)] == [4]
    assert query(store, since=datetime.now(UTC) + timedelta(minutes=1)) == []
    assert len(query(store, since=parse_since("1h"))) == 4
    with pytest.raises(InputError):
        query(store, limit=0)
    store.dispose()


def test_query_treats_wildcards_literally(sqlite_url: str) -> None:
    store = _store(sqlite_url)
    assert query(store, action="refused%") == [] and query(store, actor="_wner") == []
    store.dispose()


@pytest.mark.parametrize(("text_in", "ok"), [("30m", True), ("7d", True), ("2026-11-01", True), ("yesterday", False)])
def test_parse_since(text_in: str, ok: bool) -> None:
    if ok:
        assert parse_since(text_in).tzinfo is not None
    else:
        with pytest.raises(InputError):
            parse_since(text_in)


def test_append_many_extends_the_same_chain(store_url: str) -> None:
    store = _store(store_url)
    with store.session() as s:
        n = append_many(
            s,
            [
                AuditDraft(
                    actor="guardian",
                    action="heal.restart",
                    target=f"i-{i}",
                    channel="job",
                    detail={"n": i, "ünï": "cödé"},
                )
                for i in range(500)
            ],
        )
    with store.session() as s:
        audit.append(s, actor="owner", action="after", target="x")
        assert append_many(s, []) == 0
    report = audit.verify(store)
    assert n == 500 and report.ok and report.entries == 505
    store.dispose()


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=12), st.dictionaries(st.text(max_size=5), st.integers())), max_size=8
    )
)
def test_append_many_matches_single_appends_property(
    tmp_path_factory: pytest.TempPathFactory, drafts: list[tuple[str, dict[str, int]]]
) -> None:
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('p') / 'a.db'}")
    with store.session() as s:
        append_many(s, [AuditDraft(actor=a, action="x", detail=d) for a, d in drafts])
    assert audit.verify(store).ok
    store.dispose()


def test_anchor_catches_truncation_that_verify_alone_misses(store_url: str, tmp_path: Path) -> None:
    store = _store(store_url)
    path = tmp_path / "audit.anchor"
    mark = anchor(store, path)
    assert mark.seq == 4 and path.stat().st_mode & 0o777 == 0o600
    assert check_anchor(store, path) is None
    with store.session() as s:
        audit.append(s, actor="owner", action="later", target="y")
    assert verify_with_anchor(store, path).ok  # growth past the anchor is fine
    # An attacker with database access cuts off #3..#5 and rewrites the head so the chain looks whole.
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE seq >= 3"))
        conn.execute(text("UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_entries WHERE seq = 2)"))
    assert audit.verify(store).ok  # the chain alone cannot tell
    report = verify_with_anchor(store, path)
    assert not report.ok and report.problem is not None
    assert "cut off" in report.problem.message and "#4" in report.problem.message
    store.dispose()


def test_anchor_catches_a_rewritten_chain(sqlite_url: str, tmp_path: Path) -> None:
    store = _store(sqlite_url)
    path = tmp_path / "audit.anchor"
    anchor(store, path)
    # Rewrite history consistently: recompute every hash after editing #3 (what a careful forger would do).
    with store.engine.begin() as conn:
        rows = conn.execute(
            text("SELECT seq, ts, actor, channel, action, target, outcome, detail FROM audit_entries ORDER BY seq")
        ).all()
        prev = audit.GENESIS_HASH
        for seq, ts, actor, channel, action, target, outcome, detail in rows:
            if seq == 3:
                actor, outcome = "owner", "ok"
            digest = audit.entry_hash(prev, seq, ts, actor, channel, action, target, outcome, detail)
            conn.execute(
                text("UPDATE audit_entries SET actor=:a, outcome=:o, prev_hash=:p, hash=:h WHERE seq=:s"),
                {"a": actor, "o": outcome, "p": prev, "h": digest, "s": seq},
            )
            prev = digest
        conn.execute(text("UPDATE audit_head SET hash = :h"), {"h": prev})
    assert audit.verify(store).ok
    report = verify_with_anchor(store, path)
    assert report.problem is not None and "rewritten" in report.problem.message
    store.dispose()


def test_torn_anchor_lines_are_ignored(sqlite_url: str, tmp_path: Path) -> None:
    store = _store(sqlite_url)
    path = tmp_path / "audit.anchor"
    anchor(store, path)
    with path.open("a") as fh:
        fh.write('{"seq": 9')
    assert check_anchor(store, path) is None
    assert verify_with_anchor(store, tmp_path / "absent.anchor").ok
    store.dispose()


def test_audit_query_tool_scrubs_and_refuses_scoped_callers(sqlite_url: str) -> None:
    from engine.errors import PolicyRefusal
    from engine.policy import Caller, Role
    from engine.trust import audit_query_tool, default_redactor

    store = _store(sqlite_url)
    default_redactor().add("tool-canary-0011223344")
    with store.session() as s:
        audit.append(
            s,
            actor="triage@owner",
            action="agent.decision",
            target="acct-7",
            detail={"tool_result": "log: token=tool-canary-0011223344"},
        )
    out = audit_query_tool(store, Caller("op-owner", "owner", Role.VIEWER), {"action": "agent", "limit": 5})
    assert out["count"] == 1 and "tool-canary" not in str(out) and "[REDACTED]" in str(out)
    with pytest.raises(PolicyRefusal) as refused:
        audit_query_tool(store, Caller("op-x", "x", Role.OWNER, tenant_id="t-1"), {})
    assert refused.value.rule == "rule6_tenant_isolation"
    store.dispose()
