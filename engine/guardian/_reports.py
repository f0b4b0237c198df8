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
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from engine.guardian._score import Acceptance, HealthReport, accept_report

if TYPE_CHECKING:
    from node.protocol import NodeHealthReport

__all__ = ["ReportBook"]

log = logging.getLogger("engine.guardian")
_RESTART_WINDOW = timedelta(minutes=10)


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
        verdict = accept_report(self._latest.get(report.instance_id), report, now=now,
                                expected_account=self.owners.get(report.instance_id))
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
