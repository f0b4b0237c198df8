"""The health score: one formula, 0–100, that can always explain itself.

**The formula** (every number is a named constant in :mod:`engine.guardian._thresholds`)::

    unreachable for >= FAILED_AFTER_MISSED_SWEEPS sweeps      -> 0, band "failed"
    otherwise  score = 100 - sum(penalties), clamped to 0..100, where the penalties are
        gateway process down            PENALTY_GATEWAY_DOWN      (no reading: PENALTY_MISSING_GATEWAY_READING)
        docker not running              PENALTY_DOCKER_DOWN       (no reading: PENALTY_MISSING_DOCKER_READING)
        gateway WebSocket latency       >= LATENCY_WARN_MS / LATENCY_CRITICAL_MS
        gateway restarts in 10 min      PENALTY_PER_GATEWAY_RESTART each, at most PENALTY_GATEWAY_RESTARTS_MAX
        disk / memory use               >= *_WARN_PERCENT / *_CRITICAL_PERCENT
        CPU use, 1-min load per vCPU    >= CPU_WARN_PERCENT, LOAD_WARN_PER_VCPU
        report older than REPORT_STALE_S, uptime below RECENT_BOOT_S
        the provider: region degraded / outage, server not running at the provider
    and, while the node misses 1..FAILED_AFTER_MISSED_SWEEPS-1 sweeps, the score is at most UNREACHABLE_CAP.
    band: >= HEALTHY_MIN healthy, >= DEGRADED_MIN degraded, else critical.

Additive penalties keep the score explainable: each reason carries the points it cost, and
:meth:`HealthScore.explain` reads like "60: disk 96 %, gateway restarted 3x in 10 min".

Bad input is the normal case at fleet scale (a broken collector, a node with a wrong clock, a replayed
frame), so :class:`HealthReport` cleans its readings on construction — impossible values are dropped
with a logged note rather than believed — and :func:`score` never raises.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from engine.guardian import _thresholds as T

if TYPE_CHECKING:
    from node.protocol import NodeHealthReport

__all__ = [
    "Acceptance",
    "Band",
    "HealthReport",
    "HealthScore",
    "ProviderSignal",
    "Reason",
    "accept_report",
    "band_for",
    "format_duration",
    "missed_sweeps_since",
    "score",
]

log = logging.getLogger("engine.guardian")

_MAX_LOAD = 1000.0
_MAX_LATENCY_MS = 3_600_000.0
_MAX_RESTARTS = 10_000
_PERCENT_SLACK = 1.0
"""A percentage up to 100 + this is rounding noise and is clamped to 100; beyond it the reading is impossible."""


class Band(StrEnum):
    """What a score means; FAILED only ever comes from being unreachable."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    CRITICAL = "critical"
    FAILED = "failed"


def band_for(value: int) -> Band:
    """The band of a reachable instance's score (FAILED is decided by missed sweeps, not by points)."""
    if value >= T.HEALTHY_MIN:
        return Band.HEALTHY
    if value >= T.DEGRADED_MIN:
        return Band.DEGRADED
    return Band.CRITICAL


def format_duration(seconds: float) -> str:
    """Seconds in the unit an operator reads fastest ("45 s", "4 min", "2 h", "3 d")."""
    s = abs(seconds)
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    if s < 48 * 3600:
        return f"{s / 3600:.0f} h"
    return f"{s / 86400:.0f} d"


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


