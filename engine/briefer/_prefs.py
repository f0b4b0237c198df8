"""Briefing preferences: when (time and time zone), on which days, over which channels — one row per operator.

The ``briefing_preferences`` table is the one place a briefing time lives: the chat ("brief me at 6:30",
"no briefing on weekends", "send it on WhatsApp"), ``clawops brief --at 06:30 --tz Europe/Berlin --to telegram``
and the scheduler all read and write it here.  Each change is a partial update (the time stays when only the
channel changes), audited as ``briefing.preferences``, and re-schedules the operator's briefings where a
scheduler runs.  Without a row the owner gets the default (07:00 UTC every day, the weekly report on Mondays);
other operators get no scheduled briefing until they ask for one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

from sqlmodel import col, select

from engine import audit
from engine.briefer._schedule import (
    ALL_DAYS,
    DEFAULT_TIME,
    DEFAULT_WEEKDAY,
    WEEKDAYS,
    Schedule,
    next_slot,
    parse_time,
    parse_weekday,
    zone,
)
from engine.errors import InputError
from engine.store import BriefingPreference, ChannelIdentity, Operator, Store

__all__ = [
    "DELIVERY_CHANNELS",
    "BriefingPrefs",
    "describe_prefs",
    "get_prefs",
    "linked_channels",
    "load_schedules",
    "parse_days",
    "set_prefs",
]

log = logging.getLogger("clawops.briefer")

DELIVERY_CHANNELS = ("telegram", "whatsapp")
"""Where a briefing can be sent; it is always saved to the reports folder as well."""
WEEKDAY_SET = (0, 1, 2, 3, 4)
WEEKEND_SET = (5, 6)


@dataclass(frozen=True, slots=True)
class BriefingPrefs:
    """One operator's briefing preferences (defaults when they never said anything)."""

    operator_id: str
    at: time = DEFAULT_TIME
    timezone: str = "UTC"
    days: tuple[int, ...] = ALL_DAYS
    channels: tuple[str, ...] = ()
    weekly_day: int | None = DEFAULT_WEEKDAY
    enabled: bool = True
    updated_at: datetime | None = None
    stored: bool = field(default=False, compare=False)
    """False when these are the defaults (no row yet)."""

    def schedules(self, since: datetime | None = None) -> list[Schedule]:
        """The daily (and weekly) schedules these preferences mean; none when briefings are off."""
        if not self.enabled:
            return []
        since = since if since is not None else self.updated_at
        out = []
        if self.days:
            out.append(
                Schedule(
                    self.operator_id, "daily", self.at, DEFAULT_WEEKDAY, self.channels, since, self.timezone, self.days
                )
            )
        if self.weekly_day is not None:
            out.append(
                Schedule(
                    self.operator_id, "weekly", self.at, self.weekly_day, self.channels, since, self.timezone, self.days
                )
            )
        return out

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        """Plain data for the ``briefing_schedule`` tool's result and ``clawops brief --show --json``."""
        daily = next((s for s in self.schedules() if s.kind == "daily"), None)
        nxt = next_slot(daily, now or datetime.now(UTC)) if daily is not None else None
        return {
            "time": f"{self.at:%H:%M}",
            "tz": self.timezone,
            "days": [WEEKDAYS[d] for d in self.days],
            "channels": list(self.channels),
            "weekly_day": None if self.weekly_day is None else WEEKDAYS[self.weekly_day],
            "enabled": self.enabled,
            "next": nxt.isoformat() if nxt else None,
            "summary": describe_prefs(self, now),
        }


def _from_row(row: BriefingPreference) -> BriefingPrefs:
    try:
        at = parse_time(row.at)
        zone(row.timezone)
        tz = row.timezone
    except ValueError as exc:
        log.warning("briefing preferences of %s are unreadable (%s); using 07:00 UTC", row.operator_id, exc)
        at, tz = DEFAULT_TIME, "UTC"
    days = tuple(sorted({int(d) for d in row.days or [] if 0 <= int(d) <= 6}))
    channels = tuple(c for c in row.channels or [] if c in DELIVERY_CHANNELS)
    updated = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=UTC)
    return BriefingPrefs(row.operator_id, at, tz, days, channels, row.weekly_day, row.enabled, updated, stored=True)


