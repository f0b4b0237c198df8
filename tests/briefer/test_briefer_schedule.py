"""Schedule logic with a controlled clock: 07:00 UTC by default, per-operator times in their own time zones
and days, weekly reports, missed runs caught up once (never repeated, never over 3 hours late), nothing
before a schedule existed; preferences in one table."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from engine.briefer import (
    CATCH_UP_GRACE,
    Schedule,
    describe_prefs,
    due_briefings,
    get_prefs,
    latest_slot,
    load_schedules,
    next_slot,
    parse_days,
    set_prefs,
    set_schedule,
)
from engine.errors import InputError
from engine.runtime import Engine
from engine.store import AuditEntry, BriefingPreference

TUE = datetime(2026, 11, 24, tzinfo=UTC)  # a Tuesday
DAILY = Schedule("op-owner", "daily")
WEEKLY = Schedule("op-owner", "weekly")


def at(day: datetime, hh: int, mm: int = 0) -> datetime:
    return day.replace(hour=hh, minute=mm)


def test_daily_slot_is_07_00_utc_by_default() -> None:
    assert latest_slot(DAILY, at(TUE, 7)) == at(TUE, 7)
    assert latest_slot(DAILY, at(TUE, 6, 59)) == at(TUE - timedelta(days=1), 7)
    assert next_slot(DAILY, at(TUE, 7)) == at(TUE + timedelta(days=1), 7)


def test_weekly_slot_is_monday_07_00() -> None:
    monday = TUE - timedelta(days=1)
    assert latest_slot(WEEKLY, at(TUE, 12)) == at(monday, 7)
    assert latest_slot(WEEKLY, at(monday, 6)) == at(monday - timedelta(days=7), 7)
    assert next_slot(WEEKLY, at(TUE, 12)) == at(monday + timedelta(days=7), 7)


def test_due_at_the_scheduled_minute_and_not_before() -> None:
    yesterday = {DAILY.key: at(TUE - timedelta(days=1), 7)}
    assert due_briefings(yesterday, at(TUE, 6, 59), [DAILY]) == []
    (due,) = due_briefings(yesterday, at(TUE, 7), [DAILY])
    assert due.slot == at(TUE, 7) and not due.catch_up


def test_a_recorded_slot_is_never_repeated() -> None:
    done = {DAILY.key: at(TUE, 7)}
    for minute in range(1, 600, 7):  # the scheduler ticking every few minutes all day
        assert due_briefings(done, at(TUE, 7) + timedelta(minutes=minute), [DAILY]) == []


def test_missed_days_are_caught_up_once_as_the_latest_slot() -> None:
    three_days_ago = {DAILY.key: at(TUE - timedelta(days=3), 7)}
    (due,) = due_briefings(three_days_ago, at(TUE, 9, 30), [DAILY])  # engine down since Saturday
    assert due.slot == at(TUE, 7) and due.catch_up
    # once that slot is recorded nothing else is due until tomorrow
    assert due_briefings({DAILY.key: due.slot}, at(TUE, 9, 31), [DAILY]) == []
    assert due_briefings({DAILY.key: due.slot}, at(TUE + timedelta(days=1), 7), [DAILY])[0].slot == at(
        TUE + timedelta(days=1), 7
    )


def test_a_missed_slot_older_than_the_grace_is_skipped() -> None:
    last = {DAILY.key: at(TUE - timedelta(days=2), 7)}
    late = at(TUE, 7) + CATCH_UP_GRACE["daily"] + timedelta(minutes=1)
    assert due_briefings(last, late, [DAILY]) == []


def test_slots_before_the_schedule_existed_are_not_missed() -> None:
    fresh = Schedule("op-owner", "daily", since=at(TUE, 15))  # installed at 15:00
    assert due_briefings({}, at(TUE, 16), [fresh]) == []
    assert due_briefings({}, at(TUE + timedelta(days=1), 7), [fresh])[0].slot == at(TUE + timedelta(days=1), 7)


def test_per_operator_times_are_independent() -> None:
    alice = Schedule("op-alice", "daily", at=time(6, 30), channels=("telegram",))
    bob = Schedule("op-bob", "daily", at=time(8, 0))
    last = {alice.key: at(TUE - timedelta(days=1), 6, 30), bob.key: at(TUE - timedelta(days=1), 8)}
    assert [d.schedule.operator_id for d in due_briefings(last, at(TUE, 6, 30), [alice, bob])] == ["op-alice"]
    assert [d.schedule.operator_id for d in due_briefings(last, at(TUE, 8), [alice, bob])] == ["op-alice", "op-bob"]


def test_a_local_time_fires_at_that_minute_in_its_time_zone_across_dst() -> None:
    berlin = Schedule("op-alice", "daily", at=time(6, 30), tz="Europe/Berlin")
    winter, summer = datetime(2026, 11, 24, 12, tzinfo=UTC), datetime(2026, 7, 14, 12, tzinfo=UTC)
    assert latest_slot(berlin, winter) == datetime(2026, 11, 24, 5, 30, tzinfo=UTC)  # CET = UTC+1
    assert latest_slot(berlin, summer) == datetime(2026, 7, 14, 4, 30, tzinfo=UTC)  # CEST = UTC+2
    tokyo = Schedule("op-bob", "daily", at=time(7, 0), tz="Asia/Tokyo")
    assert next_slot(tokyo, datetime(2026, 11, 24, 23, tzinfo=UTC)) == datetime(2026, 11, 25, 22, tzinfo=UTC)


def test_no_briefing_on_days_left_out() -> None:
    weekdays = Schedule("op-owner", "daily", days=(0, 1, 2, 3, 4))
    friday, saturday = datetime(2026, 11, 27, 9, tzinfo=UTC), datetime(2026, 11, 28, 9, tzinfo=UTC)
    assert latest_slot(weekdays, saturday) == at(friday, 7)  # Saturday 07:00 is not a slot
    assert next_slot(weekdays, friday) == datetime(2026, 11, 30, 7, tzinfo=UTC)  # Monday
    assert due_briefings({weekdays.key: at(friday, 7)}, at(saturday, 7, 1), [weekdays]) == []


def test_preferences_live_in_one_table(clawops_home: Path) -> None:
    engine = Engine.open(demo_pairs=4)
    try:
        defaults = load_schedules(engine.store)
        assert {(s.operator_id, s.kind, s.at) for s in defaults} == {
            ("op-owner", "daily", time(7)),
            ("op-owner", "weekly", time(7)),
        }
        set_schedule(engine.store, "op-owner", at="06:30", channel="telegram", kinds=("daily",))
        set_schedule(engine.store, "op-acme-ops", at="08:15", weekday="fri")
        schedules = {(s.operator_id, s.kind): s for s in load_schedules(engine.store)}
        assert set(schedules) == {("op-owner", "daily"), ("op-acme-ops", "daily"), ("op-acme-ops", "weekly")}
        assert schedules[("op-owner", "daily")].at == time(6, 30)
        assert schedules[("op-owner", "daily")].channels == ("telegram",)
        assert schedules[("op-acme-ops", "weekly")].weekday == 4
        # a partial change keeps the rest: only the time zone and days move
        prefs = set_prefs(engine.store, "op-owner", tz="Europe/Berlin", skip_days="weekends")
        assert (f"{prefs.at:%H:%M}", prefs.timezone, prefs.days, prefs.channels) == (
            "06:30",
            "Europe/Berlin",
            (0, 1, 2, 3, 4),
            ("telegram",),
        )
        assert "06:30 Europe/Berlin on weekdays, via Telegram" in describe_prefs(prefs)
        with engine.store.session() as s:
            assert len(s.exec(select(BriefingPreference)).all()) == 2  # one row per operator
            changes = s.exec(select(AuditEntry).where(col(AuditEntry.action) == "briefing.preferences")).all()
        assert len(changes) == 3
        # bad input changes nothing
        with pytest.raises(InputError, match="06:30"):
            set_prefs(engine.store, "op-owner", at="seven")
        with pytest.raises(InputError, match="time zone"):
            set_prefs(engine.store, "op-owner", tz="Mars/Olympus")
        with pytest.raises(InputError, match="channel"):
            set_prefs(engine.store, "op-owner", channels="pigeon")
        with pytest.raises(InputError, match="no day"):
            set_prefs(engine.store, "op-owner", skip_days="weekdays")
        assert get_prefs(engine.store, "op-owner") == prefs
    finally:
        engine.close()


@pytest.mark.parametrize(
    ("value", "days"),
    [
        ("weekdays", (0, 1, 2, 3, 4)),
        ("every day", (0, 1, 2, 3, 4, 5, 6)),
        ("weekends", (5, 6)),
        ("mon,wed,fri", (0, 2, 4)),
        ("fri-mon", (0, 4, 5, 6)),
        ([1, "thursday"], (1, 3)),
    ],
)
def test_days_in_words(value: str | list[int | str], days: tuple[int, ...]) -> None:
    assert parse_days(value) == days
