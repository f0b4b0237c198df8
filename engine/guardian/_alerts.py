"""Alerts: what needs a human, grouped so a region outage is one incident and not one alert per box."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.guardian import _thresholds as T

__all__ = ["Alert", "AlertItem", "group_alerts", "region_suspect"]


@dataclass(frozen=True, slots=True)
class AlertItem:
    """One instance that needs a human's attention, before grouping."""

    instance_id: str
    account_id: str
    role: str
    provider: str
    region: str
    kind: str
    """``failed`` | ``escalated`` | ``critical``."""
    text: str


@dataclass(frozen=True, slots=True)
class Alert:
    """What the operator is told: one instance, or one incident for a whole provider region."""

    key: str
    """Stable dedupe key: ``incident:<region>`` or ``instance:<id>``."""
    severity: str
    title: str
    instance_ids: tuple[str, ...]
    provider: str | None = None
    region: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def is_incident(self) -> bool:
        return self.key.startswith("incident:")


def region_suspect(unhealthy: int, total: int) -> bool:
    """Many unhealthy instances in one provider region at once: suspect the region, not each box."""
    return total > 0 and unhealthy >= T.REGION_FAILURE_MIN_INSTANCES and unhealthy / total >= T.REGION_FAILURE_SHARE


def group_alerts(
    items: Iterable[AlertItem],
    *,
    region_totals: Mapping[str, int] | None = None,
    provider_status: Mapping[str, str] | None = None,
    silenced: Collection[str] | Callable[[AlertItem], bool] = (),
) -> list[Alert]:
    """Dedupe and group: per provider region, enough items become ONE incident; the rest stay single.

    A region becomes an incident when it has at least REGION_FAILURE_MIN_INSTANCES items and (if
    ``region_totals`` is given) they are at least REGION_FAILURE_SHARE of the region, or when the
    provider's status page reports an outage there.  ``silenced`` holds provider names, region names,
    account ids or instance ids whose alerts are muted, or is a predicate over items (see
    :func:`engine.guardian.silence_matcher` for ``silence_alerts`` selectors and maintenance windows).
    The same instance appears at most once, its most severe kind winning.
    """
    rank = {"failed": 0, "escalated": 1, "critical": 2}
    best: dict[str, AlertItem] = {}
    muted: Callable[[AlertItem], bool]
    if callable(silenced):
        muted = silenced
    else:
        names = frozenset(silenced)
        muted = lambda i: bool(names) and bool({i.region, i.provider, i.instance_id, i.account_id} & names)  # noqa: E731
    for item in items:
        if muted(item):
            continue
        prev = best.get(item.instance_id)
        if prev is None or rank.get(item.kind, 9) < rank.get(prev.kind, 9):
            best[item.instance_id] = item
    by_region: dict[str, list[AlertItem]] = defaultdict(list)
    for item in best.values():
        by_region[item.region].append(item)
    statuses = provider_status or {}
    alerts: list[Alert] = []
    for region in sorted(by_region):
        group = sorted(by_region[region], key=lambda i: i.instance_id)
        total = (region_totals or {}).get(region)
        big = len(group) >= T.REGION_FAILURE_MIN_INSTANCES and (total is None or region_suspect(len(group), total))
        status = statuses.get(region)
        if big or (status == "outage" and len(group) > 1):
            primaries = sum(1 for i in group if i.role == "primary")
            failed = sum(1 for i in group if i.kind == "failed")
            provider = group[0].provider
            of_total = f" of {total}" if total else ""
            confirmed = status == "outage"
            # Policy rule 4: until the provider's status page says so, it is a *suspected* incident.
            page = f"; {provider} status page: {status}" if status else f"; {provider} status page not checked yet"
            title = (
                f"{'' if confirmed else 'suspected incident, '}{region}: {len(group)}{of_total} instances need "
                f"attention ({primaries} primaries, {len(group) - primaries} standbys, {failed} failed){page}"
            )
            alerts.append(
                Alert(
                    f"incident:{region}",
                    "critical",
                    title,
                    tuple(i.instance_id for i in group),
                    provider,
                    region,
                    {
                        "primaries": primaries,
                        "standbys": len(group) - primaries,
                        "failed": failed,
                        "status": status,
                        "confirmed": confirmed,
                    },
                )
            )
            continue
        for i in group:
            sev = "critical" if i.kind == "failed" else "warning"
            alerts.append(
                Alert(
                    f"instance:{i.instance_id}",
                    sev,
                    f"{i.instance_id} ({i.account_id}): {i.text}",
                    (i.instance_id,),
                    i.provider,
                    i.region,
                    {"kind": i.kind},
                )
            )
    return alerts
