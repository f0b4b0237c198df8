"""The report book: the latest accepted health report of every instance, fed by the node gateway.

The sweep reads a mapping of instance id → latest report; this is where that mapping comes from.
Every offered report goes through :func:`accept_report` (duplicates, out-of-order, foreign account,
future receive time), and wire reports from ``clawnode`` get two more checks only the stream can
make: a node (device id) may report for one instance only, and no other node may report for an
instance once it is bound (a node reporting for an instance it does not own is rejected).  The node
does not count its gateway's restarts, so the book does, from changes of ``gateway_pid``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlmodel import col

from engine.guardian import _thresholds as T
from engine.guardian._score import Acceptance, HealthReport, accept_report
from engine.store import HealthReportRecord, Store

if TYPE_CHECKING:
    from node.protocol import NodeHealthReport

__all__ = ["ReportBook", "load_reports", "report_record"]

log = logging.getLogger("engine.guardian")
_RESTART_WINDOW = timedelta(seconds=T.GATEWAY_RESTART_WINDOW_S)


class ReportBook:
    """Latest report per instance, with the stream-level sanity checks.  Not thread-safe: one owner.

    ``owners`` maps instance id → account id (from the store) so a report claiming another account
    is refused; instances not in it are accepted without that check.
    """

    def __init__(self, owners: Mapping[str, str] | None = None, *, keep_rejections: int = 200) -> None:
        self.owners: dict[str, str] = dict(owners or {})
        self._latest: dict[str, HealthReport] = {}
        self._node_of: dict[str, str] = {}
        self._instance_of: dict[str, str] = {}
        self._pid: dict[str, int] = {}
        self._restarts: dict[str, deque[datetime]] = {}
        self.rejections: deque[tuple[str, str]] = deque(maxlen=keep_rejections)
        """The most recent (instance id, reason) rejections, for diagnostics."""

    def latest(self) -> Mapping[str, HealthReport]:
        """What the sweep takes as ``reports``."""
        return self._latest

    def offer(self, report: HealthReport, now: datetime) -> Acceptance:
        """Keep ``report`` if it is newer and sane; say why not otherwise."""
        verdict = accept_report(
            self._latest.get(report.instance_id), report, now=now, expected_account=self.owners.get(report.instance_id)
        )
        if verdict.accepted:
            self._latest[report.instance_id] = report
        else:
            self.rejections.append((report.instance_id, verdict.reason))
        return verdict

    def offer_node(self, wire: NodeHealthReport, received_at: datetime, *, vcpus: int | None = None) -> Acceptance:
        """A ``clawops.health`` report from the gateway; ``wire.node_id`` is the authenticated device."""
        iid = wire.instance_id or ""
        report = HealthReport.from_node(wire, received_at, vcpus=vcpus)
        if not iid:
            return self._reject(report, "the report names no instance")
        bound_node = self._node_of.get(iid)
        if bound_node is not None and wire.node_id and bound_node != wire.node_id:
            return self._reject(report, f"node {wire.node_id} reported for {iid}, which node {bound_node} owns")
        bound_instance = self._instance_of.get(wire.node_id) if wire.node_id else None
        if bound_instance is not None and bound_instance != iid:
            return self._reject(report, f"node {wire.node_id} belongs to {bound_instance}, not {iid}")
        previous_pid = self._pid.get(iid)
        restarted = wire.gateway_pid is not None and previous_pid is not None and wire.gateway_pid != previous_pid
        times = [t for t in self._restarts.get(iid, ()) if received_at - t <= _RESTART_WINDOW]
        if restarted:
            times.append(received_at)
        report = HealthReport.from_node(wire, received_at, gateway_restarts_10m=len(times), vcpus=vcpus)
        verdict = self.offer(report, received_at)
        if verdict.accepted:  # only an accepted report may change what the book remembers
            self._restarts[iid] = deque(times)
            if wire.gateway_pid is not None:
                self._pid[iid] = wire.gateway_pid
            if wire.node_id:
                self._node_of[iid] = wire.node_id
                self._instance_of[wire.node_id] = iid
        return verdict

    def rebind(self, instance_id: str) -> None:
        """Forget which node owns ``instance_id`` (a VPS was rebuilt and its node has a new identity)."""
        node = self._node_of.pop(instance_id, None)
        if node is not None:
            self._instance_of.pop(node, None)

    def forget(self, instance_id: str) -> None:
        """Drop everything about an instance (deleted)."""
        self.rebind(instance_id)
        self._latest.pop(instance_id, None)
        self._pid.pop(instance_id, None)
        self._restarts.pop(instance_id, None)

    def _reject(self, report: HealthReport, reason: str) -> Acceptance:
        log.warning("guardian: report for %s rejected: %s", report.instance_id or "?", reason)
        self.rejections.append((report.instance_id, reason))
        return Acceptance(False, report, reason)


RESTARTS_KEY = "gatewayRestarts10m"
"""Extra payload key the writer adds: the node does not count its gateway's restarts, the book does."""


def report_record(
    wire: NodeHealthReport, received_at: datetime, *, gateway_restarts_10m: int | None = None
) -> HealthReportRecord:
    """The ``health_reports`` row for one accepted wire report (upsert it with ``session.merge``)."""
    payload: dict[str, Any] = wire.to_payload()
    if gateway_restarts_10m is not None:
        payload[RESTARTS_KEY] = gateway_restarts_10m
    return HealthReportRecord(instance_id=wire.instance_id or "", received_at=received_at, payload=payload)


def load_reports(store: Store, instance_ids: Iterable[str] | None = None) -> dict[str, HealthReport]:
    """The latest stored report of every instance (or of ``instance_ids``), decoded for the sweep.

    A payload that does not decode is skipped with a logged reason: the instance is then scored as
    silent, which is what an unreadable report amounts to.
    """
    from node.protocol import FrameError, NodeHealthReport

    query = select(
        col(HealthReportRecord.instance_id), col(HealthReportRecord.received_at), col(HealthReportRecord.payload)
    )
    if instance_ids is not None:
        query = query.where(col(HealthReportRecord.instance_id).in_(list(instance_ids)))
    out: dict[str, HealthReport] = {}
    with store.session() as s:
        rows = s.execute(query).all()
    for iid, received, payload in rows:
        try:
            wire = NodeHealthReport.from_payload(payload)
        except FrameError as exc:
            log.warning("guardian: stored report for %s is unreadable: %s", iid, exc)
            continue
        restarts = payload.get(RESTARTS_KEY) if isinstance(payload, dict) else None
        at = received if received.tzinfo is not None else received.replace(tzinfo=UTC)
        report = HealthReport.from_node(wire, at, gateway_restarts_10m=restarts)
        if report.instance_id != iid:
            log.warning("guardian: stored report under %s names %s; ignored", iid, report.instance_id or "nothing")
            continue
        out[iid] = report
    return out
