"""Guardian: health scores, the sweep, and the auto-heal decision tree (issue 6).

Pure where it can be: :func:`score` and :func:`decide` take facts and return values, so every
threshold and every heal path is tested without a network.  :func:`sweep` is the one function that
touches the store (one read, batched writes, audited state moves, incident rows).  Executing a
decision is the operation layer's job, under the policy engine (Guardian calls it with an autonomous
caller); :func:`note_result` / :meth:`HealLedger.result` feed the outcome back.

Wiring, in one place (:class:`Guardian` does all of it; ``engine.scheduler.guardian_sweep`` runs it)::

    guardian = Guardian(store, ops, guardian_caller, notify=tell_the_operator)   # one per engine
    result = await guardian.cycle(load_reports(store), now)
    # = sweep → provider_health for suspect regions → sweep again → heal actions through ops (bounded)
    #   → incidents once → silence + arm re-provisioning for failed-over regions → escalations to notify

Every number lives in :mod:`engine.guardian._thresholds`; :func:`skill_values` exposes them as
``{{guardian_*}}`` placeholders for skill text.
"""

from engine.guardian._alerts import Alert, AlertItem, group_alerts, region_suspect
from engine.guardian._cycle import CycleResult, Executed, Guardian, region_signal
from engine.guardian._demo import demo_reports
from engine.guardian._exposure import FAILED_OVER_PREFIX, Exposure, exposure, exposure_by_region
from engine.guardian._heal import (
    ALLOWED_TOOLS,
    LADDER,
    DecisionKind,
    HealDecision,
    HealFacts,
    HealLedger,
    HealRecord,
    HealStep,
    RegionUsage,
    StandingApproval,
    StepSpec,
    Verdict,
    decide,
    ladder_markdown,
    note_result,
    record_verification,
    skill_values,
)
from engine.guardian._incidents import IncidentChanges, active_silences, silence_matcher, track_incidents
from engine.guardian._reports import ReportBook, load_reports, report_record
from engine.guardian._score import (
    Acceptance,
    Band,
    HealthReport,
    HealthScore,
    ProviderSignal,
    Reason,
    accept_report,
    band_for,
    format_duration,
    missed_sweeps_since,
    score,
)
from engine.guardian._sweep import SweepResult, Transition, ledger_from_audit, sweep
from engine.guardian._thresholds import HEALTHY_MIN, SWEEP_INTERVAL_S, THRESHOLDS, Threshold, thresholds_markdown

__all__ = [
    "HEALTHY_MIN",
    "SWEEP_INTERVAL_S",
    "demo_reports",
    "ALLOWED_TOOLS",
    "FAILED_OVER_PREFIX",
    "LADDER",
    "THRESHOLDS",
    "Acceptance",
    "Alert",
    "AlertItem",
    "Band",
    "CycleResult",
    "DecisionKind",
    "Executed",
    "Exposure",
    "Guardian",
    "HealDecision",
    "HealFacts",
    "HealLedger",
    "HealRecord",
    "HealStep",
    "HealthReport",
    "HealthScore",
    "IncidentChanges",
    "ProviderSignal",
    "Reason",
    "RegionUsage",
    "ReportBook",
    "StandingApproval",
    "StepSpec",
    "SweepResult",
    "Threshold",
    "Transition",
    "Verdict",
    "accept_report",
    "active_silences",
    "band_for",
    "decide",
    "exposure",
    "exposure_by_region",
    "format_duration",
    "group_alerts",
    "ladder_markdown",
    "ledger_from_audit",
    "load_reports",
    "missed_sweeps_since",
    "note_result",
    "record_verification",
    "region_signal",
    "region_suspect",
    "report_record",
    "score",
    "silence_matcher",
    "skill_values",
    "sweep",
    "thresholds_markdown",
    "track_incidents",
]