@dataclass(frozen=True, slots=True)
class HealthReport:
    """One node's readings for one instance, cleaned on construction.

    ``received_at`` is the engine's clock when the report arrived and is what ages a report;
    ``sent_at`` is the node's own clock, kept only to order reports and to notice skew.
    Readings are optional: ``None`` means "not reported" (or reported and rejected: see ``notes``).
    Impossible values (disk 300 %, negative load, NaN) are dropped and noted, never believed; a
    percentage a hair over 100 is rounding and is clamped.
    """

    instance_id: str
    received_at: datetime
    sent_at: datetime | None = None
    account_id: str | None = None
    cpu_percent: float | None = None
    mem_percent: float | None = None
    disk_percent: float | None = None
    load_1: float | None = None
    vcpus: int | None = None
    gateway_up: bool | None = None
    gateway_latency_ms: float | None = None
    docker_running: bool | None = None
    gateway_restarts_10m: int | None = None
    uptime_s: float | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        notes = list(self.notes)
        setter = object.__setattr__
        if not isinstance(self.instance_id, str):
            setter(self, "instance_id", str(self.instance_id))
        if isinstance(self.received_at, datetime):
            setter(self, "received_at", _utc(self.received_at))
        else:
            notes.append(f"receive time {self.received_at!r} is not a time; treated as long ago")
            setter(self, "received_at", datetime(1970, 1, 1, tzinfo=UTC))
        if self.sent_at is not None:
            if isinstance(self.sent_at, datetime):
                setter(self, "sent_at", _utc(self.sent_at))
            else:
                notes.append(f"node timestamp {self.sent_at!r} is not a time; ignored")
                setter(self, "sent_at", None)
        for name, label in (("cpu_percent", "CPU"), ("mem_percent", "memory"), ("disk_percent", "disk")):
            setter(self, name, _clean_percent(getattr(self, name), label, notes))
        setter(self, "load_1", _clean_range(self.load_1, "load", 0.0, _MAX_LOAD, notes))
        setter(
            self,
            "gateway_latency_ms",
            _clean_range(self.gateway_latency_ms, "gateway latency", 0.0, _MAX_LATENCY_MS, notes, unit=" ms"),
        )
        setter(self, "uptime_s", _clean_range(self.uptime_s, "uptime", 0.0, 1e10, notes, unit=" s"))
        vcpus = _clean_range(self.vcpus, "vCPU count", 1.0, 4096.0, notes)
        setter(self, "vcpus", int(vcpus) if vcpus is not None else None)
        restarts = _number(self.gateway_restarts_10m)
        if self.gateway_restarts_10m is not None and (restarts is None or restarts < 0):
            notes.append(f"gateway restart count {self.gateway_restarts_10m!r} is impossible; ignored")
            restarts = None
        setter(self, "gateway_restarts_10m", int(min(restarts, _MAX_RESTARTS)) if restarts is not None else None)
        for name in ("gateway_up", "docker_running"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                notes.append(f"{name.replace('_', ' ')} reading {value!r} is not yes/no; ignored")
                setter(self, name, None)
        if self.account_id is not None and not isinstance(self.account_id, str):
            setter(self, "account_id", None)
        if len(notes) != len(self.notes):
            for note in notes[len(self.notes) :]:
                log.warning("guardian: report for %s: %s", self.instance_id, note)
            setter(self, "notes", tuple(notes))

    def age_s(self, now: datetime) -> float:
        """Seconds since the engine received this report (never negative)."""
        return max(0.0, (_utc(now) - self.received_at).total_seconds())

    @property
    def clock_skew_s(self) -> float | None:
        """Node clock minus engine clock at receipt (positive: the node runs ahead)."""
        if self.sent_at is None:
            return None
        return (self.sent_at - self.received_at).total_seconds()

    @property
    def skewed(self) -> bool:
        skew = self.clock_skew_s
        return skew is not None and abs(skew) > T.MAX_CLOCK_SKEW_S

    @classmethod
    def parse(cls, instance_id: str, data: Mapping[str, Any], received_at: datetime) -> HealthReport:
        """Build a report from a loose mapping (flat keys as in this class); unknown keys are ignored.

        Missing fields stay ``None`` and are scored as missing; a ``sent_at`` may be a datetime, an
        ISO string or epoch seconds/milliseconds.
        """
        notes: list[str] = []
        sent_raw = data.get("sent_at")
        sent: datetime | None = None
        if isinstance(sent_raw, datetime):
            sent = sent_raw
        elif isinstance(sent_raw, str):
            try:
                sent = datetime.fromisoformat(sent_raw)
            except ValueError:
                notes.append(f"node timestamp {sent_raw!r} is not a time; ignored")
        elif (n := _number(sent_raw)) is not None:
            secs = n / 1000.0 if n > 1e11 else n
            try:
                sent = datetime.fromtimestamp(secs, UTC)
            except (OverflowError, OSError, ValueError):
                notes.append(f"node timestamp {sent_raw!r} is out of range; ignored")
        missing = [
            k
            for k in ("gateway_up", "docker_running", "cpu_percent", "mem_percent", "disk_percent")
            if data.get(k) is None
        ]
        if missing:
            notes.append("missing " + ", ".join(m.replace("_", " ") for m in missing))
        return cls(
            instance_id=instance_id,
            received_at=received_at,
            sent_at=sent,
            account_id=data.get("account_id"),
            cpu_percent=data.get("cpu_percent"),
            mem_percent=data.get("mem_percent"),
            disk_percent=data.get("disk_percent"),
            load_1=data.get("load_1"),
            vcpus=data.get("vcpus"),
            gateway_up=data.get("gateway_up"),
            gateway_latency_ms=data.get("gateway_latency_ms"),
            docker_running=data.get("docker_running"),
            gateway_restarts_10m=data.get("gateway_restarts_10m"),
            uptime_s=data.get("uptime_s"),
            notes=tuple(notes),
        )

    @classmethod
    def from_node(
        cls,
        report: NodeHealthReport,
        received_at: datetime,
        *,
        gateway_restarts_10m: int | None = None,
        vcpus: int | None = None,
    ) -> HealthReport:
        """From the node protocol's wire report (``clawops.health``).

        The node does not count gateway restarts; the caller that sees the report stream (the gateway
        registry, which sees ``gateway_pid`` change) passes the count for the last 10 minutes.
        """
        sent = None
        if report.ts_ms > 0:
            try:
                sent = datetime.fromtimestamp(report.ts_ms / 1000.0, UTC)
            except (OverflowError, OSError, ValueError):
                sent = None
        return cls(
            instance_id=report.instance_id or "",
            received_at=received_at,
            sent_at=sent,
            account_id=report.account_id,
            cpu_percent=report.cpu_percent,
            mem_percent=report.mem_used_percent,
            disk_percent=report.disk_used_percent,
            load_1=report.load_1,
            vcpus=vcpus,
            gateway_up=report.gateway_running,
            gateway_latency_ms=report.gateway_ws_latency_ms,
            docker_running=report.docker_available,
            gateway_restarts_10m=gateway_restarts_10m,
            uptime_s=report.uptime_s,
            notes=tuple(f"{k} collector: {v}"[:120] for k, v in sorted(report.errors.items())[:3]),
        )


def _clean_percent(value: Any, label: str, notes: list[str]) -> float | None:
    if value is None:
        return None
    f = _number(value)
    if f is None:
        notes.append(f"{label} reading {value!r} is not a number; ignored")
        return None
    if f < 0 or f > 100 + _PERCENT_SLACK:
        notes.append(f"{label} {f:g} % is impossible; reading ignored")
        return None
    return min(f, 100.0)


def _clean_range(value: Any, label: str, low: float, high: float, notes: list[str], unit: str = "") -> float | None:
    if value is None:
        return None
    f = _number(value)
    if f is None or f < low or f > high:
        notes.append(f"{label} {value!r}{unit} is impossible; reading ignored")
        return None
    return f


@dataclass(frozen=True, slots=True)
class Acceptance:
    """Whether a new report replaces the previous one, and why not if it does not."""

    accepted: bool
    report: HealthReport
    reason: str = ""


def accept_report(
    previous: HealthReport | None,
    new: HealthReport,
    *,
    now: datetime | None = None,
    expected_account: str | None = None,
) -> Acceptance:
    """Decide if ``new`` should replace ``previous`` as the instance's latest report.

    Rejected: a report for another instance or account (a node reporting for a box it does not own),
    one "received" in the future, an exact duplicate, and one older than the report we already hold.
    Ordering uses the node's timestamps only when neither clock is skewed; otherwise the engine's
    receive times, because a node whose clock jumped must not freeze its own reports out.
    A rejection is logged with its reason and never raises.
    """

    def reject(reason: str) -> Acceptance:
        log.warning("guardian: report for %s rejected: %s", new.instance_id, reason)
        return Acceptance(False, new, reason)

    if expected_account is not None and new.account_id is not None and new.account_id != expected_account:
        return reject(f"it claims account {new.account_id} but {new.instance_id} belongs to {expected_account}")
    if now is not None and (new.received_at - _utc(now)).total_seconds() > T.MAX_CLOCK_SKEW_S:
        return reject("its receive time is in the future")
    if previous is None:
        return Acceptance(True, new)
    if previous.instance_id != new.instance_id:
        return reject(f"it is for {new.instance_id}, not {previous.instance_id}")
    if new == previous or (
        new.sent_at is not None and new.sent_at == previous.sent_at and _readings(new) == _readings(previous)
    ):
        return reject("duplicate of the last report")
    if new.sent_at is not None and previous.sent_at is not None and not new.skewed and not previous.skewed:
        if new.sent_at < previous.sent_at:
            return reject("out of order: older than the report already held")
    elif new.received_at < previous.received_at:
        return reject("out of order: received before the report already held")
    return Acceptance(True, new)


def _readings(r: HealthReport) -> tuple[Any, ...]:
    return (
        r.cpu_percent,
        r.mem_percent,
        r.disk_percent,
        r.load_1,
        r.gateway_up,
        r.gateway_latency_ms,
        r.docker_running,
        r.gateway_restarts_10m,
        r.uptime_s,
    )


@dataclass(frozen=True, slots=True)
class ProviderSignal:
    """What the provider says: its status page for the region, and its view of this server.

    ``region_status`` is ``operational`` | ``degraded`` | ``outage`` | ``unknown`` (as
    :class:`engine.providers.status.ProviderStatus` reports it, narrowed to this region);
    ``server_status`` is the provider API's server status (``running``, ``off``, …) or ``None``.
    """

    region_status: str = "operational"
    server_status: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Reason:
    """One thing that cost points (or a zero-cost note), with a stable ``code`` the heal tree reads.

    Codes: ``unreachable``, ``stale``, ``gateway_down``, ``docker_down``, ``missing``, ``latency``,
    ``gateway_restarts``, ``gateway_crash_loop``, ``disk``, ``memory``, ``cpu``, ``load``, ``rebooted``,
    ``skew``, ``bad_report``, ``provider_outage``, ``provider_degraded``, ``server_down``, ``error``.
    """

    code: str
    text: str
    penalty: int = 0


@dataclass(frozen=True, slots=True)
class HealthScore:
    """A score, its band, and the reasons behind it, worst first."""

    value: int
    band: Band
    reasons: tuple[Reason, ...] = ()

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(r.code for r in self.reasons)

    @property
    def healthy(self) -> bool:
        return self.band is Band.HEALTHY

    def explain(self) -> str:
        """One line: the value and what cost points, e.g. "60: disk 96 %, gateway restarted 3x in 10 min"."""
        costly = [r.text for r in self.reasons if r.penalty > 0]
        notes = [r.text for r in self.reasons if r.penalty <= 0]
        parts = costly + notes
        text = f"{self.value}: " + (", ".join(parts) if parts else "all checks pass")
        return text if len(text) <= 480 else text[:477] + "..."


def score(
    report: HealthReport | None, now: datetime, missed_sweeps: int = 0, provider_signal: ProviderSignal | None = None
) -> HealthScore:
    """Score one instance (see the module docstring for the formula).  Never raises.

    ``missed_sweeps`` counts consecutive sweeps without a fresh report; ``report`` is the latest
    accepted one (``None`` if the node never reported).
    """
    try:
        return _score(report, now, missed_sweeps, provider_signal)
    except Exception as exc:  # the sweep must survive any input; the reason says what happened
        log.exception("guardian: scoring %s failed", getattr(report, "instance_id", "?"))
        return HealthScore(
            0, Band.CRITICAL, (Reason("error", f"score could not be computed ({type(exc).__name__})", 100),)
        )


def _score(
    report: HealthReport | None, now: datetime, missed_sweeps: Any, provider_signal: ProviderSignal | None
) -> HealthScore:
    missed_f = _number(missed_sweeps)
    missed = int(min(max(missed_f, 0.0), 1e6)) if missed_f is not None else 0
    if missed >= T.FAILED_AFTER_MISSED_SWEEPS:
        silent = format_duration(missed * T.SWEEP_INTERVAL_S)
        return HealthScore(0, Band.FAILED, (Reason("unreachable", f"unreachable for {missed} sweeps ({silent})", 100),))
    now = _utc(now) if isinstance(now, datetime) else datetime.now(UTC)
    reasons: list[Reason] = []
    add = reasons.append
    cap = 100
    if report is None:
        text = f"no report for {missed} sweep{'s' if missed > 1 else ''}" if missed else "no report received"
        add(Reason("unreachable", text, 100 - T.UNREACHABLE_CAP))
        cap = T.UNREACHABLE_CAP
    else:
        _score_readings(report, now, add)
    cap_reason: Reason | None = None
    if missed > 0 and report is not None:
        cap_reason = Reason("unreachable", f"unreachable for {missed} sweep{'s' if missed > 1 else ''}", 0)
        cap = min(cap, T.UNREACHABLE_CAP)
    if provider_signal is not None:
        _score_provider(provider_signal, add)
    total = sum(max(0, r.penalty) for r in reasons)
    value = max(0, min(cap, 100 - total))
    if cap_reason is not None:
        # The cap is a reason too: it carries the points it took, so explain() leads with it.
        add(Reason(cap_reason.code, cap_reason.text, max(0, (100 - total) - value)))
    reasons.sort(key=lambda r: -r.penalty)
    return HealthScore(value, band_for(value), tuple(reasons))


def _score_readings(r: HealthReport, now: datetime, add: Any) -> None:
    if r.gateway_up is False:
        add(Reason("gateway_down", "gateway down", T.PENALTY_GATEWAY_DOWN))
    elif r.gateway_up is None:
        add(Reason("missing", "no gateway reading", T.PENALTY_MISSING_GATEWAY_READING))
    if r.docker_running is False:
        add(Reason("docker_down", "docker not running", T.PENALTY_DOCKER_DOWN))
    elif r.docker_running is None:
        add(Reason("missing", "no docker reading", T.PENALTY_MISSING_DOCKER_READING))
    lat = r.gateway_latency_ms
    if lat is not None and r.gateway_up is not False:
        shown = f"{lat / 1000:.1f} s" if lat >= 1000 else f"{lat:.0f} ms"
        if lat >= T.LATENCY_CRITICAL_MS:
            add(Reason("latency", f"gateway latency {shown}", T.PENALTY_LATENCY_CRITICAL))
        elif lat >= T.LATENCY_WARN_MS:
            add(Reason("latency", f"gateway latency {shown}", T.PENALTY_LATENCY_WARN))
    restarts = r.gateway_restarts_10m or 0
    if restarts > 0:
        code = "gateway_crash_loop" if restarts >= T.GATEWAY_FLAPPING_RESTARTS else "gateway_restarts"
        add(
            Reason(
                code,
                f"gateway restarted {restarts}x in {format_duration(T.GATEWAY_RESTART_WINDOW_S)}",
                min(restarts * T.PENALTY_PER_GATEWAY_RESTART, T.PENALTY_GATEWAY_RESTARTS_MAX),
            )
        )
    for value, code, label, warn, crit, p_warn, p_crit in (
        (
            r.disk_percent,
            "disk",
            "disk",
            T.DISK_WARN_PERCENT,
            T.DISK_CRITICAL_PERCENT,
            T.PENALTY_DISK_WARN,
            T.PENALTY_DISK_CRITICAL,
        ),
        (
            r.mem_percent,
            "memory",
            "memory",
            T.MEM_WARN_PERCENT,
            T.MEM_CRITICAL_PERCENT,
            T.PENALTY_MEM_WARN,
            T.PENALTY_MEM_CRITICAL,
        ),
    ):
        if value is not None and value >= crit:
            add(Reason(code, f"{label} {value:.0f} %", p_crit))
        elif value is not None and value >= warn:
            add(Reason(code, f"{label} {value:.0f} %", p_warn))
    if r.cpu_percent is not None and r.cpu_percent >= T.CPU_WARN_PERCENT:
        add(Reason("cpu", f"CPU {r.cpu_percent:.0f} %", T.PENALTY_CPU_WARN))
    if r.load_1 is not None and r.vcpus and r.load_1 / r.vcpus >= T.LOAD_WARN_PER_VCPU:
        add(Reason("load", f"load {r.load_1:.1f} on {r.vcpus} vCPU", T.PENALTY_LOAD_WARN))
    age = r.age_s(now)
    if age > T.REPORT_STALE_S:
        add(Reason("stale", f"last report {format_duration(age)} old", T.PENALTY_STALE_REPORT))
    if (r.received_at - now).total_seconds() > T.MAX_CLOCK_SKEW_S:
        add(Reason("skew", "report time is in the future (engine clock?)", 0))
    if r.skewed:
        skew = r.clock_skew_s or 0.0
        add(Reason("skew", f"node clock {format_duration(skew)} {'ahead' if skew > 0 else 'behind'}", 0))
    if r.uptime_s is not None and r.uptime_s < T.RECENT_BOOT_S:
        add(Reason("rebooted", f"rebooted {format_duration(r.uptime_s)} ago", T.PENALTY_RECENT_BOOT))
    if r.notes:
        add(Reason("bad_report", "report notes: " + "; ".join(r.notes[:3]), 0))


def _score_provider(signal: ProviderSignal, add: Any) -> None:
    status = signal.region_status if isinstance(signal.region_status, str) else "unknown"
    detail = f" ({signal.detail})" if signal.detail else ""
    if status == "outage":
        add(Reason("provider_outage", f"provider reports an outage here{detail}", T.PENALTY_PROVIDER_OUTAGE))
    elif status == "degraded":
        add(Reason("provider_degraded", f"provider reports degraded service{detail}", T.PENALTY_PROVIDER_DEGRADED))
    server = signal.server_status
    if isinstance(server, str) and server.lower() not in ("running", "active", "on", "ok"):
        add(Reason("server_down", f"provider says the server is {server}", T.PENALTY_SERVER_NOT_RUNNING))


def missed_sweeps_since(last_report_at: datetime | None, now: datetime, fallback: datetime | None = None) -> int:
    """Whole sweep intervals of silence since the last report (stateless, so a restart loses nothing)."""
    ref = last_report_at or fallback
    if ref is None:
        return T.FAILED_AFTER_MISSED_SWEEPS
    silence = (_utc(now) - _utc(ref)).total_seconds()
    return max(0, int(silence // T.SWEEP_INTERVAL_S))
