"""Schedule logic with a controlled clock: 07:00 UTC by default, per-operator times, weekly reports,
missed runs caught up once (never repeated), nothing before a schedule existed."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from engine.briefer import (
    CATCH_UP_GRACE,
    MEMORY_KIND,
    Schedule,
    due_briefings,
    latest_slot,
    load_schedules,
    next_slot,
    set_schedule,
)
from engine.errors import InputError
from engine.runtime import Engine
from engine.store import Memory

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
    (due,) = due_briefings(three_days_ago, at(TUE, 9, 30), [DAILY])  # engine was down since Saturday
    assert due.slot == at(TUE, 7) and due.catch_up
    # once that slot is recorded nothing else is due until tomorrow
    assert due_briefings({DAILY.key: due.slot}, at(TUE, 9, 31), [DAILY]) == []
    assert due_briefings({DAILY.key: due.slot}, at(TUE + timedelta(days=1), 7), [DAILY])[0].slot == at(
        TUE + timedelta(days=1), 7)


def test_a_missed_slot_older_than_the_grace_is_skipped() -> None:
    last = {DAILY.key: at(TUE - timedelta(days=2), 7)}
    late = at(TUE, 7) + CATCH_UP_GRACE["daily"] + timedelta(minutes=1)
    assert due_briefings(last, late, [DAILY]) == []


def test_slots_before_the_schedule_existed_are_not_missed() -> None:
    fresh = Schedule("op-owner", "daily", since=at(TUE, 15))  # installed at 15:00
    assert due_briefings({}, at(TUE, 16), [fresh]) == []
    assert due_briefings({}, at(TUE + timedelta(days=1), 7), [fresh])[0].slot == at(TUE + timedelta(days=1), 7)


def test_per_operator_times_are_independent() -> None:
    alice = Schedule("op-alice", "daily", at=time(6, 30), channel="telegram")
    bob = Schedule("op-bob", "daily", at=time(8, 0))
    last = {alice.key: at(TUE - timedelta(days=1), 6, 30), bob.key: at(TUE - timedelta(days=1), 8)}
    assert [d.schedule.operator_id for d in due_briefings(last, at(TUE, 6, 30), [alice, bob])] == ["op-alice"]
    assert [d.schedule.operator_id for d in due_briefings(last, at(TUE, 8), [alice, bob])] == ["op-alice", "op-bob"]


def test_preferences_live_in_memories(clawops_home: Path) -> None:
    engine = Engine.open(demo_pairs=4)
    try:
        defaults = load_schedules(engine.store)
        assert {(s.operator_id, s.kind, s.at) for s in defaults} == {
            ("op-owner", "daily", time(7)), ("op-owner", "weekly", time(7))}
        set_schedule(engine.store, "op-owner", at="06:30", channel="telegram", kinds=("daily",))
        set_schedule(engine.store, "op-acme-ops", at="08:15", weekday="fri")
        schedules = {(s.operator_id, s.kind): s for s in load_schedules(engine.store)}
        assert set(schedules) == {("op-owner", "daily"), ("op-acme-ops", "daily"), ("op-acme-ops", "weekly")}
        assert schedules[("op-owner", "daily")].at == time(6, 30)
        assert schedules[("op-owner", "daily")].channel == "telegram"
        assert schedules[("op-acme-ops", "weekly")].weekday == 4
        # a new preference forgets the old one (one live row per operator)
        set_schedule(engine.store, "op-owner", at="07:45")
        with engine.store.session() as s:
            from sqlmodel import col, select

            live = s.exec(select(Memory).where(col(Memory.kind) == MEMORY_KIND, col(Memory.operator_id) == "op-owner",
                                               col(Memory.forgotten_at).is_(None))).all()
        assert len(live) == 1 and live[0].data["time"] == "07:45"
        with pytest.raises(InputError, match="07:00|06:30"):
            set_schedule(engine.store, "op-owner", at="seven")
        with pytest.raises(InputError, match="channel"):
            set_schedule(engine.store, "op-owner", channel="pigeon")
    finally:
        engine.close()
