"""Words: the spoken script (for the ear, one to two minutes) and the full Markdown report.

The script is written to be heard once, while making coffee, in under 45 seconds: short sentences, the
most important number first, no ids, digits without separators (Piper reads "1700" well and "1,700"
badly), money in whole units of the operator's currency, and at the end what needs the operator today.  Every
amount is shown by the Ledger's :class:`~engine.ledger.Money` (``CostFacts.money``), so a saving is the same
number here as in the chat's findings, its plan and "what did that save us?".  The report carries everything the
script leaves out (every instance id, every table) for reading later.
"""

from __future__ import annotations

from datetime import datetime

from engine.briefer._facts import SLA_MINUTES, BriefingFacts, Saving, region_city
from engine.briefer._speech import PROVIDER_NAMES, duration_words, for_ear, plural
from engine.ledger import Money

__all__ = ["conversion_note", "markdown_report", "saves_cell", "spoken_script", "title"]

_ORDINAL = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}
MAX_SPOKEN_WORDS = 90
"""About 38 seconds at Piper's pace (the voice note must stay under 45 s); detail goes, never the headline."""


def _provider(name: str) -> str:
    return PROVIDER_NAMES.get(name, name.capitalize())


def _day(now: datetime) -> str:
    return f"{now:%A} the {now.day}{_ORDINAL.get(now.day, 'th')} of {now:%B}"


def title(facts: BriefingFacts) -> str:
    """ "Daily briefing — DEMO fleet — 24 Nov 2026 07:00 UTC"."""
    what = "Daily briefing" if facts.kind == "daily" else "Weekly report"
    scope = "DEMO fleet" if facts.demo else ("fleet" if facts.scope == "fleet" else f"tenant {facts.scope}")
    return f"{what} — {scope} — {facts.now:%d %b %Y %H:%M} UTC"


def _state_words(counts: dict[str, int]) -> str:
    parts = [f"{n} {state.lower().replace('_', ' ')}" for state, n in counts.items()]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _healers(facts: BriefingFacts) -> str:
    """ "Guardian healed 3 instances and your restarts healed 13": each heal credited to whoever did it."""
    parts = []
    for who, ids in sorted(facts.healed_by.items(), key=lambda kv: (kv[0] != "guardian", -len(kv[1]))):
        if who == "guardian":
            parts.append(f"Guardian healed {plural(len(ids), 'instance')}")
        elif who == facts.operator:
            parts.append(f"your restarts healed {plural(len(ids), 'instance')}")
        elif who == "the team":
            parts.append(f"restarts healed {plural(len(ids), 'instance')}")
        else:
            parts.append(f"{who}'s restarts healed {plural(len(ids), 'instance')}")
    return _join(parts)


def _join(parts: list[str]) -> str:
    return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + (parts[-1] if parts else "")


def greeting(local_hour: int) -> str:
    """ "Good morning" when it is morning where the operator is ("brief me now" can come at any hour)."""
    if 4 <= local_hour < 12:
        return "Good morning"
    return "Good afternoon" if 12 <= local_hour < 18 else "Good evening"


