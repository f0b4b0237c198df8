"""Every number Guardian acts on, in one place.

The ``auto-heal``, ``failover``, ``incident-response`` and ``provider-health`` skills quote these
values; :func:`thresholds_markdown` renders them as a table so a test can compare the skill text with
the code and fail when they drift.  Change a value here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "DEGRADED_MIN",
    "DISK_CRITICAL_PERCENT",
    "DISK_WARN_PERCENT",
    "ESCALATION_QUIET_S",
    "FAILED_AFTER_MISSED_SWEEPS",
    "FLAP_MAX_RECOVERIES",
    "FLAP_WINDOW_S",
    "GATEWAY_FLAPPING_RESTARTS",
    "GATEWAY_RESTART_WINDOW_S",
    "HEAL_CONCURRENCY",
    "HEALTHY_MIN",
    "INSTANCE_MAX_HEAL_ACTIONS",
    "LATENCY_CRITICAL_MS",
    "LATENCY_WARN_MS",
    "MAX_CLOCK_SKEW_S",
    "MAX_FAILOVERS_PER_REGION_PER_HOUR",
    "MAX_INCIDENT_FAILOVERS_PER_REGION_PER_HOUR",
    "MAX_REBOOTS_PER_REGION_PER_HOUR",
    "MEM_CRITICAL_PERCENT",
    "MEM_WARN_PERCENT",
    "RECOVERY_MIN",
    "REGION_SILENCE_S",
    "REGION_FAILURE_MIN_INSTANCES",
    "REGION_FAILURE_SHARE",
    "REPORT_STALE_S",
    "SWEEP_INTERVAL_S",
    "THRESHOLDS",
    "Threshold",
    "thresholds_markdown",
]

# --- bands --------------------------------------------------------------------------------------------
HEALTHY_MIN: Final = 80
"""A score at or above this is healthy (and a standby this healthy may be promoted)."""
DEGRADED_MIN: Final = 50
"""A score from this up to HEALTHY_MIN - 1 is degraded; below it, critical."""
RECOVERY_MIN: Final = 85
"""A DEGRADED instance returns to ACTIVE only at or above this: a gap above HEALTHY_MIN so a box hovering
around 80 does not flip state every sweep."""
FAILED_AFTER_MISSED_SWEEPS: Final = 3
"""Unreachable (no fresh report) for this many sweeps in a row = failed."""
SWEEP_INTERVAL_S: Final = 300
"""Guardian sweeps every 5 minutes; missed sweeps are counted in these units of report silence."""

# --- report freshness and sanity ------------------------------------------------------------------------
REPORT_STALE_S: Final = 120
"""A report older than this (nodes report every 30 s) costs points: the node may be struggling."""
MAX_CLOCK_SKEW_S: Final = 120
"""A node clock further than this from the engine's is noted; the engine's receive time is what counts."""

# --- readings -------------------------------------------------------------------------------------------
DISK_WARN_PERCENT: Final = 85.0
DISK_CRITICAL_PERCENT: Final = 95.0
MEM_WARN_PERCENT: Final = 90.0
MEM_CRITICAL_PERCENT: Final = 97.0
CPU_WARN_PERCENT: Final = 95.0
LOAD_WARN_PER_VCPU: Final = 2.0
LATENCY_WARN_MS: Final = 500.0
LATENCY_CRITICAL_MS: Final = 2000.0
GATEWAY_RESTART_WINDOW_S: Final = 600
"""Gateway restarts are counted over this window (the report book sees the gateway's pid change)."""
GATEWAY_FLAPPING_RESTARTS: Final = 3
"""The gateway restarting this often within GATEWAY_RESTART_WINDOW_S is a crash loop: restarting it again is not
a fix."""
RECENT_BOOT_S: Final = 600
"""Uptime below this means the VPS rebooted recently (noted, small cost)."""

# --- penalties (points off 100) -------------------------------------------------------------------------
PENALTY_GATEWAY_DOWN: Final = 60
PENALTY_DOCKER_DOWN: Final = 35
PENALTY_LATENCY_WARN: Final = 10
PENALTY_LATENCY_CRITICAL: Final = 25
PENALTY_PER_GATEWAY_RESTART: Final = 5
PENALTY_GATEWAY_RESTARTS_MAX: Final = 20
PENALTY_DISK_WARN: Final = 10
PENALTY_DISK_CRITICAL: Final = 25
PENALTY_MEM_WARN: Final = 10
PENALTY_MEM_CRITICAL: Final = 25
PENALTY_CPU_WARN: Final = 10
PENALTY_LOAD_WARN: Final = 10
PENALTY_STALE_REPORT: Final = 15
PENALTY_MISSING_GATEWAY_READING: Final = 25
"""No gateway reading: Guardian cannot tell whether the user is served, so it cannot call the box healthy."""
PENALTY_MISSING_DOCKER_READING: Final = 10
PENALTY_RECENT_BOOT: Final = 5
PENALTY_PROVIDER_DEGRADED: Final = 10
PENALTY_PROVIDER_OUTAGE: Final = 30
PENALTY_SERVER_NOT_RUNNING: Final = 60
UNREACHABLE_CAP: Final = 40
"""While a node misses sweeps (but fewer than FAILED_AFTER_MISSED_SWEEPS) its score is at most this."""

# --- heal limits ----------------------------------------------------------------------------------------
FLAP_WINDOW_S: Final = 3600
FLAP_MAX_RECOVERIES: Final = 3
"""Healed and sick again this many times within FLAP_WINDOW_S = flapping: escalate, stop restarting."""
INSTANCE_MAX_HEAL_ACTIONS: Final = 6
"""At most this many heal actions per instance within FLAP_WINDOW_S, whatever the steps."""
ESCALATION_QUIET_S: Final = 3600
"""After escalating an instance, Guardian does not escalate it again (nor act on it) for this long."""

# --- region-wide failures and the standing approval -----------------------------------------------------
REGION_FAILURE_MIN_INSTANCES: Final = 5
REGION_FAILURE_SHARE: Final = 0.3
"""At least REGION_FAILURE_MIN_INSTANCES and this share of a provider region unhealthy = suspect the region,
check the provider's status page, do not blame each instance."""
MAX_FAILOVERS_PER_REGION_PER_HOUR: Final = 10
"""Failovers Guardian may start in one region per hour on its standing approval without a provider-confirmed
incident; past it, Guardian stops and asks."""
MAX_INCIDENT_FAILOVERS_PER_REGION_PER_HOUR: Final = 250
"""The same limit when the provider's status page confirms an outage in that region (a region outage must be
able to move every pair without waking anyone)."""
MAX_REBOOTS_PER_REGION_PER_HOUR: Final = 20
"""VPS reboots Guardian may start in one region per hour on its standing approval."""
HEAL_CONCURRENCY: Final = 8
"""Heal actions (failovers during a region outage) Guardian runs at once: enough to move a region in minutes,
few enough that the providers' rate limits and the store are not flooded."""
REGION_SILENCE_S: Final = 3600
"""After failing a region over, Guardian silences that region's alerts for this long (the incident stays open)."""


@dataclass(frozen=True, slots=True)
class Threshold:
    """One row of the table the skills quote."""

    name: str
    value: float | int
    unit: str
    meaning: str


THRESHOLDS: Final[tuple[Threshold, ...]] = (
    Threshold("healthy", HEALTHY_MIN, "score", "score at or above this is healthy"),
    Threshold("degraded", DEGRADED_MIN, "score", "score from this to healthy - 1 is degraded; below is critical"),
    Threshold("recovery", RECOVERY_MIN, "score", "a DEGRADED instance returns to ACTIVE at or above this"),
    Threshold("failed_after_missed_sweeps", FAILED_AFTER_MISSED_SWEEPS, "sweeps", "unreachable this long = FAILED"),
    Threshold("sweep_interval", SWEEP_INTERVAL_S, "s", "time between Guardian sweeps"),
    Threshold("report_stale", REPORT_STALE_S, "s", "a report older than this costs points"),
    Threshold("max_clock_skew", MAX_CLOCK_SKEW_S, "s", "node clock drift that is noted"),
    Threshold("disk_warn", DISK_WARN_PERCENT, "%", f"disk use costs {PENALTY_DISK_WARN} points"),
    Threshold("disk_critical", DISK_CRITICAL_PERCENT, "%", f"disk use costs {PENALTY_DISK_CRITICAL} points"),
    Threshold("memory_warn", MEM_WARN_PERCENT, "%", f"memory use costs {PENALTY_MEM_WARN} points"),
    Threshold("memory_critical", MEM_CRITICAL_PERCENT, "%", f"memory use costs {PENALTY_MEM_CRITICAL} points"),
    Threshold("cpu_warn", CPU_WARN_PERCENT, "%", f"CPU use costs {PENALTY_CPU_WARN} points"),
    Threshold("load_warn", LOAD_WARN_PER_VCPU, "per vCPU", f"1-min load costs {PENALTY_LOAD_WARN} points"),
    Threshold("latency_warn", LATENCY_WARN_MS, "ms", f"gateway WebSocket latency costs {PENALTY_LATENCY_WARN} points"),
    Threshold("latency_critical", LATENCY_CRITICAL_MS, "ms", f"latency costs {PENALTY_LATENCY_CRITICAL} points"),
    Threshold("gateway_down", PENALTY_GATEWAY_DOWN, "points", "gateway process not running"),
    Threshold("docker_down", PENALTY_DOCKER_DOWN, "points", "docker not running"),
    Threshold("no_gateway_reading", PENALTY_MISSING_GATEWAY_READING, "points", "the report has no gateway reading"),
    Threshold("no_docker_reading", PENALTY_MISSING_DOCKER_READING, "points", "the report has no docker reading"),
    Threshold(
        "gateway_restart",
        PENALTY_PER_GATEWAY_RESTART,
        "points",
        f"per gateway restart in the restart window, at most {PENALTY_GATEWAY_RESTARTS_MAX}",
    ),
    Threshold("gateway_restart_window", GATEWAY_RESTART_WINDOW_S, "s", "window over which gateway restarts count"),
    Threshold(
        "gateway_flapping_restarts",
        GATEWAY_FLAPPING_RESTARTS,
        "restarts/window",
        "a crash loop: Guardian skips restarting the gateway",
    ),
    Threshold("unreachable_cap", UNREACHABLE_CAP, "score", "highest score while a node misses sweeps"),
    Threshold("provider_outage", PENALTY_PROVIDER_OUTAGE, "points", "the provider reports an outage in the region"),
    Threshold("flap_window", FLAP_WINDOW_S, "s", "window for flapping and per-instance action limits"),
    Threshold(
        "flap_max_recoveries",
        FLAP_MAX_RECOVERIES,
        "recoveries",
        "healed and sick again this often in the window = flapping, escalate",
    ),
    Threshold("instance_max_heal_actions", INSTANCE_MAX_HEAL_ACTIONS, "actions", "per instance per window"),
    Threshold("escalation_quiet", ESCALATION_QUIET_S, "s", "no repeat escalation of one instance within this"),
    Threshold(
        "region_failure_min_instances",
        REGION_FAILURE_MIN_INSTANCES,
        "instances",
        "unhealthy instances in one region before suspecting the region",
    ),
    Threshold(
        "region_failure_share",
        REGION_FAILURE_SHARE,
        "share",
        "unhealthy share of a region before suspecting the region",
    ),
    Threshold(
        "max_failovers_per_region_per_hour",
        MAX_FAILOVERS_PER_REGION_PER_HOUR,
        "failovers",
        "standing approval without a provider-confirmed incident",
    ),
    Threshold(
        "max_incident_failovers_per_region_per_hour",
        MAX_INCIDENT_FAILOVERS_PER_REGION_PER_HOUR,
        "failovers",
        "standing approval during a provider-confirmed outage",
    ),
    Threshold(
        "max_reboots_per_region_per_hour",
        MAX_REBOOTS_PER_REGION_PER_HOUR,
        "reboots",
        "standing approval for VPS reboots",
    ),
    Threshold("heal_concurrency", HEAL_CONCURRENCY, "actions", "heal actions (e.g. failovers) run at once"),
    Threshold("region_silence", REGION_SILENCE_S, "s", "a failed-over region's alerts are silenced this long"),
)


def _fmt(value: float | int) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def thresholds_markdown() -> str:
    """The thresholds as a Markdown table (name | value | unit | meaning), the text skills quote."""
    lines = ["| threshold | value | unit | meaning |", "|---|---|---|---|"]
    lines += [f"| {t.name} | {_fmt(t.value)} | {t.unit} | {t.meaning} |" for t in THRESHOLDS]
    return "\n".join(lines) + "\n"
