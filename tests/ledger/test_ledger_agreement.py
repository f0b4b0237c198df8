"""The money a person reads agrees everywhere (issues #16 item 6, #18 item 5).

One figure per thing, computed once and rounded once: a finding's saving is the same number in the Ledger's summary
line, the numbered list, the plan card that fixes it, "what did that save us?", the briefing and the JSON result; a
total is what its parts add up to as shown; a finding, its plan and its saving describe the same set.  The numbers
are parsed from the replies of a real conversation on the seeded demo fleet, in both currencies an operator can
choose.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from engine.briefer import gather_facts
from engine.briefer._compose import markdown_report
from engine.config import Settings
from engine.ledger import Money, cost_analysis, finding_filter
from engine.runtime import Engine
from engine.store import Account, Instance, PlanRecord, Store
from engine.tenancy import scoped
from tests.ledger.ledger_fleet import NOW, OWNER

MONEY = r"-?[$€][\d,]+(?:\.\d\d)?"
LATER = (
    rf"(?P<later>{MONEY}) of it only once the paid terms of (?P<later_n>[\d,]+) [A-Za-z/]+ instances? end, by \d+ \w+"
)


def amount(text: str) -> float:
    """ "$1,340" → 1340.0, "-€22.28" → -22.28."""
    return float(text.replace("$", "").replace("€", "").replace(",", ""))


def count(text: str) -> int:
    return int(text.replace(",", ""))


# ---------------------------------------------------------------------------- Money: compute once, round once
def test_a_figure_is_converted_then_rounded_once() -> None:
    usd = Money("USD", 0.92)
    assert usd.text(601.33) == "$654"  # 653.62 → 654; rounding €601 first would have said $653
    assert usd.text(20.5) == "$22.28" and usd.text(-1232.88) == "-$1,340" and usd.text(11.04, sign=True) == "+$12.00"
    assert Money("EUR").text(601.33) == "€601" and Money("EUR").text(20.5) == "€20.50"
    assert usd.words(601.33) == "654 dollars" and Money("EUR").words(0.4) == "less than 1 euro"


def test_a_total_is_what_its_parts_add_up_to_as_shown() -> None:
    usd = Money("USD", 0.92)
    parts = [1232.88, 601.33, 75.35]  # shown as $1,340, $654, $81.90
    assert [usd.text(p) for p in parts] == ["$1,340", "$654", "$81.90"]
    assert usd.total_text(parts) == "$2,075.90" == usd.format(1340 + 654 + 81.90)
    assert usd.total_text([1232.88, 601.33]) == "$1,994"


# ---------------------------------------------------------------------------- one conversation, parsed
@pytest.fixture(params=["USD", "EUR"])
def engine(clawops_home: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """The seeded demo fleet, with one more idle account that has a Contabo half (a contract that cannot be
    deleted early), so the saving that waits for a term end is on every reply too."""
    eng = Engine.open(demo_pairs=150, currency=request.param)  # emulated vendors: Contabo cannot delete
    with eng.store.session() as s:
        contabo = s.execute(
            select(col(Instance.account_id))
            .where(col(Instance.provider) == "contabo")
            .order_by(col(Instance.account_id))
        ).first()
        assert contabo is not None
        s.execute(
            update(Account)
            .where(col(Account.id) == contabo[0])
            .values(last_session_at=datetime.now(UTC) - timedelta(days=30))
        )
    yield eng
    eng.close()


def summary_parts(reply: str) -> tuple[float, dict[str, tuple[float, int, int | None]]]:
    """The Ledger's first line: its total and, per finding, (saving, count, instances)."""
    head = re.search(rf"We could save (?P<total>{MONEY})/month: (?P<parts>.*?)(?:;|\.\n)", reply)
    assert head, reply
    parts = {}
    for m in re.finditer(
        rf"(?P<saving>{MONEY}) by (?:downsizing|tearing down) (?P<n>[\d,]+) (?P<id>oversized|idle) "
        rf"(?:instances|accounts)(?: \((?P<inst>[\d,]+) instances\))?",
        head["parts"],
    ):
        parts[m["id"]] = (amount(m["saving"]), count(m["n"]), count(m["inst"]) if m["inst"] else None)
    return amount(head["total"]), parts


