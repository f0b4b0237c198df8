"""What a briefing says, gathered from the store: counts, what healed, incidents, SLA breaches, cost.

Everything here is read-only and works on plain data (no voice, no files), so it is cheap to test
and the same facts feed the spoken script, the Markdown and the HTML report.

Definitions the briefing states out loud in its report:

* **Window** — events are counted *since the last briefing of the same kind for the same operator*
  (the audit entry ``briefing.<kind>``); with no earlier briefing, the last 24 hours (daily) or 7 days
  (weekly).  A missed briefing therefore loses nothing: the next one covers its window.
* **Healed** — an instance that came back: a restart step that ended healthy, or a Guardian move to
  ACTIVE from DEGRADED, HEALING or FAILED.  Each heal is credited to whoever did it: Guardian for its own
  moves and for jobs it started, otherwise the operator who started the job (``healed_by``).
* **SLA breach** — a user without a serving gateway for more than ``SLA_MINUTES`` minutes: their
  *primary* is FAILED, ERROR or STANDBY_PROMOTING and has not changed state for that long (measured
  from the instance's last state change).  Provisioning and deliberate teardown states are not breaches;
  a DEGRADED primary still serves and is not a breach.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, or_, select

from engine.config import Settings
from engine.domain import BILLED_STATES, PLANS, InstanceState, Provider, Tier, parse_region, to_eur
from engine.errors import ClawOpsError
from engine.ledger import Money
from engine.store import (
    Account,
    AuditEntry,
    CostSnapshot,
    Incident,
    Instance,
    JobRecord,
    Operator,
    PlanRecord,
    Store,
    Tenant,
)

__all__ = [
    "GONE",
    "SLA_MINUTES",
    "BriefingFacts",
    "CostFacts",
    "IncidentFact",
    "Kind",
    "Saving",
    "SlaBreach",
    "gather_facts",
    "last_briefing_seq",
]

log = logging.getLogger("clawops.briefer")

Kind = Literal["daily", "weekly"]

SLA_MINUTES = 15
"""A user whose primary has not served for longer than this is an SLA breach (see module docstring)."""

GONE = frozenset({InstanceState.DELETED.value})
NOT_SERVING = frozenset({InstanceState.FAILED.value, InstanceState.ERROR.value, InstanceState.STANDBY_PROMOTING.value})
HEALED_FROM = frozenset({InstanceState.DEGRADED.value, InstanceState.HEALING.value, InstanceState.FAILED.value})
DAYS_PER_MONTH = 365.25 / 12
IDLE_DAYS = 14
OVERSIZED_CPU_P95 = 20.0
OVERSIZED_MEM_P95 = 30.0
"""Fallback findings (used only when ``engine.ledger`` is absent): the Ledger's published thresholds."""
TIER_BELOW = {Tier.PERFORMANCE.value: Tier.STANDARD, Tier.STANDARD.value: Tier.NANO}


@dataclass(frozen=True, slots=True)
class IncidentFact:
    id: str
    title: str
    provider: str | None
    region: str | None
    status: str
    opened_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class SlaBreach:
    instance_id: str
    account_id: str
    provider: str
    region: str
    state: str
    minutes: float
    reason: str


@dataclass(frozen=True, slots=True)
class Saving:
    """One way to spend less: what to do, to how many instances, and the monthly saving in EUR."""

    finding: str
    action: str
    count: int
    monthly_eur: float
    spoken: str = ""
    """The action as a spoken gerund ("tearing down 22 idle accounts")."""
    scope: str = ""
    """What it covers, in the Ledger's words ("22 accounts (44 instances)"); the count alone when empty."""
    later: str = ""
    """The part that waits for paid contract terms to end, in the Ledger's words ("" when none)."""


@dataclass(frozen=True, slots=True)
class CostFacts:
    week_eur: float
    month_eur: float
    by_provider_week: dict[str, float]
    savings: list[Saving]
    source: str
    """Where the numbers come from: "ledger", "cost snapshots" or "list prices"."""
    money: Money = Money()
    """How the amounts are shown: the operator's currency, as every other reply shows them."""