def get_prefs(store: Store, operator_id: str) -> BriefingPrefs:
    """The operator's preferences, or the defaults (07:00 UTC every day) when they never set any."""
    with store.session() as s:
        row = s.get(BriefingPreference, operator_id)
        if row is not None:
            return _from_row(row)
        op = s.get(Operator, operator_id)
    owner = op is not None and op.name == "owner"
    return BriefingPrefs(operator_id, enabled=owner, updated_at=op.created_at if op is not None else None)


def parse_days(value: str | Iterable[Any]) -> tuple[int, ...]:
    """ "weekdays", "every day", "weekends", "mon-fri", "mon,wed,fri", [0, 2] → weekday numbers (0 = Monday)."""
    items: list[Any]
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("", "daily", "every day", "everyday", "all", "all days", "every"):
            return ALL_DAYS
        if text in ("weekdays", "workdays", "working days", "business days", "mon-fri", "monday-friday"):
            return WEEKDAY_SET
        if text in ("weekends", "weekend", "sat-sun", "saturday-sunday"):
            return WEEKEND_SET
        if "-" in text and "," not in text:
            first, _, last = text.partition("-")
            try:
                a, b = parse_weekday(first), parse_weekday(last)
            except ValueError:
                raise ValueError(f"'{value}' is not a list of days") from None
            return tuple(sorted({(a + i) % 7 for i in range((b - a) % 7 + 1)}))
        items = [p for p in text.replace(" and ", ",").replace(" ", ",").split(",") if p]
    else:
        items = list(value)
    out: set[int] = set()
    for item in items:
        if isinstance(item, str) and item.strip().lower() in ("weekdays", "weekends", "every day", "daily"):
            out |= set(parse_days(item))
            continue
        try:
            out.add(parse_weekday(int(item) if isinstance(item, str) and item.isdigit() else item))
        except ValueError:
            raise ValueError(f"'{item}' is not a day of the week") from None
    return tuple(sorted(out))


def linked_channels(store: Store, operator_id: str) -> list[str]:
    """The messaging channels this operator is linked on (``clawops operator link``)."""
    with store.session() as s:
        rows = s.exec(select(ChannelIdentity.channel).where(col(ChannelIdentity.operator_id) == operator_id)).all()
    return sorted({str(r) for r in rows if str(r) in DELIVERY_CHANNELS})


def set_prefs(
    store: Store,
    operator_id: str,
    *,
    at: str | time | None = None,
    tz: str | None = None,
    days: str | Sequence[Any] | None = None,
    skip_days: str | Sequence[Any] | None = None,
    channels: str | Sequence[str] | None = None,
    weekly_day: str | int | None = None,
    no_weekly: bool = False,
    enabled: bool | None = None,
    actor: str = "briefer",
    channel: str = "cli",
    now: datetime | None = None,
    on_change: Callable[[str], Any] | None = None,
) -> BriefingPrefs:
    """Change what was given, keep the rest; validate everything first (nothing half-done), audit, then tell
    ``on_change`` (the engine's scheduler re-schedules that operator at once; without it, at its next minute
    check, which also catches changes made by another process)."""
    current = get_prefs(store, operator_id)
    try:
        new_at = current.at if at is None else (at if isinstance(at, time) else parse_time(at))
        new_tz = current.timezone if tz is None else _tz_name(tz)
        new_days = current.days if days is None else parse_days(days)
        if skip_days is not None:
            new_days = tuple(d for d in new_days if d not in set(parse_days(skip_days)))
        new_weekly = None if no_weekly else (current.weekly_day if weekly_day is None else parse_weekday(weekly_day))
    except ValueError as exc:
        raise InputError(
            f"Cannot set the briefing: {exc}; use a time like 06:30, a time zone like Europe/Berlin "
            "and days like weekdays or mon,wed,fri."
        ) from None
    new_channels = current.channels if channels is None else _channels(channels)
    if not new_days and skip_days is not None:
        raise InputError('That leaves no day for the briefing; say "no briefings" to turn it off instead.')
    new_enabled = (
        True
        if enabled is None and (at is not None or days is not None or channels is not None or tz is not None)
        else (current.enabled if enabled is None else enabled)
    )
    when = now or datetime.now(UTC)
    with store.session() as s:
        if s.get(Operator, operator_id) is None:
            raise InputError(f"There is no operator {operator_id}; add one with clawops operator add.")
        row = s.get(BriefingPreference, operator_id) or BriefingPreference(operator_id=operator_id)
        row.at, row.timezone, row.days = f"{new_at:%H:%M}", new_tz, list(new_days)
        row.channels, row.weekly_day, row.enabled, row.updated_at = list(new_channels), new_weekly, new_enabled, when
        s.add(row)
        prefs = BriefingPrefs(
            operator_id, new_at, new_tz, new_days, new_channels, new_weekly, new_enabled, when, stored=True
        )
        audit.append(
            s,
            actor=actor,
            channel=channel,
            action="briefing.preferences",
            target=operator_id,
            detail={k: v for k, v in prefs.to_dict(when).items() if k not in ("next", "summary")},
        )
    if on_change is not None:
        try:
            on_change(operator_id)
        except Exception:  # a scheduler that cannot re-schedule now still reads the table at its next check
            log.exception("briefing preference listener failed")
    return prefs