def listed(reply: str) -> tuple[float, dict[str, dict[str, Any]]]:
    """The numbered findings: the "up to" total and, per finding, number, count, instances, saving, later part."""
    total = re.search(rf"up to (?P<total>{MONEY})/month in all:", reply)
    assert total, reply
    lines = {}
    for m in re.finditer(
        rf"^(?P<no>\d+)\. (?P<id>[a-z ]+): (?P<n>[\d,]+) (?P<unit>accounts|instances)"
        rf"(?: \((?P<inst>[\d,]+) instances\))?, save (?P<saving>{MONEY})/month(?: \({LATER}\))? — ",
        reply,
        re.M,
    ):
        lines[m["id"].replace(" ", "_")] = {
            "no": int(m["no"]),
            "count": count(m["n"]),
            "unit": m["unit"],
            "instances": count(m["inst"]) if m["inst"] else count(m["n"]),
            "saving": amount(m["saving"]),
            "later": amount(m["later"]) if m["later"] else None,
        }
    return amount(total["total"]), lines


def plan_money(reply: str) -> tuple[float, float | None]:
    m = re.search(rf"Saves about (?P<saving>{MONEY})/month(?:, {LATER})?\.", reply)
    assert m, reply
    return amount(m["saving"]), amount(m["later"]) if m["later"] else None


async def test_summary_list_plan_result_and_what_it_saved_agree(engine: Engine) -> None:
    money = Money.of(engine.settings)
    waste = await engine.ask("where are we wasting money", session="w")
    result = waste.tool_calls[0].result
    findings = {f["id"]: f for f in result["findings"]}
    head_total, head = summary_parts(waste.reply)
    list_total, lines = listed(waste.reply)
    assert set(lines) == set(findings) == {"idle", "oversized", "cheaper_elsewhere"}

    # one figure per finding: summary = list = the result, converted and rounded once
    for fid, f in findings.items():
        line = lines[fid]
        assert line["saving"] == money.shown(f["monthly_savings_eur"]) == f["display"]["monthly_savings"], fid
        assert (line["count"], line["instances"]) == (f["count"], f["instances"]), fid
        assert line["unit"] == f["unit"], fid
        if fid in head:
            assert head[fid][0] == line["saving"] and head[fid][1] == f["count"], fid
    assert head["idle"][2] == findings["idle"]["instances"]  # "22 idle accounts (44 instances)"
    # totals are their parts as shown; the JSON says the same
    assert head_total == pytest.approx(head["idle"][0] + head["oversized"][0])
    assert list_total == pytest.approx(sum(line["saving"] for line in lines.values()))
    assert list_total == result["display"]["total_monthly_savings"]
    assert result["display"]["currency"] == engine.settings.currency
    assert result["total_monthly_savings_eur"] == pytest.approx(
        sum(f["monthly_savings_eur"] for f in findings.values())
    )
    idle = findings["idle"]
    assert lines["idle"]["unit"] == "accounts" and idle["instances"] == 2 * idle["count"]  # whole pairs
    assert lines["idle"]["later"] == money.shown(idle["savings_start"]["deferred"][0]["monthly_eur"])

    # the plan that fixes it: same accounts, same instances, same money (to the cent in the JSON)
    plan = await engine.ask(f"fix {lines['idle']['no']}", session="w")
    call = plan.tool_calls[0]
    assert call.tool == "teardown" and call.args["selector"] == {"finding": "idle"}
    scope = re.search(
        r"Tear down the pairs of (?P<a>[\d,]+) accounts \((?P<i>[\d,]+) instances flagged idle\), "
        r"affecting (?P<u>[\d,]+) users",
        plan.reply,
    )
    assert scope, plan.reply
    assert (count(scope["a"]), count(scope["i"]), count(scope["u"])) == (
        idle["count"],
        idle["instances"],
        idle["count"],
    )
    assert plan_money(plan.reply) == (lines["idle"]["saving"], lines["idle"]["later"])
    contract = plan.to_contract()["plan"]
    assert contract["monthly_cost_delta"] == -idle["monthly_savings_eur"]
    assert contract["affected_users"] == idle["count"]
    assert contract["summary"] in plan.reply  # the plan card a client shows is the reply's, figure for figure
    with engine.store.session() as s:
        record = s.get(PlanRecord, contract["id"])
        assert record is not None and sorted(record.targets) == idle["instance_ids"]  # the very instances listed

    done = await engine.ask("go", session="w")
    assert re.search(rf"In all this saves about {re.escape(money.text(idle['monthly_savings_eur']))}/month", done.reply)
    saved = await engine.ask("what did that save us?", session="w")
    assert all(c.tool != "cost_analysis" for c in saved.tool_calls)  # read from the plan, not a rescan
    said = re.search(
        rf"That saves about (?P<total>{MONEY})/month in all: .* saves (?P<one>{MONEY})/month, {LATER}\.", saved.reply
    )
    assert said, saved.reply
    assert amount(said["total"]) == amount(said["one"]) == lines["idle"]["saving"]
    assert amount(said["later"]) == lines["idle"]["later"]

    # the contracts still running out are not offered, or counted, a second time
    again = await engine.ask("where are we wasting money", session="w")
    assert "idle" not in {f["id"] for f in again.tool_calls[0].result["findings"]}
    with engine.store.session() as s:
        leaving = s.execute(
            select(col(Instance.id)).where(
                col(Instance.id).in_(idle["instance_ids"]), col(Instance.state) == "ARCHIVING"
            )
        ).all()
    assert leaving  # the Contabo half is cancelled, billed to its term's end: it is still there …
    _, after = listed(again.reply)
    assert after["oversized"]["saving"] == lines["oversized"]["saving"]  # … and nothing else moved

    # the downsize finding and its plan
    over = findings["oversized"]
    resize = await engine.ask(f"fix {after['oversized']['no']}", session="w")
    scope = re.search(
        r"Resize (?P<i>[\d,]+) instances \(instances flagged oversized\) to nano, affecting (?P<u>[\d,]+) "
        r"users",
        resize.reply,
    )
    assert scope and count(scope["i"]) == over["instances"] and count(scope["u"]) == over["accounts_count"]
    assert plan_money(resize.reply) == (lines["oversized"]["saving"], None)
    assert resize.to_contract()["plan"]["monthly_cost_delta"] == -over["monthly_savings_eur"]