@dataclass(slots=True)
class BriefingFacts:
    """Everything one briefing reports, for one operator's view of the fleet."""

    kind: Kind
    now: datetime
    window_start: datetime | None
    window_label: str
    demo: bool
    scope: str
    total: int = 0
    pairs: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    by_provider: dict[str, dict[str, int]] = field(default_factory=dict)
    healed: list[str] = field(default_factory=list)
    healed_by: dict[str, list[str]] = field(default_factory=dict)
    """Who healed what: "guardian" or an operator's name → instance ids (the same ids as ``healed``)."""
    operator: str = ""
    """The name of the operator this briefing is for (their own heals are "your restarts")."""
    users_down: int = 0
    """Users whose primary is not serving right now (FAILED, ERROR, STANDBY_PROMOTING), however briefly."""
    failovers: list[str] = field(default_factory=list)
    failovers_failed: list[str] = field(default_factory=list)
    failed_steps: int = 0
    escalations: int = 0
    refusals: int = 0
    incidents: list[IncidentFact] = field(default_factory=list)
    sla: list[SlaBreach] = field(default_factory=list)
    cost: CostFacts | None = None


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def last_briefing_seq(session: Session, kind: str, operator_id: str) -> tuple[int, datetime] | None:
    """The audit seq and time of this operator's previous briefing of ``kind``, if any."""
    row = session.exec(
        select(AuditEntry.seq, AuditEntry.ts)
        .where(
            col(AuditEntry.action) == f"briefing.{kind}",
            col(AuditEntry.target) == operator_id,
            col(AuditEntry.outcome) == "ok",
        )
        .order_by(col(AuditEntry.seq).desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return int(row[0]), datetime.fromisoformat(str(row[1]))


def gather_facts(
    store: Store,
    settings: Settings,
    kind: Kind,
    now: datetime,
    *,
    operator_id: str = "op-owner",
    tenant_id: str | None = None,
) -> BriefingFacts:
    """Read the store once and return the facts of a ``kind`` briefing as of ``now``."""
    now = _aware(now) or datetime.now(UTC)
    with store.session() as s:
        last = last_briefing_seq(s, kind, operator_id)
        if last is not None:
            window_start: datetime | None = last[1]
            window_label = "since the last briefing"
        else:
            window_start = now - (timedelta(days=1) if kind == "daily" else timedelta(days=7))
            window_label = "in the last 24 hours" if kind == "daily" else "in the last 7 days"
        demo_q = select(Tenant.id).where(col(Tenant.is_demo))
        if tenant_id is not None:
            demo_q = demo_q.where(col(Tenant.id) == tenant_id)
        demo = s.exec(demo_q.limit(1)).first() is not None
        facts = BriefingFacts(kind, now, window_start, window_label, demo, tenant_id or "fleet")
        rows = _instances(s, tenant_id)
        _count(facts, rows)
        in_scope = {r["id"] for r in rows} if tenant_id is not None else None
        audit_rows = _audit_rows(s, last[0] if last else None, window_start)
        _events(facts, audit_rows, in_scope, _job_starters(s, audit_rows))
        facts.incidents = _incidents(s, window_start)
        facts.sla = _sla(rows, now)
        op = s.get(Operator, operator_id)
        facts.operator = op.name if op is not None else ""
        facts.users_down = sum(1 for r in rows if r["role"] == "primary" and r["state"] in NOT_SERVING)
        facts.cost = _cost(s, settings, rows, now, tenant_id, operator_id)
    return facts


def _instances(s: Session, tenant_id: str | None) -> list[dict[str, Any]]:
    columns: tuple[Any, ...] = (
        Instance.id,
        Instance.account_id,
        Instance.role,
        Instance.provider,
        Instance.region,
        Instance.tier,
        Instance.state,
        Instance.monthly_price,
        Instance.currency,
        Instance.updated_at,
        Instance.health_reason,
        Instance.cpu_p95,
        Instance.mem_p95,
    )
    stmt = sa_select(*columns).where(col(Instance.state).not_in(GONE))
    if tenant_id is not None:
        stmt = stmt.where(col(Instance.tenant_id) == tenant_id)
    keys = (
        "id",
        "account_id",
        "role",
        "provider",
        "region",
        "tier",
        "state",
        "monthly_price",
        "currency",
        "updated_at",
        "health_reason",
        "cpu_p95",
        "mem_p95",
    )
    return [dict(zip(keys, row, strict=True)) for row in s.connection().execute(stmt).all()]


def _count(facts: BriefingFacts, rows: list[dict[str, Any]]) -> None:
    by_state: Counter[str] = Counter()
    by_provider: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        by_state[r["state"]] += 1
        by_provider[r["provider"]][r["state"]] += 1
    facts.total = len(rows)
    facts.pairs = len({r["account_id"] for r in rows})
    facts.by_state = dict(by_state.most_common())
    facts.by_provider = {
        p: dict(c.most_common()) for p, c in sorted(by_provider.items(), key=lambda kv: -kv[1].total())
    }


def _audit_rows(s: Session, after_seq: int | None, since: datetime | None) -> list[tuple[str, str, str, str]]:
    """(action, target, outcome, detail) of the entries a briefing reads, in chain order."""
    interesting = or_(
        col(AuditEntry.action).like("restart_%"),
        col(AuditEntry.action) == "failover",
        col(AuditEntry.action) == "guardian.state",
        col(AuditEntry.action).like("guardian.heal.%"),
        col(AuditEntry.action).like("refused.%"),
        col(AuditEntry.action).in_(("resize", "teardown", "provision_pair")),
    )
    stmt = select(AuditEntry.action, AuditEntry.target, AuditEntry.outcome, AuditEntry.detail).where(interesting)
    if after_seq is not None:
        stmt = stmt.where(col(AuditEntry.seq) > after_seq)
    elif since is not None:
        stmt = stmt.where(col(AuditEntry.ts) >= since.astimezone(UTC).isoformat(timespec="microseconds"))
    return [(str(a), str(t), str(o), str(d)) for a, t, o, d in s.exec(stmt.order_by(col(AuditEntry.seq))).all()]


def _job_starters(s: Session, rows: Iterable[tuple[str, str, str, str]]) -> dict[str, str]:
    """Job id → who started it, for the jobs whose steps the window's audit rows mention."""
    ids: set[str] = set()
    for _action, _target, _outcome, detail_text in rows:
        if '"job"' in detail_text:
            try:
                job = json.loads(detail_text).get("job")
            except (ValueError, AttributeError):
                continue
            if job:
                ids.add(str(job))
    if not ids:
        return {}
    found = s.exec(
        select(JobRecord.id, JobRecord.started_by, PlanRecord.decided_channel, Operator.name)
        .join(PlanRecord, col(PlanRecord.id) == col(JobRecord.plan_id))
        .join(Operator, col(Operator.id) == col(JobRecord.started_by), isouter=True)
        .where(col(JobRecord.id).in_(sorted(ids)))
    ).all()
    return {str(i): "guardian" if channel == "guardian" else str(name or who) for i, who, channel, name in found}


def _credit(who: str) -> str:
    """ "guardian" for Guardian's own work (its actor or a job it started), else the operator's name."""
    name = who.split("@")[-1] if "@" in who else who
    return "guardian" if who.startswith("guardian") or name == "guardian" else name


def _targets(target: str, in_scope: set[str] | None) -> list[str]:
    ids = [t for t in target.split(",") if t]
    return ids if in_scope is None else [t for t in ids if t in in_scope]


def _events(
    facts: BriefingFacts,
    rows: Iterable[tuple[str, str, str, str]],
    in_scope: set[str] | None,
    starters: Mapping[str, str] | None = None,
) -> None:
    healed: dict[str, str] = {}
    for action, target, outcome, detail_text in rows:
        try:
            detail: Any = json.loads(detail_text) if detail_text else {}
        except ValueError:
            detail = {}
        if not isinstance(detail, dict):
            detail = {}
        if action.startswith("refused."):
            facts.refusals += 1
        elif action == "guardian.state":
            if outcome == "ok" and detail.get("to") == InstanceState.ACTIVE.value and detail.get("from") in HEALED_FROM:
                healed.update(dict.fromkeys(_targets(target, in_scope), "guardian"))
        elif action.startswith("guardian.heal."):
            if outcome == "escalated":
                escalated = _targets(target, in_scope)
                facts.escalations += len(escalated)
        else:
            ids = _targets(target, in_scope)
            if not ids:
                continue
            if outcome == "failed":
                facts.failed_steps += 1
                if action == "failover":
                    facts.failovers_failed.extend(ids)
            elif outcome == "ok" and action == "failover":
                facts.failovers.extend(ids)
            elif outcome == "ok" and action.startswith("restart_") and "healthy after" in str(detail.get("detail", "")):
                who = (starters or {}).get(str(detail.get("job", "")), "")
                healed.update(dict.fromkeys(ids, _credit(who) if who else "the team"))
    facts.healed = list(healed)
    by: dict[str, list[str]] = {}
    for instance_id, who in healed.items():
        by.setdefault(who, []).append(instance_id)
    facts.healed_by = by


def _incidents(s: Session, since: datetime | None) -> list[IncidentFact]:
    """Incidents still open, plus those opened in the window (a short outage overnight is news)."""
    stmt = select(Incident).where(col(Incident.status) == "open")
    if since is not None:
        stmt = select(Incident).where(or_(col(Incident.status) == "open", col(Incident.opened_at) >= since))
    out = [
        IncidentFact(
            i.id, i.title, i.provider, i.region, i.status, _aware(i.opened_at) or datetime.now(UTC), _aware(i.closed_at)
        )
        for i in s.exec(stmt.order_by(col(Incident.opened_at))).all()
    ]
    return out


def _sla(rows: list[dict[str, Any]], now: datetime) -> list[SlaBreach]:
    out = []
    for r in rows:
        if r["role"] != "primary" or r["state"] not in NOT_SERVING:
            continue
        since = _aware(r["updated_at"]) or now
        minutes = (now - since).total_seconds() / 60
        if minutes > SLA_MINUTES:
            out.append(
                SlaBreach(
                    r["id"], r["account_id"], r["provider"], r["region"], r["state"], minutes, r["health_reason"] or ""
                )
            )
    return sorted(out, key=lambda b: -b.minutes)


def _eur(r: Mapping[str, Any], settings: Settings) -> float:
    try:
        return to_eur(float(r["monthly_price"]), str(r["currency"]), settings.usd_to_eur)
    except ClawOpsError:  # an unknown currency must not sink the whole briefing
        return float(r["monthly_price"])


_SPOKEN_FINDING = {
    "idle": "tearing down {count} idle accounts",
    "oversized": "downsizing {count} oversized instances",
    "cheaper_elsewhere": "moving {count} instances to cheaper providers",
}


def _ledger_cost(
    s: Session, settings: Settings, now: datetime, operator_id: str, tenant_id: str | None
) -> CostFacts | None:
    """The Ledger's own numbers (``engine.ledger.cost_analysis``), or None when it is absent or fails.

    Preferred over the simple price sum below so the briefing and ``cost_analysis`` never disagree: the savings
    are the Ledger's findings themselves (same counts, same money, same words as the chat's numbered list).
    """
    try:
        from engine.ledger import cost_analysis, deferral_text, finding_scope
        from engine.policy import Caller, Role
    except ImportError:
        return None
    try:
        caller = Caller(operator_id=operator_id, name="briefer", role=Role.VIEWER, tenant_id=tenant_id, agent="briefer")
        result = cost_analysis(s, caller, "report", "week", settings, now=now)
        totals, history = result["totals"], result.get("history") or {}
        week, source = float(totals["weekly_eur"]), "ledger (list prices)"
        if int(history.get("period_days_covered") or 0) >= 7 and history.get("period_actual_eur") is not None:
            week, source = float(history["period_actual_eur"]), "ledger (recorded daily spend)"
        by_provider = {str(p): float(v["period_eur"]) for p, v in (result.get("by_provider") or {}).items()}
        money = Money.of(settings)
        savings = []
        for f in result.get("findings") or []:
            count = int(f.get("count") or 0)
            if not count or float(f.get("monthly_savings_eur") or 0) <= 0:
                continue
            spoken = _SPOKEN_FINDING.get(str(f.get("id")), "acting on {count} " + str(f.get("unit", "instances")))
            savings.append(
                Saving(
                    str(f.get("id")),
                    f"{f.get('action_text', '')}: {count} {f.get('title', '')}",
                    count,
                    float(f["monthly_savings_eur"]),
                    spoken.format(count=count),
                    finding_scope(f),
                    deferral_text(f, money),
                )
            )
        return CostFacts(
            week,
            float(totals["monthly_eur"]),
            by_provider,
            sorted(savings, key=lambda x: -x.monthly_eur),
            source,
            money,
        )
    except (ClawOpsError, KeyError, TypeError, ValueError) as exc:
        log.warning("ledger cost analysis unavailable for the briefing (%s); using list prices", exc)
        return None


def _cost(
    s: Session,
    settings: Settings,
    rows: list[dict[str, Any]],
    now: datetime,
    tenant_id: str | None,
    operator_id: str = "op-owner",
) -> CostFacts:
    ledger = _ledger_cost(s, settings, now, operator_id, tenant_id)
    if ledger is not None:
        return ledger
    billed = [r for r in rows if r["state"] in BILLED_STATES]
    month = sum(_eur(r, settings) for r in billed)
    by_provider_month: dict[str, float] = defaultdict(float)
    for r in billed:
        by_provider_month[r["provider"]] += _eur(r, settings)
    week_factor = 7 / DAYS_PER_MONTH
    by_provider_week = {p: v * week_factor for p, v in sorted(by_provider_month.items(), key=lambda kv: -kv[1])}
    week, source = month * week_factor, "list prices"
    first_day = (now - timedelta(days=7)).date()
    snaps = _snapshots(s, first_day, now.date(), tenant_id)
    if snaps:
        by_provider_week, source = snaps, "cost snapshots"
        week = sum(snaps.values())
    # Savings by the fallback rules only on a build without the Ledger; when the Ledger is there but failed, the
    # briefing names no saving rather than one the chat's findings would contradict.
    savings = _savings(s, settings, billed, now) if _ledger_missing() else []
    return CostFacts(week, month, by_provider_week, savings, source, Money.of(settings))


def _ledger_missing() -> bool:
    try:
        import engine.ledger  # noqa: F401 - only whether it can be imported
    except ImportError:
        return True
    return False


def _snapshots(s: Session, first: date, last: date, tenant_id: str | None) -> dict[str, float]:
    """Actual daily spend per provider over the last 7 days, when the Ledger has recorded it."""
    stmt = select(CostSnapshot.provider, CostSnapshot.daily_eur).where(
        col(CostSnapshot.day) >= first.isoformat(), col(CostSnapshot.day) < last.isoformat()
    )
    if tenant_id is not None:
        stmt = stmt.where(col(CostSnapshot.tenant_id) == tenant_id)
    out: dict[str, float] = defaultdict(float)
    for provider, daily in s.exec(stmt).all():
        out[str(provider)] += float(daily)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _savings(s: Session, settings: Settings, billed: list[dict[str, Any]], now: datetime) -> list[Saving]:
    """The Ledger's two SQL findings, priced: idle accounts torn down, oversized servers one tier down."""
    cutoff = now - timedelta(days=IDLE_DAYS)
    accounts = {r["account_id"] for r in billed}
    idle_ids = {
        a
        for a, seen in s.exec(select(Account.id, Account.last_session_at)).all()
        if a in accounts and seen is not None and (_aware(seen) or now) < cutoff
    }
    idle = [r for r in billed if r["account_id"] in idle_ids]
    out = []
    if idle:
        out.append(
            Saving(
                "idle",
                f"tear down {len(idle_ids)} idle pairs (no session in {IDLE_DAYS} days)",
                len(idle),
                sum(_eur(r, settings) for r in idle),
                f"tearing down {len(idle_ids)} idle pairs",
            )
        )
    oversized_eur, oversized = 0.0, 0
    for r in billed:
        if r["account_id"] in idle_ids or r["tier"] not in TIER_BELOW:
            continue
        cpu, mem = r["cpu_p95"], r["mem_p95"]
        if cpu is None or mem is None or cpu >= OVERSIZED_CPU_P95 or mem >= OVERSIZED_MEM_P95:
            continue
        try:
            lower = PLANS[(Provider(r["provider"]), TIER_BELOW[r["tier"]])]
        except (KeyError, ValueError):
            continue
        diff = _eur(r, settings) - to_eur(lower.monthly, lower.currency, settings.usd_to_eur)
        if diff > 0:
            oversized += 1
            oversized_eur += diff
    if oversized:
        out.append(
            Saving(
                "oversized",
                f"downsize {oversized} oversized servers one tier",
                oversized,
                oversized_eur,
                f"downsizing {oversized} oversized servers by one tier",
            )
        )
    return sorted(out, key=lambda x: -x.monthly_eur)


def region_city(region: str) -> str:
    """ "Falkenstein" for eu-hetzner-fsn1; the raw name when it is not in the catalog."""
    try:
        return parse_region(region).city
    except ClawOpsError:
        return region
