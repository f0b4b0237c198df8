"""The report as one self-contained HTML file: inline CSS and hand-drawn SVG charts, no scripts, no links.

Self-contained because it travels as a Telegram/WhatsApp document and is opened on a phone, often
offline: nothing may be fetched.  Readable at 390 px: charts carry a ``viewBox`` and scale to the width
(``width:100%``), the legend wraps inside the chart, long ids break inside table cells, so nothing is
wider than the screen.  Charts are simple horizontal bars (states per provider, stacked;
cost per provider; savings) drawn here in a few lines rather than with a charting library.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from engine.briefer._compose import conversion_note, saves_cell, title
from engine.briefer._facts import SLA_MINUTES, BriefingFacts
from engine.briefer._speech import duration_words

__all__ = ["STATE_COLOURS", "bar_chart", "html_report", "stacked_chart"]

STATE_COLOURS = {
    "ACTIVE": "#2e9d5b",
    "DEGRADED": "#e0a526",
    "HEALING": "#4f8fd6",
    "FAILED": "#d64545",
    "ERROR": "#8b1e1e",
    "STANDBY_PROMOTING": "#8e5bd6",
    "DRAINING": "#8a8a8a",
    "ARCHIVING": "#6b6b6b",
    "REQUESTED": "#b0c4de",
    "CREATING": "#87a8d0",
    "BOOTSTRAPPING": "#6c93c7",
}
_ROW, _LABEL, _WIDTH = 26, 105, 300
"""Chart geometry in SVG units: narrow enough that a phone scales the charts by 0.75 at most, text stays legible."""

_CSS = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:820px;padding:16px;color:#1d2330;overflow-wrap:anywhere}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #dde2ea}
table{border-collapse:collapse;width:100%;max-width:100%;margin:8px 0}th,td{border:1px solid #dde2ea;padding:4px 8px;text-align:left;overflow-wrap:anywhere;word-break:break-word}
th{background:#f3f5f9}.num{text-align:right}.muted{color:#667085}.summary p{margin:6px 0}
svg{display:block;width:100%;height:auto;margin:8px 0}svg text{font:13px system-ui,sans-serif;fill:#1d2330}
@media (max-width:520px){body{font-size:14px;padding:10px}h1{font-size:19px}
table.wide,table.wide tbody,table.wide tr,table.wide td{display:block;width:100%}table.wide thead{display:none}
table.wide tr{border:1px solid #dde2ea;margin:0 0 8px;padding:4px 6px}table.wide td{border:0;padding:1px 0;text-align:left}
table.wide td::before{content:attr(data-label) ": ";color:#667085}}
"""


