"""What the briefing says: counts, healed and failed over from the audit log since the last briefing,
incidents, SLA breaches (as defined), cost and savings; the script is for the ear and the reports are
complete and self-contained.  No speech models here (``speak=False``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from engine import audit
from engine.briefer import SLA_MINUTES, for_ear, gather_facts, produce_briefing, record_run
from engine.briefer._compose import spoken_script
from engine.errors import InputError
from engine.runtime import Engine
from engine.store import Incident, Instance, JobRecord, PlanRecord


@pytest.fixture
def engine(clawops_home: Path) -> Iterator[Engine]:
    eng = Engine.open(demo_pairs=40)
    try:
        yield eng
    finally:
        eng.close()


def _ids(engine: Engine, **where: str) -> list[str]:
    with engine.store.session() as s:
        stmt = select(Instance.id).where(*(col(getattr(Instance, k)) == v for k, v in where.items()))
        return list(s.exec(stmt.order_by(col(Instance.id))).all())


def _events(engine: Engine, healed: list[str], failed_over: str, failover_failed: str) -> None:
    with engine.store.session() as s:
        audit.append(
            s,
            actor="guardian",
            channel="guardian",
            action="guardian.state",
            target=",".join(healed[:2]),
            detail={"from": "DEGRADED", "to": "ACTIVE", "count": 2},
        )
        audit.append(
            s,
            actor="forge",
            channel="job",
            action="restart_gateway",
            target=healed[2],
            detail={"detail": "healthy after restart"},
        )
        audit.append(
            s,
            actor="forge",
            channel="job",
            action="restart_gateway",
            target=healed[3],
            detail={"detail": "restarted; not healthy yet"},
        )
        audit.append(s, actor="forge", channel="job", action="failover", target=failed_over, detail={})
        audit.append(
            s, actor="forge", channel="job", action="failover", target=failover_failed, outcome="failed", detail={}
        )
        audit.append(
            s,
            actor="guardian",
            channel="guardian",
            action="guardian.heal.failover",
            target=failover_failed,
            outcome="escalated",
            detail={"count": 1},
        )
        audit.append(s, actor="owner", channel="cli", action="refused.teardown", target="", outcome="refused")


def test_facts_count_the_fleet_the_audit_log_incidents_and_sla(engine: Engine) -> None:
    now = datetime.now(UTC) + timedelta(minutes=1)
    actives = _ids(engine, state="ACTIVE", role="primary")
    _events(engine, actives[:4], actives[4], actives[5])
    with engine.store.session() as s:
        long_down, just_down = s.get(Instance, actives[6]), s.get(Instance, actives[7])
        assert long_down is not None and just_down is not None
        long_down.state, long_down.updated_at = "FAILED", now - timedelta(hours=2, minutes=5)
        just_down.state, just_down.updated_at = "FAILED", now - timedelta(minutes=SLA_MINUTES - 5)
        s.add(long_down)
        s.add(just_down)
        s.add(
            Incident(
                id="inc-1",
                key="vultr/fra",
                provider="vultr",
                region="eu-vultr-fra",
                title="Network outage",
                opened_at=now - timedelta(hours=1),
            )
        )

    facts = gather_facts(engine.store, engine.settings, "daily", now)
    assert facts.total == 80 and facts.pairs == 40
    assert sum(facts.by_state.values()) == 80 == sum(sum(c.values()) for c in facts.by_provider.values())
    assert facts.healed == actives[:3]  # the unhealthy restart does not count
    assert facts.failovers == [actives[4]] and facts.failovers_failed == [actives[5]]
    assert facts.escalations == 1 and facts.refusals == 1
    assert [i.id for i in facts.incidents] == ["inc-1"]
    breached = [b.instance_id for b in facts.sla]
    assert actives[6] in breached and actives[7] not in breached  # > 15 min, not 10 min
    assert facts.sla[0].minutes > 120
    assert facts.cost is not None and facts.cost.week_eur > 0 and facts.cost.month_eur > facts.cost.week_eur
    assert facts.cost.source  # the report says where the numbers come from

    # after a briefing is recorded, its events are not reported again
    record_run(engine.store, kind="daily", operator_id="op-owner", slot=None, briefing=None)
    again = gather_facts(engine.store, engine.settings, "daily", now)
    assert again.healed == [] and again.failovers == [] and again.window_label == "since the last briefing"


def test_a_tenant_operator_hears_only_their_tenant(engine: Engine) -> None:
    acme = _ids(engine, tenant_id="demo-acme")
    others = [i for i in _ids(engine) if i not in acme]
    _events(engine, [acme[0], others[0], others[1], others[2]], others[3], others[4])
    facts = gather_facts(
        engine.store, engine.settings, "daily", datetime.now(UTC), operator_id="op-acme-ops", tenant_id="demo-acme"
    )
    assert facts.total == len(acme) and facts.scope == "demo-acme"
    assert facts.healed == [acme[0]] and facts.failovers == []


def test_the_script_is_for_the_ear_and_the_reports_are_complete(engine: Engine, tmp_path: Path) -> None:
    now = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    b = produce_briefing(engine, engine.settings, "daily", tmp_path / "out", now, speak=False)
    assert b.voice_path is None and b.voice_error
    words = b.text.split()
    assert 60 <= len(words) <= 300  # one to two minutes spoken
    assert "DEMO" not in b.text and not re.search(r"\b(i-acct|acct-|pl-|job-)", b.text)
    assert not re.search(r"\d,\d{3}|[*#`|€]", b.text)  # no separators, markdown or symbols for Piper to trip on
    assert "Tuesday the 24th of November" in b.text and "40 pairs" in b.text
    md = b.markdown_path.read_text()
    html = b.html_path.read_text()
    assert b.markdown_path.name == "briefing-daily-20261124T0700Z.md"
    for needle in ("## Fleet", "## SLA breaches", "## Cost", "### Top savings", f"more than {SLA_MINUTES} minutes"):
        assert needle in md
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") >= 2
    assert "<script" not in html and not re.search(r"(src|href)=", html)  # self-contained: nothing to fetch
    assert re.findall(r"https?://[^\"' ]+", html) == ["http://www.w3.org/2000/svg"] * html.count("<svg")


def test_weekly_report_and_bad_kind(engine: Engine, tmp_path: Path) -> None:
    b = produce_briefing(engine, engine.settings, "weekly", tmp_path, datetime.now(UTC), speak=False)
    assert "weekly report" in b.text and "Weekly report" in b.title
    with pytest.raises(InputError, match="daily or weekly"):
        produce_briefing(engine, engine.settings, "hourly", tmp_path, speak=False)


def test_for_ear_reads_replies_aloud_well() -> None:
    spoken = for_ear(
        "[Guardian] **DEGRADED** on vultr: i-acct-042-p eu-vultr-fra (disk 96 %); "
        "1,700 instances — saves €412.50/month; job-1a2b3c4d 13/13 done."
    )
    assert spoken == (
        "Degraded on Vultr: account 42's primary in Frankfurt (disk 96 percent); 1700 instances, "
        "saves 412 euros a month; 13 of 13 done."
    )  # ids as people say them, job ids dropped


def test_without_voice_the_briefing_is_text_and_reports_and_says_why(engine: Engine, tmp_path: Path) -> None:
    import voice

    missing = voice.VoiceConfig(tts_model=str(tmp_path / "no-such-voice.onnx"))
    b = produce_briefing(engine, engine.settings, "daily", tmp_path, datetime.now(UTC), voice_config=missing)
    assert b.voice_path is None and b.duration_s is None
    assert b.voice_error and "no-such-voice" in b.voice_error and b.html_path.exists()
    assert list(tmp_path.glob("*.ogg")) == []


async def test_ask_voice_without_voice_is_a_config_error(tmp_path: Path) -> None:
    import voice
    from engine.briefer import ask_voice
    from engine.conversation import TurnResult
    from engine.errors import ConfigError

    async def never(text: str) -> TurnResult:
        raise AssertionError("no turn without a transcript")

    note = tmp_path / "n.ogg"
    note.write_bytes(b"OggS")
    with pytest.raises(ConfigError):
        await ask_voice(
            note, never, out_dir=tmp_path, voice_config=voice.VoiceConfig(stt_model=str(tmp_path / "no-model"))
        )


def test_without_the_ledger_cost_comes_from_list_prices(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    with_ledger = gather_facts(engine.store, engine.settings, "weekly", datetime.now(UTC)).cost
    monkeypatch.setitem(sys.modules, "engine.ledger", None)  # as on a build without engine/ledger
    fallback = gather_facts(engine.store, engine.settings, "weekly", datetime.now(UTC)).cost
    assert with_ledger is not None and fallback is not None
    assert with_ledger.source.startswith("ledger") and fallback.source == "list prices"
    assert fallback.month_eur == pytest.approx(with_ledger.month_eur, rel=0.01)


def test_briefing_as_plain_data(engine: Engine, tmp_path: Path) -> None:
    import json

    b = produce_briefing(engine, engine.settings, "daily", tmp_path, datetime.now(UTC), speak=False)
    data = json.loads(json.dumps(b.to_dict()))
    assert data["kind"] == "daily" and data["voice"] is None and data["demo"] is True
    assert Path(data["html"]).exists() and data["text"] == b.text


def test_the_script_agrees_with_itself_and_credits_each_heal(engine: Engine) -> None:
    now = datetime.now(UTC) + timedelta(minutes=1)
    actives = _ids(engine, state="ACTIVE", role="primary")
    with engine.store.session() as s:
        for plan, channel in (("pl-mine", "tui"), ("pl-guard", "guardian")):
            s.add(
                PlanRecord(
                    id=plan,
                    session_key="k",
                    operator_id="op-owner",
                    tool="restart",
                    summary="restart",
                    status="confirmed",
                    decided_by="op-owner",
                    decided_channel=channel,
                )
            )
        s.flush()
        for plan in ("pl-mine", "pl-guard"):
            s.add(JobRecord(id=f"job-{plan}", plan_id=plan, tool="restart", started_by="op-owner"))
        audit.append(
            s,
            actor="forge",
            channel="job",
            action="restart_gateway",
            target=actives[0],
            detail={"job": "job-pl-mine", "detail": "healthy after restart"},
        )
        audit.append(
            s,
            actor="forge",
            channel="job",
            action="restart_gateway",
            target=actives[1],
            detail={"job": "job-pl-guard", "detail": "healthy after restart"},
        )
        audit.append(
            s,
            actor="guardian",
            channel="guardian",
            action="guardian.state",
            target=actives[2],
            detail={"from": "FAILED", "to": "ACTIVE"},
        )
        just_down = s.get(Instance, actives[3])
        assert just_down is not None
        just_down.state, just_down.updated_at = "FAILED", now - timedelta(minutes=2)  # down, not yet a breach
        s.add(just_down)
    facts = gather_facts(engine.store, engine.settings, "daily", now)
    assert facts.healed_by == {"owner": [actives[0]], "guardian": [actives[1], actives[2]]}
    script = spoken_script(facts)
    assert "Guardian healed 2 instances" in script and "your restarts healed 1 instance" in script
    down = facts.users_down
    assert down >= 1 and facts.sla == []
    # one statement about users without a gateway, and it agrees with the counts
    assert f"{down} user" in script and "no SLA breach so far" in script and "Every user has" not in script
    assert len(script.split()) <= 90
