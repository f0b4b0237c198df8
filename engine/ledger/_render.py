"""What the operator reads: a short reply (numbers first), text sparklines, and SVG charts.

No plotting library is installed in the project and none is needed: the two
report charts are a few dozen SVG elements written by hand (the HTML report
embeds SVG directly; a PNG renderer can be added later without changing the
data).  Sparklines are the eight Unicode block characters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from html import escape
from pathlib import Path
from typing import Any

from engine.ledger._money import Money
from engine.ledger._savings import Deferred, Savings

BLOCKS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 30
PROVIDER_COLOURS = {
    "hetzner": "#d50c2d",
    "digitalocean": "#0069ff",
    "vultr": "#007bfc",
    "contabo": "#1f9d55",
    "hostinger": "#673de6",
    "sim": "#888888",
}


def sparkline(values: Sequence[float], width: int = SPARK_WIDTH) -> str:
    """A one-line chart of ``values`` (the last ``width`` points); flat series draw as a flat line."""
    pts = [float(v) for v in values][-width:]
    if not pts:
        return ""
    lo, hi = min(pts), max(pts)
    if hi - lo < 1e-9:
        return BLOCKS[3] * len(pts)
    return "".join(BLOCKS[min(7, int((v - lo) / (hi - lo) * 7 + 0.5))] for v in pts)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def finding_scope(finding: dict[str, Any], adjective: str = "") -> str:
    """What a finding covers, in the unit it is counted in: "22 accounts (44 instances)" for idle pairs (a
    teardown removes both halves), "128 instances" otherwise; ``adjective`` goes before the noun ("22 idle
    accounts (44 instances)")."""
    count = int(finding.get("count") or 0)
    unit = str(finding.get("unit") or "instances")
    noun = f"{adjective} " if adjective else ""
    if unit == "accounts":
        text = f"{count:,} {noun}account{'' if count == 1 else 's'}"
        instances = int(finding.get("instances") or 0)
        return text + (f" ({_plural(instances, 'instance')})" if instances else "")
    return f"{count:,} {noun}instance{'' if count == 1 else 's'}"


def _day(d: date) -> str:
    return f"{d.day} {d:%b}"


def deferral_clause(saved: Savings, money: Money) -> str:
    """The part of a saving that waits for paid contract terms to end, or "" when all of it starts now:
    "$22.28 of it only once the paid terms of 3 Contabo instances end, by 15 Dec"."""
    later = [d for d in saved.deferred if d.monthly_eur > 0]
    if not later:
        return ""
    names = "/".join(d.provider.capitalize() for d in later)
    count = sum(d.instances for d in later)
    return (
        f"{money.text(math.fsum(d.monthly_eur for d in later))} of it only once the paid terms of "
        f"{_plural(count, names + ' instance')} end, by {_day(max(d.until for d in later))}"
    )


def deferral_text(finding: dict[str, Any], money: Money) -> str:
    """:func:`deferral_clause` for a finding (read from its ``savings_start``)."""
    start = finding.get("savings_start") or {}
    deferred = tuple(
        Deferred(
            str(d["provider"]),
            int(d.get("instances") or 0),
            float(d.get("monthly_eur") or 0.0),
            date.fromisoformat(str(d["from"])),
            date.fromisoformat(str(d["until"])),
        )
        for d in start.get("deferred") or []
    )
    total = float(finding.get("monthly_savings_eur") or 0.0)
    return deferral_clause(Savings(total, float(start.get("from_now_eur") or 0.0), deferred), money)


def saving_text(saved: Savings, money: Money) -> str:
    """A plan's saving in one sentence, computed by the same functions as the finding it acts on: "Saves about
    $654/month, $22.28 of it only once the paid terms of 3 Contabo instances end, by 15 Dec."."""
    later = deferral_clause(saved, money)
    return f"Saves about {money.text(saved.monthly_eur)}/month" + (f", {later}" if later else "") + "."


def finding_line(finding: dict[str, Any], money: Money) -> str:
    """One finding as the numbered list shows it: "idle: 22 accounts (44 instances), save $654/month", and the
    part that waits for contract terms when there is one."""
    line = (
        f"{str(finding.get('id', '?')).replace('_', ' ')}: {finding_scope(finding)}, "
        f"save {money.text(float(finding.get('monthly_savings_eur') or 0.0))}/month"
    )
    later = deferral_text(finding, money)
    return f"{line} ({later})" if later else line


def cost_analysis_text(result: dict[str, Any]) -> str:
    """A short operator-facing reply for a :func:`cost_analysis` result: numbers first, in the operator's
    currency (the result's ``display``), every figure converted and rounded once by :class:`Money`."""
    money = Money.from_result(result)
    _eur = money.text
    kind = result.get("kind")
    demo = "DEMO " if result.get("demo") else ""
    totals = result["totals"]
    lines: list[str] = []
    per = "week" if result.get("period") == "week" else "month"
    spend = totals["weekly_eur"] if per == "week" else totals["monthly_eur"]
    head = f"{demo}Spend: {_eur(spend)}/{per} run-rate on {_plural(totals['instances'], 'instance')}"
    if kind == "report" and totals.get("month_to_date_eur") is not None:
        head += f", {_eur(totals['month_to_date_eur'])} so far this month"
    if result.get("scope") not in (None, "all tenants"):
        head += f" (tenant {result['scope']})"
    lines.append(head + ".")
    if kind == "waste" or kind == "report":
        findings = [f for f in result.get("findings", []) if f["count"]]
        # One confirmation away (a tool call) first; moves to another provider are a project for Forge.
        quick = [f for f in findings if (f.get("action") or {}).get("tool")]
        moves = [f for f in findings if f not in quick]
        if quick:
            total = money.total_text(f["monthly_savings_eur"] for f in quick)
            head_line = f"We could save {total}/month: " + ", ".join(_finding_phrase(f, money) for f in quick)
            for f in moves:
                head_line += (
                    f"; moving {f['count']:,} instances to cheaper providers would save "
                    f"{_eur(f['monthly_savings_eur'])}/month more (a plan for Forge)"
                )
            lines.insert(0, head_line + ".")
        elif moves:
            f = moves[0]
            lines.insert(
                0,
                f"Moving {f['count']:,} instances to cheaper providers would save "
                f"{_eur(f['monthly_savings_eur'])}/month (a plan for Forge); nothing is idle or oversized.",
            )
        else:
            lines.insert(0, "No waste found: nothing idle, oversized or cheaper elsewhere.")
    if kind == "report":
        by_p = result.get("by_provider") or {}
        if by_p:
            lines.append("By provider: " + ", ".join(f"{p} {_eur(v['monthly_eur'])}" for p, v in by_p.items()) + ".")
    if kind == "forecast":
        fc = result["forecast"]
        trend = (
            f"{fc['growth_pct_per_month']:+.1f} %/month over {fc['history_days']} days of history"
            if fc.get("history_days", 0) >= 2
            else "no history yet, assumed flat"
        )
        lines.insert(
            0,
            f"{demo}Forecast: {_eur(fc['monthly_eur_in_30_days'])}/month in 30 days "
            f"({trend}), next {per} {_eur(fc['next_period_eur'])}.",
        )
        lines.append(fc["budget"]["note"])
        full = [h for h in fc.get("headroom", []) if "full_in_days" in h or h.get("full_on")]
        if full:
            lines.append(
                "Quota: "
                + ", ".join(
                    f"{h['region']} {'full now' if h.get('full_on') else 'full in ' + str(h['full_in_days']) + ' d'}"
                    for h in full[:4]
                )
                + "."
            )
        elif fc.get("headroom"):
            top = fc["headroom"][0]
            lines.append(f"Most concentrated: {top['region']} holds {top['primary_share_pct']:.0f} % of primaries.")
    hist = result.get("history") or {}
    series = hist.get("daily_eur") or []
    if len(series) >= 2:
        lines.append(
            f"Daily spend, last {min(len(series), SPARK_WIDTH)} days: {sparkline(series)} ({_eur(series[-1])}/day)"
        )
    notes = []
    note = _currency_note(result, money)
    if note:
        notes.append(note)
    unknown = result.get("unknown") or {}
    for key, what in (
        ("price", "without a usable price (left out of the totals, not guessed)"),
        ("usage", "without usage data yet (not judged oversized)"),
        ("sessions", "without session data (not judged idle)"),
    ):
        n = unknown.get(key, {}).get("count", 0)
        if n:
            noun = "account" if key == "sessions" else "instance"
            notes.append(f"{_plural(n, noun)} {what}")
    if notes:
        lines.append("Note: " + "; ".join(notes) + ".")
    return "\n".join(lines)


def _currency_note(result: dict[str, Any], money: Money) -> str:
    """Which prices were converted to show the figures in the operator's currency, at what rate."""
    if money.currency == "EUR":
        return str(result.get("currency_note") or "")
    totals = result.get("totals") or {}
    eur_priced = int(totals.get("priced_instances") or 0) - int(result.get("usd_instances") or 0)
    return f"EUR prices shown in USD at {money.usd_to_eur:g} EUR per USD" if eur_priced > 0 else ""


_DOING = {
    "idle": "tearing down {what}",
    "oversized": "downsizing {what} to nano",
    "cheaper_elsewhere": "moving {what} to cheaper providers",
}


def _finding_phrase(f: dict[str, Any], money: Money) -> str:
    """ "$654 by tearing down 22 idle accounts (44 instances)": the money first, then the scope it covers."""
    what = finding_scope(f, str(f["id"]).replace("_", " "))
    doing = _DOING.get(str(f["id"]), "acting on {what}").format(what=what)
    return f"{money.text(f['monthly_savings_eur'])} by {doing}"


# ---------------------------------------------------------------------------- SVG charts
def spend_chart_svg(result: dict[str, Any], width: int = 640, height: int = 240) -> str:
    """Stacked area chart of daily spend by provider over the report's history (a ``report`` result)."""
    hist = result.get("history") or {}
    series: dict[str, list[float]] = hist.get("by_provider_daily_eur") or {}
    days: list[str] = hist.get("chart_days") or []
    money = Money.from_result(result)
    title = f"Daily spend by provider ({money.currency})"
    if not series or len(days) < 2:
        return _svg(
            width,
            height,
            title,
            ['<text x="20" y="120" font-size="13">No history yet: snapshots are recorded daily.</text>'],
        )
    pad_l, pad_r, pad_t, pad_b = 56, 110, 30, 28
    w, h = width - pad_l - pad_r, height - pad_t - pad_b
    n = len(days)
    totals = [sum(v[i] for v in series.values()) for i in range(n)]
    top = max(totals) or 1.0
    base = [0.0] * n
    parts: list[str] = []
    for idx, (prov, values) in enumerate(sorted(series.items(), key=lambda kv: -sum(kv[1]))):
        upper = [base[i] + values[i] for i in range(n)]
        pts = [(pad_l + w * i / (n - 1), pad_t + h - h * upper[i] / top) for i in range(n)]
        low = [(pad_l + w * i / (n - 1), pad_t + h - h * base[i] / top) for i in reversed(range(n))]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts + low)
        colour = PROVIDER_COLOURS.get(prov, "#999999")
        parts.append(f'<polygon points="{path}" fill="{colour}" fill-opacity="0.75" stroke="none"/>')
        ly = pad_t + 14 * idx
        parts.append(
            f'<rect x="{width - pad_r + 10}" y="{ly}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{width - pad_r + 24}" y="{ly + 9}" font-size="11">{escape(prov)}</text>'
        )
        base = upper
    parts.append(
        f'<text x="{pad_l - 6}" y="{pad_t + 4}" font-size="10" text-anchor="end">{money.text(top)}</text>'
        f'<text x="{pad_l - 6}" y="{pad_t + h}" font-size="10" text-anchor="end">{money.symbol}0</text>'
        f'<text x="{pad_l}" y="{height - 8}" font-size="10">{escape(days[0])}</text>'
        f'<text x="{pad_l + w}" y="{height - 8}" font-size="10" text-anchor="end">{escape(days[-1])}</text>'
        f'<line x1="{pad_l}" y1="{pad_t + h}" x2="{pad_l + w}" y2="{pad_t + h}" stroke="#444"/>'
    )
    return _svg(width, height, title, parts)


