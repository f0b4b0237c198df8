"""Briefing preferences in plain words → the ``briefing_schedule`` tool's arguments.

"brief me at 6:30", "send the morning briefing at 07:15 UTC every day", "no briefing on weekends",
"send it on WhatsApp", "brief me at 7 Berlin time on weekdays", "stop the briefings", "when do I get my
briefing?".  Recognisers for a time of day, a time zone, days and channels run over the (lower-cased)
clause; a clause is a briefing preference only when it speaks of the briefing (or of sending "it") *and*
carries one of those slots, or asks when the briefing comes.  "brief me now" / "daily briefing" are not
preferences: they stay the ``briefing`` tool.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["briefing_schedule_args", "parse_clock"]

_BRIEF = r"(?:brief(?:ing|ings)?|morning report|daily report|digest|summary)"
_ABOUT = re.compile(rf"\b{_BRIEF}\b")
_IT_SEND = re.compile(r"\b(?:send|deliver|put|give)\s+(?:it|them|that|mine)\b")
_ASK = re.compile(
    rf"\b(?:when(?:'s| is| do| does| will)?|what time(?:'s| is| do| does)?|which (?:time|days?|channels?))\b.*\b{_BRIEF}\b"
    rf"|\b(?:show|what(?:'s| is)|tell me)\s+(?:me\s+)?(?:my\s+)?{_BRIEF}\s+(?:schedule|time|settings|preferences)\b"
    rf"|^(?:my\s+)?{_BRIEF}\s+(?:schedule|time|settings|preferences)\s*\??$"
)
_NOW = re.compile(r"\b(?:now|right now|right away|at once|immediately|today's|this morning's)\b")
_TIME = re.compile(
    r"\b(?:at|for|to|by|around|@)\s*(\d{1,2})(?:[:.h](\d{2}))?\s*(a\.?m\.?|p\.?m\.?|o'?clock|h)?(?![\d/])"
    r"|\b(\d{1,2})[:.](\d{2})\s*(a\.?m\.?|p\.?m\.?)?\b|\b(\d{1,2})\s*(a\.?m\.?|p\.?m\.?)(?!\w)"
)
_MORNING = re.compile(r"\b(?:in the morning|every morning|each morning|mornings)\b")
_TZ_NAME = re.compile(r"\b((?:europe|america|asia|africa|australia|pacific|atlantic|indian)/[a-z_]+(?:/[a-z_]+)?)\b")
_TZ_WORD = re.compile(r"\b(utc|gmt|cet|cest|z)\b")
_CITY = re.compile(r"\b([a-z]+(?: [a-z]+)?) time\b")
_CITIES = {
    "berlin": "Europe/Berlin",
    "paris": "Europe/Paris",
    "london": "Europe/London",
    "amsterdam": "Europe/Amsterdam",
    "madrid": "Europe/Madrid",
    "rome": "Europe/Rome",
    "vienna": "Europe/Vienna",
    "zurich": "Europe/Zurich",
    "warsaw": "Europe/Warsaw",
    "lisbon": "Europe/Lisbon",
    "dublin": "Europe/Dublin",
    "helsinki": "Europe/Helsinki",
    "new york": "America/New_York",
    "chicago": "America/Chicago",
    "denver": "America/Denver",
    "los angeles": "America/Los_Angeles",
    "toronto": "America/Toronto",
    "sao paulo": "America/Sao_Paulo",
    "singapore": "Asia/Singapore",
    "tokyo": "Asia/Tokyo",
    "sydney": "Australia/Sydney",
    "mumbai": "Asia/Kolkata",
    "dubai": "Asia/Dubai",
    "hong kong": "Asia/Hong_Kong",
    "eastern": "America/New_York",
    "pacific": "America/Los_Angeles",
    "central": "America/Chicago",
    "uk": "Europe/London",
    "german": "Europe/Berlin",
}
_DAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues?|wed|thu(?:rs?)?|fri|sat|sun)s?"
_DAY_NAMES = {
    "mon": "monday",
    "tue": "tuesday",
    "wed": "wednesday",
    "thu": "thursday",
    "fri": "friday",
    "sat": "saturday",
    "sun": "sunday",
}
_NEG = r"(?:no|not|never|skip|without|except|but not|none)"
_SKIP = re.compile(rf"\b{_NEG}\b[^.]*?\b(weekends?|saturdays? and sundays?|{_DAY}(?:(?:,| and| or)\s*{_DAY})*)\b")
_EVERY_DAY = re.compile(r"\b(?:every ?day|daily|each day|7 days|seven days)\b")
_WEEKDAYS = re.compile(
    r"\b(?:weekdays|workdays|working days|business days|monday to friday|mon-fri|mondays to fridays)\b"
)
_WEEKENDS = re.compile(r"\b(?:on )?weekends?\b")
_ON_DAYS = re.compile(rf"\b(?:on|every)\s+({_DAY}(?:(?:,|\s+and|\s+or)?\s*{_DAY})*)\b")
_CHANNEL = re.compile(r"\b(?:on|via|over|through|to|by|in)\s+(?:my\s+)?(telegram|whatsapp|whats app)\b")
_OFF = re.compile(
    rf"\b(?:stop|cancel|disable|turn off|switch off|pause|no more|don'?t send)\b[^.]*\b{_BRIEF}\b"
    rf"|\b{_BRIEF}\b[^.]*\b(?:off|disabled)\b"
)
_ON = re.compile(rf"\b(?:resume|restart|enable|turn on|switch on|start)\b[^.]*\b{_BRIEF}\b")


def parse_clock(hour: int, minute: int, suffix: str | None) -> str | None:
    """ "6", "30", "pm" → "18:30"; None when it is not a time of day."""
    mark = (suffix or "").replace(".", "")
    if mark == "pm" and hour < 12:
        hour += 12
    elif mark == "am" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


_HOUR_WORDS = {
    w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())
}
_MINUTE_WORDS = {
    "o'clock": 0,
    "oclock": 0,
    "fifteen": 15,
    "thirty": 30,
    "forty five": 45,
    "forty-five": 45,
    "twenty": 20,
    "ten": 10,
    "five": 5,
    "oh five": 5,
    "fifty": 50,
    "forty": 40,
}
_WORD_TIME = re.compile(
    r"\b(at|for|to|around) ("
    + "|".join(_HOUR_WORDS)
    + r")(?: ("
    + "|".join(sorted(_MINUTE_WORDS, key=len, reverse=True))
    + r"))?\b"
)


def _digits_for_words(text: str) -> str:
    """ "at six thirty" → "at 6:30", "at seven" → "at 7" (a time said in words)."""

    def swap(m: re.Match[str]) -> str:
        minute = _MINUTE_WORDS.get(m.group(3) or "o'clock", 0)
        return f"{m.group(1)} {_HOUR_WORDS[m.group(2)]}:{minute:02d}"

    return _WORD_TIME.sub(swap, text)


def _time(text: str) -> str | None:
    text = _digits_for_words(text)
    for m in _TIME.finditer(text):
        if m.group(1) is not None:
            hour, minute, suffix = int(m.group(1)), int(m.group(2) or 0), m.group(3)
        elif m.group(4) is not None:
            hour, minute, suffix = int(m.group(4)), int(m.group(5)), m.group(6)
        else:
            hour, minute, suffix = int(m.group(7)), 0, m.group(8)
        if suffix and suffix.startswith(("o", "h")):
            suffix = None
        found = parse_clock(hour, minute, suffix)
        if found is not None:
            return found
    return None


def _tz(text: str) -> str | None:
    named = _TZ_NAME.search(text)
    if named:
        return "/".join(
            p.capitalize() if "_" not in p else "_".join(w.capitalize() for w in p.split("_"))
            for p in named.group(1).split("/")
        )
    word = _TZ_WORD.search(text)
    if word:
        return {"utc": "UTC", "gmt": "UTC", "z": "UTC", "cet": "Europe/Berlin", "cest": "Europe/Berlin"}[word.group(1)]
    for m in _CITY.finditer(text):
        words = m.group(1).split()
        for take in (words[-2:], words[-1:]):
            name = " ".join(take)
            if name in _CITIES:
                return _CITIES[name]
    for city, name in _CITIES.items():
        if len(city) > 4 and re.search(rf"\b(?:in|for) {city}\b", text):
            return name
    return None


def _day_list(text: str) -> str:
    names = [_DAY_NAMES[m.group(0)[:3]] for m in re.finditer(_DAY, text)]
    return ",".join(dict.fromkeys(names))


def briefing_schedule_args(text: str) -> dict[str, Any] | None:
    """The ``briefing_schedule`` arguments this clause asks for ({} = read them back), or None if it is not one."""
    about = bool(_ABOUT.search(text))
    if about and _ASK.search(text):
        return {}
    if not about and not _IT_SEND.search(text):
        return None
    args: dict[str, Any] = {}
    if _OFF.search(text) and not _SKIP.search(text):
        return {"enabled": False}
    if _ON.search(text):
        args["enabled"] = True
    channel = _CHANNEL.search(text)
    if channel:
        args["channels"] = channel.group(1).replace(" ", "")
    if not about:  # "send it on WhatsApp": only a channel makes "it" the briefing
        return args or None
    if _NOW.search(text) and not _TIME.search(_digits_for_words(text)):
        return None  # "brief me now": the briefing itself
    at = _time(text)
    if at is not None:
        args["time"] = at
    tz = _tz(text)
    if tz is not None:
        args["tz"] = tz
    skip = _SKIP.search(text)
    rest = text
    if skip:
        what = skip.group(1)
        args["skip_days"] = "weekends" if what.startswith(("weekend", "saturday")) else _day_list(what)
        rest = text[: skip.start()] + text[skip.end() :]
    if _WEEKDAYS.search(rest):
        args["days"] = "weekdays"
    elif _EVERY_DAY.search(rest):
        args["days"] = "every day"
    elif _WEEKENDS.search(rest) and not skip:
        args["days"] = "weekends"
    else:
        on = _ON_DAYS.search(rest)
        if on and _day_list(on.group(1)):
            args["days"] = _day_list(on.group(1))
    if set(args) == {"days"} and args["days"] == "every day" and not re.search(r"\bevery ?day\b|\beach day\b", text):
        return None  # "daily briefing please": the briefing itself, not a schedule
    if not args and _MORNING.search(text) and re.search(r"\b(?:brief me|send|give)\b", text):
        args["enabled"] = True  # "brief me in the morning": on, at the time already set (07:00 by default)
    return args or None