def test_the_briefing_shows_the_findings_figures(engine: Engine) -> None:
    money = Money.of(engine.settings)
    now = datetime.now(UTC)
    with engine.store.session() as s:
        result = cost_analysis(s, engine.caller(), "waste", "month", engine.settings, now=now)
    findings = {f["id"]: f for f in result["findings"]}
    facts = gather_facts(engine.store, engine.settings, "daily", now)
    assert facts.cost is not None
    savings = {s.finding: s for s in facts.cost.savings}
    assert set(savings) == set(findings)
    report = markdown_report(facts, "script")
    for fid, f in findings.items():
        assert savings[fid].monthly_eur == f["monthly_savings_eur"], fid
        row = next(line for line in report.splitlines() if line.startswith(f"| {fid} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert re.match(rf"{re.escape(money.text(f['monthly_savings_eur']))}( \(|$)", cells[3]), row
        assert cells[2].startswith(f"{f['count']:,} {f['unit']}"), row
    idle = next(line for line in report.splitlines() if line.startswith("| idle |"))
    assert f"({findings['idle']['instances']} instances)" in idle and "of it only once the paid terms" in idle
    assert f"This week ({money.currency})" in report and ("€" in report) == (money.currency == "EUR")
    words = money.words(max(f["monthly_savings_eur"] for f in findings.values()))
    assert words.endswith("dollars" if money.currency == "USD" else "euros")


# ---------------------------------------------------------------------------- the idle finding's set
def test_an_idle_instance_already_leaving_is_not_in_the_finding_sql_or_report(fleet: Store) -> None:
    """A cancelled Contabo contract runs (ARCHIVING) to its term's end: it is neither offered again nor priced again,
    in the report or the selector a teardown uses."""
    settings = Settings(usd_to_eur=0.92)
    with fleet.session() as s:
        before = {f["id"]: f for f in cost_analysis(s, OWNER, "waste", "month", settings, now=NOW)["findings"]}
        s.execute(update(Instance).where(col(Instance.id) == "i-acct-idle2-p").values(state="ARCHIVING"))
    with fleet.session() as s:
        after = {f["id"]: f for f in cost_analysis(s, OWNER, "waste", "month", settings, now=NOW)["findings"]}
        sql = {
            i
            for (i,) in s.execute(
                scoped(select(col(Instance.id)), OWNER).where(
                    col(Instance.state) != "DELETED", finding_filter("idle", usd_to_eur=0.92, now=NOW)
                )
            ).all()
        }
    assert "i-acct-idle2-p" in before["idle"]["instance_ids"]
    assert set(after["idle"]["instance_ids"]) == sql == set(before["idle"]["instance_ids"]) - {"i-acct-idle2-p"}
    assert after["idle"]["monthly_savings_eur"] == pytest.approx(before["idle"]["monthly_savings_eur"] - 5.50)
    assert after["idle"]["savings_start"]["deferred"] == []  # the Contabo half's saving was already claimed