def waste_chart_svg(result: dict[str, Any], width: int = 640, height: int = 180) -> str:
    """Horizontal bars: monthly saving per finding (a ``waste`` or ``report`` result)."""
    findings = [f for f in result.get("findings", []) if f["monthly_savings_eur"] > 0]
    money = Money.from_result(result)
    title = f"Waste: {money.total_text(f['monthly_savings_eur'] for f in findings)}/month could be saved"
    if not findings:
        return _svg(width, height, title, ['<text x="20" y="90" font-size="13">No waste found.</text>'])
    top = max(f["monthly_savings_eur"] for f in findings)
    bar_h, gap, left = 26, 14, 150
    parts = []
    colours = {"idle": "#c0392b", "oversized": "#e67e22", "cheaper_elsewhere": "#2980b9"}
    for i, f in enumerate(findings):
        y = 36 + i * (bar_h + gap)
        bw = (width - left - 120) * f["monthly_savings_eur"] / top
        label = f"{f['count']:,} {f['id'].replace('_', ' ')}"
        parts.append(
            f'<text x="{left - 8}" y="{y + 17}" font-size="12" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{left}" y="{y}" width="{bw:.1f}" height="{bar_h}" fill="{colours.get(f["id"], "#777")}"/>'
            f'<text x="{left + bw + 6:.1f}" y="{y + 17}" font-size="12">{money.text(f["monthly_savings_eur"])}/month</text>'
        )
    return _svg(width, max(height, 50 + len(findings) * (bar_h + gap)), title, parts)


def _svg(width: int, height: int, title: str, parts: list[str]) -> str:
    body = "".join(parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" role="img" aria-label="{escape(title)}">'
        f'<title>{escape(title)}</title><rect width="100%" height="100%" fill="#ffffff"/>'
        f'<text x="12" y="18" font-size="13" font-weight="bold">{escape(title)}</text>{body}</svg>'
    )


def save_charts(result: dict[str, Any], directory: Path) -> dict[str, Path]:
    """Write the report's charts as SVG files (for the HTML report); returns name → path.

    ``result`` is a ``report`` result (spend by provider over time and the waste bars from its findings)."""
    directory.mkdir(parents=True, exist_ok=True)
    out = {"spend_by_provider": directory / "spend_by_provider.svg", "waste": directory / "waste.svg"}
    out["spend_by_provider"].write_text(spend_chart_svg(result), encoding="utf-8")
    out["waste"].write_text(waste_chart_svg(result), encoding="utf-8")
    return out
