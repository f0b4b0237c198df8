"""Briefing preferences end to end: said in chat (offline brain → ``briefing_schedule``), set from the CLI,
stored in one table, read by the scheduler (one cron schedule per operator, at their minute in their time
zone), and what happens at that minute: sent, or reported FAILED (log, audit, listener), or caught up late
with a note."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from engine.briefer import BriefingRun, get_prefs, run_due_briefings, set_prefs
from engine.runtime import Engine
from engine.store import AuditEntry, BriefingPreference, ChannelIdentity, Memory
from tests.clawops_cli import run_clawops

ROOT = Path(__file__).resolve().parents[2]


def clawops(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAWOPS_")}
    env.update({"CLAWOPS_HOME": str(home), "CLAWOPS_DEMO_PAIRS": "6"})
    return run_clawops(args, env=env, timeout=300)


@pytest.fixture
def engine(clawops_home: Path) -> Any:
    e = Engine.open(demo_pairs=6)
    yield e
    e.close()


async def test_preferences_said_in_chat_land_in_the_one_table(engine: Engine) -> None:
    reply = (await engine.ask("brief me at 6:30")).reply
    assert "[Briefer]" in reply and "06:30" in reply
    assert f"{get_prefs(engine.store, 'op-owner').at:%H:%M}" == "06:30"

    result = await engine.ask("send the morning briefing at 07:15 UTC every day")
    (call,) = result.tool_calls
    assert call.tool == "briefing_schedule" and call.status == "done"
    prefs = get_prefs(engine.store, "op-owner")
    assert (f"{prefs.at:%H:%M}", prefs.timezone, prefs.days) == ("07:15", "UTC", tuple(range(7)))

    await engine.ask("no briefing on weekends")
    assert get_prefs(engine.store, "op-owner").days == (0, 1, 2, 3, 4)
    await engine.ask("send it on WhatsApp")
    prefs = get_prefs(engine.store, "op-owner")
    assert prefs.channels == ("whatsapp",) and f"{prefs.at:%H:%M}" == "07:15"  # the time stayed

    answer = (await engine.ask("when do I get my briefing?")).reply
    assert "07:15 UTC on weekdays" in answer and "WhatsApp" in answer
    assert get_prefs(engine.store, "op-owner") == prefs  # reading changes nothing

    await engine.ask("brief me at 7 Berlin time")
    prefs = get_prefs(engine.store, "op-owner")
    assert (f"{prefs.at:%H:%M}", prefs.timezone) == ("07:00", "Europe/Berlin")

    with engine.store.session() as s:
        assert (
            s.exec(select(BriefingPreference)).all()
            and not s.exec(select(Memory).where(col(Memory.kind).in_(["briefing_time", "briefing_schedule"]))).all()
        )


async def test_brief_me_now_is_still_the_briefing_and_a_dry_run_changes_nothing(engine: Engine) -> None:
    now = await engine.ask("brief me now")
    assert [c.tool for c in now.tool_calls] == ["briefing"] and "Full report" in now.reply
    before = get_prefs(engine.store, "op-owner")
    dry = await engine.ask("brief me at 5:45", dry_run=True)
    assert dry.tool_calls[0].tool == "briefing_schedule" and "nothing changed" in dry.reply
    assert get_prefs(engine.store, "op-owner") == before


def test_cli_sets_and_shows_the_schedule(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = clawops(home, "brief", "--at", "06:30", "--tz", "Europe/Berlin", "--to", "telegram", "--days", "weekdays")
    assert done.returncode == 0, done.stderr
    shown = clawops(home, "brief", "--show", "--json")
    prefs = json.loads(shown.stdout)
    assert (prefs["time"], prefs["tz"], prefs["channels"]) == ("06:30", "Europe/Berlin", ["telegram"])
    assert prefs["days"] == ["monday", "tuesday", "wednesday", "thursday", "friday"]
    bad = clawops(home, "brief", "--tz", "Mars/Olympus")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and "time zone" in bad.stderr


async def test_the_scheduler_fires_at_each_operators_minute_in_their_zone(engine: Engine) -> None:
    from engine.scheduler import start_scheduler, stop_scheduler

    set_prefs(engine.store, "op-owner", at="06:30", tz="Europe/Berlin", days="weekdays")
    triggers = engine.scheduler.briefing_triggers()
    assert set(triggers) == {"briefing:op-owner"}
    scheduler = await start_scheduler(engine)
    try:
        (sched,) = [s for s in await scheduler.get_schedules() if s.id == "briefing:op-owner"]
        local = sched.next_fire_time.astimezone(ZoneInfo("Europe/Berlin"))
        assert (local.hour, local.minute) == (6, 30) and local.weekday() < 5
        # a change re-schedules: the engine's scheduler is told, the cron moves to the new minute
        set_prefs(engine.store, "op-owner", at="05:10", on_change=engine.scheduler.prefs_changed)
        await engine.scheduler.sync_briefings()
        (sched,) = [s for s in await scheduler.get_schedules() if s.id == "briefing:op-owner"]
        local = sched.next_fire_time.astimezone(ZoneInfo("Europe/Berlin"))
        assert (local.hour, local.minute) == (5, 10)
        set_prefs(engine.store, "op-owner", enabled=False)
        await engine.scheduler.sync_briefings()
        assert not [s for s in await scheduler.get_schedules() if s.id.startswith("briefing:")]
    finally:
        await stop_scheduler(scheduler)


async def test_a_failed_delivery_is_failed_everywhere_and_a_late_one_says_so(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    yesterday = datetime.now(UTC) - timedelta(days=2)
    set_prefs(engine.store, "op-owner", at="07:00", channels="telegram", no_weekly=True, now=yesterday)
    with engine.store.session() as s:
        s.add(ChannelIdentity(channel="telegram", external_id="4242", operator_id="op-owner"))
    heard: list[BriefingRun] = []
    remove = engine.scheduler.on_briefing_run(heard.append)
    slot = (datetime.now(UTC) + timedelta(days=1)).replace(hour=7, minute=0, second=0, microsecond=0)
    try:
        with caplog.at_level(logging.INFO, logger="clawops.briefer"):
            # no telegram channel runs in this process: the delivery fails and must say so
            (run,) = await run_due_briefings(engine, slot + timedelta(seconds=20), speak=False)
    finally:
        remove()
    assert run.delivered["telegram"] and "not running" in str(run.delivered["telegram"])
    assert heard == [run]
    assert any("FAILED" in r.getMessage() and r.levelno >= logging.ERROR for r in caplog.records)
    assert not any("delivered" in r.getMessage() and r.levelno < logging.WARNING for r in caplog.records)
    with engine.store.session() as s:
        entry = s.exec(select(AuditEntry).where(col(AuditEntry.action) == "briefing.delivery")).one()
    assert entry.outcome == "failed" and "telegram" in json.loads(entry.detail)["channels"]
    assert run.briefing is not None and "late" not in run.briefing.text

    # the next day the engine starts 2 h after the slot: caught up once, with the note; 4 h late: skipped
    late = await run_due_briefings(engine, slot + timedelta(days=1, hours=2), speak=False)
    assert len(late) == 1 and late[0].due.catch_up and late[0].briefing is not None
    assert "was due at 07:00" in late[0].briefing.text and "late" in late[0].briefing.text
    assert await run_due_briefings(engine, slot + timedelta(days=1, hours=2, minutes=1), speak=False) == []
    assert await run_due_briefings(engine, slot + timedelta(days=2, hours=4), speak=False) == []


async def test_the_daemon_tells_the_chat_a_briefing_failed(engine: Engine) -> None:
    from engine.api._daemon import tell_briefing_failures
    from engine.events import FeedItem

    set_prefs(
        engine.store,
        "op-owner",
        at="07:00",
        channels="whatsapp",
        no_weekly=True,
        now=datetime.now(UTC) - timedelta(days=2),
    )
    with engine.store.session() as s:
        s.add(ChannelIdentity(channel="whatsapp", external_id="+491701234567", operator_id="op-owner"))
    remove = tell_briefing_failures(engine)
    slot = (datetime.now(UTC) + timedelta(days=1)).replace(hour=7, minute=0, second=0, microsecond=0)
    try:
        async with engine.feed.subscribe() as feed:
            await run_due_briefings(engine, slot, speak=False)  # no WhatsApp channel runs here
            item = feed.get_nowait()
    finally:
        remove()
    assert isinstance(item, FeedItem) and item.operator == "owner" and item.agent == "briefer"
    assert "FAILED" in item.reply and "whatsapp" in item.reply and "saved at" in item.reply


@pytest.mark.parametrize(
    ("said", "args"),
    [
        ("brief me at 6:30", {"time": "06:30"}),
        ("brief me at six thirty", {"time": "06:30"}),
        ("send the morning briefing at 07:15 utc every day", {"time": "07:15", "tz": "UTC", "days": "every day"}),
        ("brief me at 7am berlin time on weekdays", {"time": "07:00", "tz": "Europe/Berlin", "days": "weekdays"}),
        ("no briefing on weekends", {"skip_days": "weekends"}),
        ("send it on whatsapp", {"channels": "whatsapp"}),
        ("stop the briefings", {"enabled": False}),
        ("when do i get my briefing?", {}),
        ("brief me now", None),
        ("daily briefing please", None),
        ("restart everything degraded on vultr at 6:30", None),
    ],
)
def test_briefing_preferences_in_words(said: str, args: dict[str, Any] | None) -> None:
    from engine.brain._briefing_prefs import briefing_schedule_args

    assert briefing_schedule_args(said) == args


class _HoldingHub:
    """A channel hub whose service is down: the Outbox holds what it was given (status ``queued``)."""

    async def send_to_operator(self, operator_id: str, text: str, **_: Any) -> Any:
        from types import SimpleNamespace

        return SimpleNamespace(statuses={"telegram": "queued"}, errors={"telegram": "Telegram is not answering"})


async def test_a_queued_briefing_is_never_reported_as_delivered(
    engine: Engine, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.briefer import _produce

    monkeypatch.setattr(_produce, "channel_hub", lambda _engine: _HoldingHub())
    set_prefs(
        engine.store,
        "op-owner",
        at="07:00",
        channels="telegram",
        no_weekly=True,
        now=datetime.now(UTC) - timedelta(days=2),
    )
    with engine.store.session() as s:
        s.add(ChannelIdentity(channel="telegram", external_id="4242", operator_id="op-owner"))
    slot = (datetime.now(UTC) + timedelta(days=1)).replace(hour=7, minute=0, second=0, microsecond=0)
    with caplog.at_level(logging.INFO, logger="clawops.briefer"):
        (run,) = await run_due_briefings(engine, slot + timedelta(seconds=20), speak=False)
    assert run.briefing is not None and run.delivered == {"telegram": None}  # not failed: the Outbox retries it
    assert not any("delivered on" in r.getMessage() for r in caplog.records)
    assert any("queued" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    with engine.store.session() as s:
        entry = s.exec(select(AuditEntry).where(col(AuditEntry.action) == "briefing.delivery")).one()
    assert entry.outcome == "queued" and json.loads(entry.detail)["queued"] == ["telegram"]
