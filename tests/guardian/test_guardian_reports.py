"""The report book: latest report per instance, node ownership, restart counting from the wire."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.guardian import HealthReport, ReportBook, score
from node.protocol import NodeHealthReport

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
IID = "i-acct-042-p"


def wire(t: datetime, **kw: Any) -> NodeHealthReport:
    base: dict[str, Any] = dict(
        node_id="dev-1",
        hostname="h",
        account_id="acct-042",
        instance_id=IID,
        provider="hetzner",
        region="eu-hetzner-nbg1",
        tier="standard",
        role="primary",
        ts_ms=int(t.timestamp() * 1000),
        clawnode_version="1",
        cpu_percent=10.0,
        mem_total_bytes=100,
        mem_available_bytes=60,
        disk_total_bytes=100,
        disk_free_bytes=60,
        uptime_s=9000.0,
        docker_available=True,
        gateway_running=True,
        gateway_pid=100,
        gateway_ws_latency_ms=20.0,
    )
    base.update(kw)
    return NodeHealthReport(**base)


def test_the_book_keeps_the_latest_sane_report() -> None:
    book = ReportBook({IID: "acct-042"})
    assert book.offer_node(wire(NOW), NOW).accepted
    assert not book.offer_node(wire(NOW), NOW).accepted  # the same frame replayed
    assert not book.offer_node(wire(NOW - timedelta(seconds=30), cpu_percent=50.0), NOW + timedelta(seconds=1)).accepted
    later = NOW + timedelta(seconds=30)
    assert book.offer_node(wire(later, cpu_percent=30.0), later).accepted
    assert book.latest()[IID].cpu_percent == 30.0
    reasons = [r for _, r in book.rejections]
    assert any("duplicate" in r for r in reasons) and any("out of order" in r for r in reasons)


def test_a_node_cannot_report_for_an_instance_it_does_not_own() -> None:
    book = ReportBook({IID: "acct-042", "i-acct-043-p": "acct-043"})
    assert book.offer_node(wire(NOW), NOW).accepted
    t = NOW + timedelta(seconds=30)
    intruder = book.offer_node(wire(t, node_id="dev-2"), t)
    assert not intruder.accepted and "dev-1 owns" in intruder.reason
    hop = book.offer_node(wire(t, instance_id="i-acct-043-p", account_id="acct-043"), t)
    assert not hop.accepted and f"belongs to {IID}" in hop.reason
    foreign = book.offer_node(wire(t, node_id="dev-9", instance_id="i-acct-043-p"), t)
    assert not foreign.accepted and "acct-042" in foreign.reason  # claims the wrong account
    assert not book.offer_node(wire(t, instance_id=None), t).accepted
    book.rebind(IID)  # the VPS was rebuilt: its new node may take over
    assert book.offer_node(wire(t, node_id="dev-2"), t).accepted


def test_gateway_restarts_are_counted_from_pid_changes_over_ten_minutes() -> None:
    book = ReportBook()
    t = NOW
    counts = []
    for pid in (100, 100, 200, 300, 300, 400):
        book.offer_node(wire(t, gateway_pid=pid), t)
        counts.append(book.latest()[IID].gateway_restarts_10m)
        t += timedelta(seconds=30)
    assert counts == [0, 0, 1, 2, 2, 3]
    s = score(book.latest()[IID], t)
    assert "gateway restarted 3x in 10 min" in s.explain()
    t += timedelta(minutes=11)
    book.offer_node(wire(t, gateway_pid=400), t)
    assert book.latest()[IID].gateway_restarts_10m == 0


def test_a_rejected_report_does_not_count_a_restart() -> None:
    book = ReportBook()
    book.offer_node(wire(NOW, gateway_pid=100), NOW)
    stale = wire(NOW - timedelta(minutes=1), gateway_pid=999)
    assert not book.offer_node(stale, NOW + timedelta(seconds=5)).accepted
    t = NOW + timedelta(seconds=30)
    book.offer_node(wire(t, gateway_pid=100), t)
    assert book.latest()[IID].gateway_restarts_10m == 0


def test_offer_and_forget_plain_reports() -> None:
    book = ReportBook()
    r = HealthReport(IID, NOW, gateway_up=True)
    assert book.offer(r, NOW).accepted
    assert not book.offer(replace(r), NOW).accepted
    book.forget(IID)
    assert IID not in book.latest()