def _tz_name(value: str) -> str:
    text = value.strip()
    aliases = {"utc": "UTC", "gmt": "UTC", "z": "UTC", "cet": "Europe/Berlin", "cest": "Europe/Berlin"}
    text = aliases.get(text.lower(), text)
    zone(text)
    return text


def _channels(value: str | Sequence[str]) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        for part in str(item).replace(" and ", ",").split(","):
            name = part.strip().lower()
            if name in ("", "all", "any", "linked", "both"):
                continue
            if name in ("reports", "report", "folder", "none"):
                continue
            if name not in DELIVERY_CHANNELS:
                raise InputError(
                    f"'{part.strip()}' is not a briefing channel; use telegram or whatsapp "
                    "(the report is always saved in the reports folder too)."
                )
            if name not in out:
                out.append(name)
    return tuple(out)


def _day_words(days: tuple[int, ...]) -> str:
    if days == ALL_DAYS:
        return "every day"
    if days == WEEKDAY_SET:
        return "on weekdays"
    if days == WEEKEND_SET:
        return "at weekends"
    return "on " + ", ".join(WEEKDAYS[d].capitalize() for d in days)


def describe_prefs(prefs: BriefingPrefs, now: datetime | None = None) -> str:
    """One sentence an operator can check: "Your briefing comes at 06:30 Europe/Berlin on weekdays, via Telegram…"."""
    if not prefs.enabled:
        return 'You get no scheduled briefing (say "brief me at 7:00" to start again; "brief me now" works any time).'
    where = " and ".join(c.capitalize() if c != "whatsapp" else "WhatsApp" for c in prefs.channels)
    where = f"via {where}" if where else "on every channel you are linked on"
    text = f"Your daily briefing comes at {prefs.at:%H:%M} {prefs.timezone} {_day_words(prefs.days)}, {where}"
    if prefs.weekly_day is not None:
        text += f"; the weekly report on {WEEKDAYS[prefs.weekly_day].capitalize()}s"
    daily = next((s for s in prefs.schedules() if s.kind == "daily"), None)
    nxt = next_slot(daily, now or datetime.now(UTC)) if daily is not None else None
    if nxt is not None:
        local = nxt.astimezone(zone(prefs.timezone))
        text += f". Next: {local:%a %d %b %H:%M} {prefs.timezone}"
        if prefs.timezone != "UTC":
            text += f" ({nxt:%H:%M} UTC)"
    return text + "."


def load_schedules(store: Store) -> list[Schedule]:
    """Every active operator's schedules, from the preferences table (the owner has defaults without a row)."""
    with store.session() as s:
        ops = s.exec(
            select(Operator.id, Operator.name, Operator.created_at).where(col(Operator.revoked_at).is_(None))
        ).all()
        rows = {r.operator_id: _from_row(r) for r in s.exec(select(BriefingPreference)).all()}
    out: list[Schedule] = []
    for op_id, name, created in ops:
        if op_id in rows:
            out.extend(rows[op_id].schedules())
        elif name == "owner":
            created_at = created if created.tzinfo else created.replace(tzinfo=UTC)
            out.extend(BriefingPrefs(op_id, updated_at=created_at).schedules())
    return out
