"""When briefings are due: pure functions of (last runs, now, schedules), tested with a controlled clock.

Rules:

* every schedule has a time of day in the operator's time zone (default 07:00 UTC), the weekdays the
  daily briefing goes out on (default every day) and, for the weekly report, a weekday (default Monday);
* a run is identified by its **slot** (the scheduled datetime it is for); a slot is done once any run
  for it was recorded, so a restart never repeats it;
* a missed slot (engine down at 07:00) is **caught up once**, as the latest missed slot only: three
  missed days give one catch-up, not three, because each briefing covers everything since the previous
  one anyway;
* a missed slot older than the grace (3 h daily, 1 day weekly) is skipped: the next on-time run
  covers it, and a "good morning" at midnight helps nobody; a caught-up run says it is late;
* slots before a schedule existed (``since``: when the operator set it, or the install) were never
  missed, so a fresh install does not brief immediately.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.briefer._facts import Kind

__all__ = [
    "CATCH_UP_GRACE",
    "DEFAULT_TIME",
    "DEFAULT_WEEKDAY",
    "WEEKDAYS",
    "DueBriefing",
    "Schedule",
    "due_briefings",
    "latest_slot",
    "next_slot",
    "parse_time",
    "parse_weekday",
    "zone",
]

DEFAULT_TIME = time(7, 0)
DEFAULT_WEEKDAY = 0
"""Monday: the weekly report arrives with the first daily briefing of the week."""
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ALL_DAYS: tuple[int, ...] = tuple(range(7))
CATCH_UP_GRACE: dict[str, timedelta] = {"daily": timedelta(hours=3), "weekly": timedelta(days=1)}
LATE_AFTER = timedelta(minutes=5)
"""A run started this long after its slot is reported as a catch-up."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """One operator's briefing of one kind: when (local time in ``tz``), on which days, over which channels."""

    operator_id: str
    kind: Kind
    at: time = DEFAULT_TIME
    weekday: int = DEFAULT_WEEKDAY
    channels: tuple[str, ...] = ()
    """"telegram", "whatsapp"; empty = every channel the operator is linked on (else the reports folder)."""
    since: datetime | None = None
    tz: str = "UTC"
    days: tuple[int, ...] = ALL_DAYS
    """Weekdays (0 = Monday) of the daily briefing; the weekly report uses ``weekday``."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.operator_id, self.kind)


@dataclass(frozen=True, slots=True)
class DueBriefing:
    """A briefing to produce now: for which schedule and which slot, and whether it is a late catch-up."""

    schedule: Schedule
    slot: datetime
    catch_up: bool


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` ("Europe/Berlin", "UTC"); raises ValueError for an unknown one."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{name}' is not a time zone") from None


def _days(schedule: Schedule) -> frozenset[int]:
    return frozenset({schedule.weekday} if schedule.kind == "weekly" else schedule.days)


def _slot_on(schedule: Schedule, day: Any) -> datetime:
    """The schedule's time on local calendar ``day``, in UTC (DST-aware: 06:30 Berlin is 05:30 or 04:30 UTC)."""
    return datetime.combine(day, schedule.at, tzinfo=zone(schedule.tz)).astimezone(UTC)


def latest_slot(schedule: Schedule, now: datetime) -> datetime | None:
    """The most recent scheduled time at or before ``now`` (UTC), or None when the schedule has no days."""
    days = _days(schedule)
    if not days:
        return None
    now = _utc(now)
    local = now.astimezone(zone(schedule.tz)).date()
    for back in range(8):
        day = local - timedelta(days=back)
        if day.weekday() in days:
            slot = _slot_on(schedule, day)
            if slot <= now:
                return slot
    return None


def next_slot(schedule: Schedule, now: datetime) -> datetime | None:
    """The first scheduled time strictly after ``now`` (UTC), or None when the schedule has no days."""
    days = _days(schedule)
    if not days:
        return None
    now = _utc(now)
    local = now.astimezone(zone(schedule.tz)).date()
    for ahead in range(9):
        day = local + timedelta(days=ahead)
        if day.weekday() in days:
            slot = _slot_on(schedule, day)
            if slot > now:
                return slot
    return None


def due_briefings(
    last_runs: Mapping[tuple[str, str], datetime],
    now: datetime,
    schedules: Iterable[Schedule],
) -> list[DueBriefing]:
    """The briefings to run at ``now``.

    ``last_runs`` maps ``(operator_id, kind)`` to the slot of the last recorded run.  Pure: the same
    inputs always give the same answer, so a scheduler calling this every minute runs each slot once.
    """
    now = _utc(now)
    out = []
    for schedule in schedules:
        slot = latest_slot(schedule, now)
        if slot is None:
            continue
        last = last_runs.get(schedule.key)
        if last is not None and _utc(last) >= slot:
            continue
        if schedule.since is not None and slot < _utc(schedule.since):
            continue
        if now - slot > CATCH_UP_GRACE[schedule.kind]:
            continue
        out.append(DueBriefing(schedule, slot, catch_up=now - slot > LATE_AFTER))
    return sorted(out, key=lambda d: (d.slot, d.schedule.operator_id, d.schedule.kind))


def parse_time(value: Any) -> time:
    """ "06:30" / "6:30" / "0630" → 06:30; raises ValueError for anything else."""
    text = str(value).strip().replace(".", ":")
    if text.isdigit() and len(text) in (3, 4):
        text = f"{text[:-2]}:{text[-2:]}"
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and int(hours) < 24 and int(minutes) < 60):
        raise ValueError(f"'{value}' is not a time like 07:00")
    return time(int(hours), int(minutes))


def parse_weekday(value: Any) -> int:
    """ "monday"/"mon"/0 → 0; raises ValueError for anything else."""
    if isinstance(value, int) and 0 <= value <= 6:
        return value
    text = str(value).strip().lower()
    for i, name in enumerate(WEEKDAYS):
        if len(text) >= 3 and name.startswith(text):
            return i
    raise ValueError(f"'{value}' is not a weekday")