def stacked_chart(rows: dict[str, dict[str, int]]) -> str:
    """One horizontal bar per label, split by state, scaled to the largest total; legend below."""
    if not rows:
        return ""
    biggest = max(sum(c.values()) for c in rows.values()) or 1
    states = [s for s in STATE_COLOURS if any(s in c for c in rows.values())]
    states += sorted({s for c in rows.values() for s in c} - set(states))
    full = _LABEL + _WIDTH + 60
    legend: list[tuple[int, int, str]] = []
    lx, ly = 0, 0
    for state in states:
        step = 24 + 8 * len(state)
        if lx and lx + step > full:
            lx, ly = 0, ly + 18
        legend.append((lx, ly, state))
        lx += step
    height = _ROW * len(rows) + 30 + ly
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {full} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" style="max-width:{full}px" '
        f'role="img" aria-label="Instances by provider and state">'
    ]
    for i, (label, counts) in enumerate(rows.items()):
        y, x = i * _ROW + 4, float(_LABEL)
        parts.append(f'<text x="0" y="{y + 14}">{escape(label)}</text>')
        for state in states:
            n = counts.get(state, 0)
            if not n:
                continue
            w = max(1.0, _WIDTH * n / biggest)
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="18" fill="{STATE_COLOURS.get(state, "#999")}">'
                f"<title>{escape(label)} {escape(state)}: {n}</title></rect>"
            )
            x += w
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 14}">{sum(counts.values())}</text>')
    base = _ROW * len(rows) + 12
    for x, y, state in legend:
        parts.append(
            f'<rect x="{x}" y="{base + y}" width="12" height="12" fill="{STATE_COLOURS.get(state, "#999")}"/>'
            f'<text x="{x + 16}" y="{base + y + 10}">{escape(state)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    values: dict[str, float],
    *,
    unit: str = "€",
    colour: str = "#4f6bd6",
    label: str = "",
    fmt: Callable[[float], str] | None = None,
) -> str:
    """Horizontal bars for label → amount, largest first as given; ``fmt`` writes each amount (default: ``unit``
    and whole units), e.g. ``Money.format`` so a bar shows the figure the table beside it shows."""
    if not values:
        return ""
    biggest = max(values.values()) or 1.0
    height = _ROW * len(values) + 4
    full = _LABEL + _WIDTH + 90
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {full} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" style="max-width:{full}px" role="img" aria-label="{escape(label)}">'
    ]
    for i, (name, amount) in enumerate(values.items()):
        y = i * _ROW + 4
        w = max(1.0, _WIDTH * amount / biggest)
        shown = name.replace("_", " ") if len(name) <= 14 else name.replace("_", " ")[:13] + "…"
        parts.append(
            f'<text x="0" y="{y + 14}">{escape(shown)}<title>{escape(name)}</title></text>'
            f'<rect x="{_LABEL}" y="{y}" width="{w:.1f}" height="18" fill="{colour}"/>'
            f'<text x="{_LABEL + w + 6:.1f}" y="{y + 14}">'
            f"{escape(fmt(amount)) if fmt else f'{unit}{amount:,.0f}'}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


_NUM = ' class="num"'


def _table(header: list[str], rows: list[list[str]], numeric: frozenset[int] = frozenset()) -> str:
    """A table; one with more than three columns becomes one card per row on a phone (labels from the header)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td{_NUM if i in numeric else ""} data-label="{escape(header[i])}">{escape(c)}</td>'
            for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    wide = ' class="wide"' if len(header) > 3 else ""
    return f"<table{wide}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_report(facts: BriefingFacts, script: str) -> str:
    """The whole report as a standalone HTML document."""
    heading = title(facts)
    window = (
        f"{facts.window_label} ({facts.window_start:%d %b %H:%M} UTC to {facts.now:%d %b %H:%M} UTC)"
        if facts.window_start
        else facts.window_label
    )
    out = [
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{escape(heading)}</title>'
        f"<style>{_CSS}</style></head><body>",
        f'<h1>{escape(heading)}</h1><p class="muted">Briefer — events {escape(window)}.</p>',
        '<h2>Summary</h2><div class="summary">'
        + "".join(f"<p>{escape(p)}</p>" for p in script.split("\n\n"))
        + "</div>",
        f"<h2>Fleet</h2><p>{facts.total} instances on {facts.pairs} pairs.</p>",
        _table(["State", "Instances"], [[s, str(n)] for s, n in facts.by_state.items()], frozenset({1})),
        stacked_chart(facts.by_provider),
    ]
    out.append(
        "<h2>Healed and failed over</h2><ul>"
        f"<li>Healed: {len(facts.healed)} {escape(', '.join(facts.healed[:50]))}"
        + "".join(
            f'<br><span class="muted">by {escape(who)}: {len(ids)}</span>' for who, ids in facts.healed_by.items()
        )
        + "</li>"
        f"<li>Failed over: {len(facts.failovers)} {escape(', '.join(facts.failovers[:50]))}</li>"
        f"<li>Failovers that failed: {len(facts.failovers_failed)} {escape(', '.join(facts.failovers_failed[:50]))}</li>"
        f"<li>Failed job steps: {facts.failed_steps}; heals escalated: {facts.escalations}; "
        f"policy refusals: {facts.refusals}</li></ul>"
    )
    out.append("<h2>Incidents</h2>")
    out.append(
        _table(
            ["Id", "Title", "Provider", "Region", "Status", "Opened (UTC)", "Closed (UTC)"],
            [
                [
                    i.id,
                    i.title,
                    i.provider or "",
                    i.region or "",
                    i.status,
                    f"{i.opened_at:%Y-%m-%d %H:%M}",
                    f"{i.closed_at:%Y-%m-%d %H:%M}" if i.closed_at else "",
                ]
                for i in facts.incidents
            ],
        )
        if facts.incidents
        else "<p>None.</p>"
    )
    out.append(
        f'<h2>SLA breaches</h2><p class="muted">A breach is a user without a serving gateway for more than '
        f"{SLA_MINUTES} minutes: their primary is FAILED, ERROR or STANDBY_PROMOTING and has not changed state "
        "for that long.</p>"
    )
    out.append(
        _table(
            ["Instance", "Account", "Provider", "Region", "State", "Down for", "Reason"],
            [
                [b.instance_id, b.account_id, b.provider, b.region, b.state, duration_words(b.minutes), b.reason]
                for b in facts.sla
            ],
        )
        if facts.sla
        else "<p>None.</p>"
    )
    if facts.cost is not None:
        cost = facts.cost
        money = cost.money
        out.append(
            f"<h2>Cost</h2><p>This week: <strong>{escape(money.text(cost.week_eur))}</strong>; monthly run "
            f'rate {escape(money.text(cost.month_eur))} <span class="muted">(source: {escape(cost.source)}; '
            f"{escape(conversion_note(money))})</span>.</p>"
        )
        out.append(
            bar_chart(
                {p: money.amount(v) for p, v in cost.by_provider_week.items()},
                unit=money.symbol,
                label="Cost this week by provider",
            )
        )
        out.append("<h3>Top savings</h3>")
        if cost.savings:
            out.append(
                _table(
                    ["Finding", "Action", "Covers", f"Saves ({money.currency}/month)"],
                    [[s.finding, s.action, s.scope or str(s.count), saves_cell(s, money)] for s in cost.savings],
                    frozenset({3}),
                )
            )
            out.append(
                bar_chart(
                    {s.finding: money.shown(s.monthly_eur) for s in cost.savings},
                    colour="#2e9d5b",
                    label="Monthly savings by finding",
                    fmt=money.format,
                )
            )
        else:
            out.append("<p>None found.</p>")
    out.append("</body></html>")
    return "\n".join(out)