def spoken_script(facts: BriefingFacts, *, note: str | None = None, local_hour: int | None = None) -> str:
    """The briefing as it will be spoken (and sent as the voice note's text): at most ``MAX_SPOKEN_WORDS``.

    Every number in it comes from the same facts, so the sentences agree: users without a serving gateway
    are said once, with how many of them are already SLA breaches; heals are credited to whoever did them.
    """
    scope = "the demo fleet" if facts.demo else ("your fleet" if facts.scope == "fleet" else "your tenant")
    what = "daily briefing" if facts.kind == "daily" else "weekly report"
    hello = greeting(facts.now.hour if local_hour is None else local_hour)
    paragraphs = [f"{hello}. Briefer here with the {what} for {scope}, {_day(facts.now)}."]
    if note:
        paragraphs.append(note)

    if facts.total == 0:
        paragraphs.append("There are no instances yet, so there is nothing to report on the fleet.")
    else:
        fleet = f"{plural(facts.total, 'instance')} on {plural(facts.pairs, 'pair')}: {_state_words(facts.by_state)}."
        trouble = {p: sum(n for s, n in c.items() if s != "ACTIVE") for p, c in facts.by_provider.items()}
        worst = max(trouble.items(), key=lambda kv: kv[1], default=("", 0))
        if worst[1]:
            detail = {s: n for s, n in facts.by_provider[worst[0]].items() if s != "ACTIVE"}
            fleet += f" {_provider(worst[0])} has the most trouble: {_state_words(detail)}."
        paragraphs.append(fleet)

    if facts.sla:
        longest = facts.sla[0]
        others = facts.users_down - len(facts.sla)
        line = (
            f"{plural(facts.users_down, 'user has', 'users have')} no serving gateway; "
            f"{len(facts.sla)} of them for more than {SLA_MINUTES} minutes, an SLA breach. The longest, on "
            f"{_provider(longest.provider)} in {region_city(longest.region)}, for {duration_words(longest.minutes)}."
        )
        paragraphs.append(
            line if others > 0 else line.replace(f"; {len(facts.sla)} of them for", ", all of them for", 1)
        )
    elif facts.users_down:
        paragraphs.append(
            f"{plural(facts.users_down, 'user has', 'users have')} no serving gateway right now, "
            f"none yet for more than {SLA_MINUTES} minutes, so no SLA breach so far."
        )
    elif facts.total:
        paragraphs.append("Every user has a serving gateway: no SLA breaches.")

    events = [_healers(facts)] if facts.healed else []
    if facts.failovers:
        events.append(f"{plural(len(facts.failovers), 'pair')} failed over to the standby")
    if facts.failovers_failed:
        events.append(f"{plural(len(facts.failovers_failed), 'failover')} did not work")
    window = facts.window_label
    if events:
        paragraphs.append(f"{window[0].upper()}{window[1:]}, {_join(events)}.")
    else:
        paragraphs.append(f"Nothing was healed or failed over {window}.")

    open_incidents = [i for i in facts.incidents if i.status == "open"]
    if open_incidents:
        first = open_incidents[0]
        where = " ".join(
            x
            for x in (
                _provider(first.provider) if first.provider else "",
                region_city(first.region) if first.region else "",
            )
            if x
        )
        more = f", and {plural(len(open_incidents) - 1, 'other')}" if len(open_incidents) > 1 else ""
        paragraphs.append(
            f"{plural(len(open_incidents), 'incident is', 'incidents are')} open: "
            f"{for_ear(first.title) or 'an outage'}{' in ' + where if where else ''}{more}."
        )

    if facts.cost is not None:
        cost = facts.cost
        line = f"Cost: about {cost.money.words(cost.week_eur)} this week."
        if cost.savings:
            best = cost.savings[0]
            line += f" Best saving: {best.spoken or best.action}, about {cost.money.words(best.monthly_eur)} a month."
        paragraphs.append(line)

    todo = []
    if facts.sla:
        todo.append("fail over the users who are down")
    elif facts.users_down:
        todo.append("watch the users without a gateway")
    degraded = facts.by_state.get("DEGRADED", 0)
    if degraded:
        todo.append(f"restart the {plural(degraded, 'degraded instance')}")
    if todo:
        paragraphs.append("Today, I suggest you " + _join(todo) + ".")
    paragraphs.append("The full report is attached. That's all.")
    return _fit(paragraphs)


def _fit(paragraphs: list[str]) -> str:
    """Keep the script under ``MAX_SPOKEN_WORDS``: drop detail from the end (never the opening, the fleet, the
    users without a gateway, or the close)."""
    text = "\n\n".join(for_ear(p) for p in paragraphs)
    keep = 4 if len(paragraphs) > 5 else len(paragraphs)
    while len(text.split()) > MAX_SPOKEN_WORDS and len(paragraphs) > keep + 1:
        paragraphs = paragraphs[:-2] + paragraphs[-1:]  # the detail just before the close goes first
        text = "\n\n".join(for_ear(p) for p in paragraphs)
    return text


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def conversion_note(money: Money) -> str:
    """How the amounts were converted (prices are kept in EUR; USD ones converted at the configured rate)."""
    if money.currency == "USD":
        return f"EUR amounts shown in USD at {money.usd_to_eur:g} EUR per USD"
    return "USD converted to EUR at the configured rate"


