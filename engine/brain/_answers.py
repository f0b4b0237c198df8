"""Answers people want, in words: the audit as a short story, money in the operator's currency, numbered waste.

Pure functions of tool results (and the clock, passed in), so the offline and the LLM brain's turns say the
same thing, and tests need no store.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.ledger import Money, deferral_clause, finding_line, savings_from_steps

__all__ = ["SINCE_WORDS", "audit_narrative", "leaks", "money", "numbered_findings", "resolve_since", "savings_text"]

_TOOL_NAMES = (
    "fleet_status",
    "instance_inspect",
    "instance_diagnose",
    "provision_pairs",
    "config_push",
    "cost_analysis",
    "provider_health",
    "silence_alerts",
    "audit_query",
    "job_status",
    "guardian_sweep",
    "briefing_schedule",
)
_LEAK_RE = re.compile(
    r"Traceback|\b[A-Z][A-Za-z]*(?:Error|Exception)\b|\bhas no argument\b|\bNoneType\b|\bself\.|"
    r"\b(?:" + "|".join(_TOOL_NAMES) + r")\b|\bdict\[|\bselector=|\bargs=|__\w+__|\bnot subscriptable\b|"
    r"\bunexpected keyword\b|\bobject has no attribute\b"
)


def leaks(reply: str) -> list[str]:
    """Internal identifiers, exception names or tool-argument errors that must never reach an operator."""
    return [m.group(0) for m in _LEAK_RE.finditer(reply)]


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SINCE_WORDS = (
    "overnight",
    "last night",
    "yesterday",
    "today",
    "this morning",
    "this week",
    "the weekend",
    "the last hour",
    *_WEEKDAYS,
)
"""Relative times the brain passes on as words; :func:`resolve_since` turns them into a moment."""

_TOOL_WORDS = {
    "restart": ("restarted", "restart"),
    "teardown": ("tore down", "teardown"),
    "resize": ("resized", "resize"),
    "failover": ("failed over", "failover"),
    "config_push": ("pushed config to", "config push"),
    "provision_pairs": ("provisioned", "provisioning"),
    "silence_alerts": ("silenced alerts on", "silence"),
}


def resolve_since(word: str, now: datetime | None = None) -> str:
    """An ISO time for a relative time ("overnight" → yesterday 18:00 UTC, "friday" → last Friday 00:00).

    Anything else (``24h``, ``7d``, an ISO date) is passed through for the audit query to read.
    """
    now = now or datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    text = word.strip().lower()
    when: datetime | None = None
    if text in ("overnight", "last night"):
        when = midnight - timedelta(hours=6)
    elif text == "yesterday":
        when = midnight - timedelta(days=1)
    elif text in ("today", "this morning"):
        when = midnight
    elif text == "this week":
        when = midnight - timedelta(days=now.weekday())
    elif text == "the weekend":
        when = midnight - timedelta(days=(now.weekday() - 5) % 7 or 7)
    elif text == "the last hour":
        when = now - timedelta(hours=1)
    elif text in _WEEKDAYS:
        back = (now.weekday() - _WEEKDAYS.index(text)) % 7 or 7
        when = midnight - timedelta(days=back)
    return when.isoformat() if when is not None else word


def money(eur: float, currency: str = "USD", usd_to_eur: float = 0.92) -> str:
    """An amount kept in EUR, shown in the operator's currency (USD by default: "$220"), by the Ledger's one
    :class:`~engine.ledger.Money`, so every reply shows the same figure for the same thing."""
    return Money.named(currency, usd_to_eur).text(eur)


def numbered_findings(result: dict[str, Any], currency: str = "USD", usd_to_eur: float = 0.92) -> tuple[str, list[str]]:
    """Waste findings as a numbered list ("1. idle: 3 instances, save $82/month — tear down") and their ids."""
    listed = [f for f in result.get("findings", []) if isinstance(f, dict) and f.get("count")]
    # Numbered as Ledger's answer lists them: one-confirmation fixes first, provider moves last.
    findings = [f for f in listed if (f.get("action") or {}).get("tool")] + [
        f for f in listed if not (f.get("action") or {}).get("tool")
    ]
    lines: list[str] = []
    ids: list[str] = []
    shown = Money.named(currency, usd_to_eur)
    for number, finding in enumerate(findings, start=1):
        fid = str(finding.get("id", "?"))
        ids.append(fid)
        action = finding.get("action") or {}
        tool = action.get("tool") if isinstance(action, dict) else None
        how = {"teardown": "tear down", "resize": "downsize"}.get(str(tool), "move to a cheaper provider (Forge)")
        lines.append(f"{number}. {finding_line(finding, shown)} — {how}")
    if not lines:
        return "", []
    total = shown.total_text(float(f.get("monthly_savings_eur", 0.0)) for f in findings)
    head = f'Findings (say "fix 1" or "fix 1 and 2"), up to {total}/month in all:'
    return "\n".join([head, *lines]), ids


def savings_text(plans: list[dict[str, Any]], currency: str = "USD", usd_to_eur: float = 0.92) -> str:
    """What the last fix saves, read from its plans (not a rescan), with the total."""
    if not plans:
        return "Nothing has run in this conversation yet, so it has saved nothing."
    parts = []
    deltas = []
    for plan in plans:
        delta = float(plan.get("monthly_cost_delta", 0.0))
        deltas.append(delta)
        status = plan.get("job_status") or "ran"
        verb = "saves" if delta < 0 else "adds"
        summary = str(plan.get("summary", "")).split(";")[0].rstrip(".")
        saved = savings_from_steps(plan.get("steps") or [], datetime.now(UTC).date()) if delta < 0 else None
        later = deferral_clause(saved, Money.named(currency, usd_to_eur)) if saved is not None else ""
        parts.append(
            f"plan {plan['id']} ({summary}; {status}) {verb} "
            f"{money(abs(delta), currency, usd_to_eur)}/month" + (f", {later}" if later else "")
        )
    shown = Money.named(currency, usd_to_eur)
    total = shown.total(deltas)  # the parts as shown add up to it
    head = (
        f"That saves about {shown.format(-total)}/month in all: "
        if total < 0
        else f"That saved nothing; it adds {shown.format(total)}/month: "
    )
    return head + "; ".join(parts) + "."


def _who(actor: str) -> str:
    name = actor.split("@", 1)[0]
    return name.capitalize() if name in ("guardian", "forge", "ledger", "triage", "briefer", "commander") else name


def audit_narrative(entries: list[dict[str, Any]], since_label: str = "") -> str:
    """The audit as a short story, oldest first: who did what, why, and how it ended."""
    if not entries:
        span = f" {since_label}" if since_label else ""
        return f"Nothing was done{span}: the audit log has no entries for that time."
    ordered = sorted(entries, key=lambda e: int(e.get("seq", 0)))
    plans: dict[str, dict[str, Any]] = {}
    steps: dict[str, Counter[str]] = defaultdict(Counter)
    lines: list[str] = []
    others: Counter[tuple[str, str, str]] = Counter()
    for entry in ordered:
        action = str(entry.get("action", ""))
        detail = entry.get("detail") or {}
        job = detail.get("job") if isinstance(detail, dict) else None
        if action.startswith("plan."):
            plans[str(entry.get("target"))] = entry
        elif entry.get("channel") == "job" and job:
            steps[str(job)][str(entry.get("outcome", "ok"))] += 1
        elif not action.startswith(("confirm.", "brain.", "memory.", "login", "session")):
            others[(_who(str(entry.get("actor", "?"))), action, str(entry.get("outcome", "")))] += 1
    for entry in ordered:
        action = str(entry.get("action", ""))
        if not action.startswith("confirm."):
            continue
        tool = action.split(".", 1)[1]
        detail = entry.get("detail") or {}
        plan = plans.get(str(entry.get("target")), {})
        args = (plan.get("detail") or {}).get("args") or {}
        what = _TOOL_WORDS.get(tool, (tool.replace("_", " "), tool))[0]
        users = detail.get("affected_users")
        scope = _scope(args)
        why = "you confirmed it" if detail.get("how") == "operator confirmed" else str(detail.get("how", "approved"))
        counted = steps.get(str(detail.get("job")), Counter())
        result = ", ".join(f"{n} {k}" for k, n in counted.most_common()) or "no steps recorded yet"
        when = str(entry.get("ts", ""))[11:16]
        lines.append(
            f"{when} {_who(str(entry.get('actor', '?')))} {what} {scope}"
            f"{f' ({users} users)' if users else ''} — why: {why}; result: {result}."
        )
    for (who, action, outcome), n in others.most_common(4):
        lines.append(f"{who}: {action.replace('_', ' ').replace('.', ' ')} ×{n}{f' ({outcome})' if outcome else ''}.")
    span = f" {since_label}" if since_label else ""
    head = f"Here is what happened{span}:" if lines else f"Nothing was changed{span}."
    return "\n".join([head, *lines[:8]])


def _scope(args: dict[str, Any]) -> str:
    selector = args.get("selector") if isinstance(args.get("selector"), dict) else None
    if selector is None:
        if args.get("count"):
            return f"{args['count']} new pairs"
        return "the fleet"
    ids: list[str] = [*(selector.get("accounts") or []), *(selector.get("instances") or [])]
    if ids:
        return ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
    what = " ".join(str(selector[k]).lower() for k in ("state", "tier") if selector.get(k))
    if selector.get("role"):
        what = f"{what} {selector['role']}s".strip()
    elif selector.get("finding"):
        what = f"{what} {str(selector['finding']).replace('_', ' ')} instances".strip()
    else:
        what = f"{what} instances".strip()
    where = " ".join(
        f"{prep} {selector[k]}" for k, prep in (("provider", "on"), ("region", "in"), ("geo", "in")) if selector.get(k)
    )
    return re.sub(r"\s+", " ", f"the {what} {where}").strip()