def saves_cell(saving: Saving, money: Money) -> str:
    """A saving as every reply shows it ("$654"), with the part that waits for contract terms."""
    return money.text(saving.monthly_eur) + (f" ({saving.later})" if saving.later else "")


def markdown_report(facts: BriefingFacts, script: str) -> str:
    """The full report: the script on top, then every table the voice note summarised."""
    states = sorted({s for c in facts.by_provider.values() for s in c})
    window = (
        f"{facts.window_label} ({facts.window_start:%d %b %H:%M} UTC to {facts.now:%d %b %H:%M} UTC)"
        if facts.window_start
        else facts.window_label
    )
    lines = [f"# {title(facts)}", "", f"*Briefer — events {window}.*", "", "## Summary", "", script, ""]
    lines += ["## Fleet", "", f"{facts.total} instances on {facts.pairs} pairs.", ""]
    lines += _table(["State", "Instances"], [[s, str(n)] for s, n in facts.by_state.items()]) + [""]
    lines += _table(
        ["Provider", *states, "Total"],
        [[p, *(str(c.get(s, 0)) for s in states), str(sum(c.values()))] for p, c in facts.by_provider.items()],
    )
    lines += ["", "## Healed and failed over", ""]
    lines.append(f"- Healed: {len(facts.healed)}" + (f" — {', '.join(facts.healed[:50])}" if facts.healed else ""))
    lines.append(
        f"- Failed over: {len(facts.failovers)}" + (f" — {', '.join(facts.failovers[:50])}" if facts.failovers else "")
    )
    lines.append(
        f"- Failovers that failed: {len(facts.failovers_failed)}"
        + (f" — {', '.join(facts.failovers_failed[:50])}" if facts.failovers_failed else "")
    )
    lines.append(
        f"- Failed job steps: {facts.failed_steps}; heals escalated: {facts.escalations}; "
        f"policy refusals: {facts.refusals}"
    )
    lines += ["", "## Incidents", ""]
    if facts.incidents:
        lines += _table(
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
    else:
        lines.append("None.")
    lines += [
        "",
        "## SLA breaches",
        "",
        f"A breach is a user without a serving gateway for more than {SLA_MINUTES} minutes: their primary is "
        "FAILED, ERROR or STANDBY_PROMOTING and has not changed state for that long.",
        "",
    ]
    if facts.sla:
        lines += _table(
            ["Instance", "Account", "Provider", "Region", "State", "Down for", "Reason"],
            [
                [b.instance_id, b.account_id, b.provider, b.region, b.state, duration_words(b.minutes), b.reason]
                for b in facts.sla
            ],
        )
    else:
        lines.append("None.")
    if facts.cost is not None:
        cost = facts.cost
        money = cost.money
        lines += [
            "",
            "## Cost",
            "",
            f"This week: **{money.text(cost.week_eur)}**; monthly run rate {money.text(cost.month_eur)} "
            f"(source: {cost.source}; {conversion_note(money)}).",
            "",
        ]
        lines += _table(
            ["Provider", f"This week ({money.currency})"],
            [[p, money.text(v)] for p, v in cost.by_provider_week.items()],
        )
        lines += ["", "### Top savings", ""]
        if cost.savings:
            lines += _table(
                ["Finding", "Action", "Covers", f"Saves ({money.currency}/month)"],
                [[s.finding, s.action, s.scope or str(s.count), saves_cell(s, money)] for s in cost.savings],
            )
        else:
            lines.append("None found.")
    lines.append("")
    return "\n".join(lines)
