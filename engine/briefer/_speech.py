"""Text for the ear: what a reply or a briefing sounds like when Piper reads it aloud.

A written reply is full of things that read well and sound terrible: ids ("i-acct-042-p"), agent
tags, markdown, thousands separators (Piper says "1,700" as "one, seven hundred"), currency codes,
state names in capitals.  ``for_ear`` rewrites a reply so it can be spoken; the briefing script is
written for the ear from the start and only passes through it as a safety net.
"""

from __future__ import annotations

import re

from engine.domain import parse_region
from engine.errors import ClawOpsError

__all__ = ["MAX_REPLY_WORDS", "PROVIDER_NAMES", "duration_words", "for_ear", "money_words", "plural", "spoken_reply"]

PROVIDER_NAMES = {
    "hetzner": "Hetzner",
    "vultr": "Vultr",
    "digitalocean": "Digital Ocean",
    "contabo": "Contabo",
    "hostinger": "Hostinger",
    "sim": "the simulator",
}
"""How each provider's name is spoken (and written in the briefing)."""

_TAG = re.compile(r"\[[A-Za-z]+\]\s*")
_IDS = re.compile(r"\b(?:i-acct-[0-9a-z]+-[ps]|acct-[0-9a-z]+|pl-[0-9a-z]+|job-[0-9a-z]+|inc-[0-9a-z]+)\b")
_INSTANCE_ID = re.compile(r"\bi-acct-0*(\d+)-([ps])\b")
_ACCOUNT_ID = re.compile(r"\bacct-0*(\d+)\b")
MAX_REPLY_WORDS = 36
"""About 15 seconds at Piper's pace (well under 20 s, and quick to synthesise): the headline, the rest in the chat."""
_TABLE_LINE = re.compile(r"^\s*(?:[-*•]|\d+\.|\|)|\s{3,}\S|(?:;[^;]*){3,}")
_REGION = re.compile(r"\b(?:eu|us|ap)-[a-z]+-[a-z0-9]+\b")
_SCORE = re.compile(r"\b(ACTIVE|DEGRADED|FAILED|HEALING|ERROR) (\d{1,3})\b")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_MONEY_PREFIX = re.compile(r"([€$])\s?(\d+(?:\.\d+)?)")
_MONEY_CODE = re.compile(r"(\d+(?:\.\d+)?)\s?(EUR|USD)\b")
_FRACTION = re.compile(r"\b(\d+)/(\d+)\b")
_STATES = re.compile(
    r"\b(ACTIVE|DEGRADED|FAILED|HEALING|STANDBY_PROMOTING|DRAINING|ARCHIVING|DELETED|ERROR|"
    r"REQUESTED|CREATING|BOOTSTRAPPING|DEMO)\b"
)


def plural(n: int, one: str, many: str | None = None) -> str:
    """ "1 pair", "3 pairs": numbers as digits (Piper reads plain digits well), the noun agreeing."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def money_words(eur: float) -> str:
    """A spoken amount: whole euros ("about 412 euros"); cents are noise in a voice note."""
    whole = round(eur)
    if whole == 0 and eur > 0:
        return "less than 1 euro"
    return f"{whole} euro" if whole == 1 else f"{whole} euros"


def duration_words(minutes: float) -> str:
    """ "4 hours and 10 minutes", "2 days and 3 hours": the two largest units, never seconds."""
    total = int(minutes)
    days, rem = divmod(total, 24 * 60)
    hours, mins = divmod(rem, 60)
    parts = [plural(v, unit) for v, unit in ((days, "day"), (hours, "hour"), (mins, "minute")) if v]
    if not parts:
        return "under a minute"
    return " and ".join(parts[:2])


def _money(match: re.Match[str]) -> str:
    amount = float(match.group(2))
    return money_words(amount) if match.group(1) == "€" else f"{round(amount)} dollars"


def _money_code(match: re.Match[str]) -> str:
    amount = float(match.group(1))
    return money_words(amount) if match.group(2) == "EUR" else f"{round(amount)} dollars"


def _city(match: re.Match[str]) -> str:
    try:
        return f"in {parse_region(match.group(0)).city}"
    except ClawOpsError:
        return ""


def _say_ids(text: str) -> str:
    """Ids as people say them: "i-acct-042-p" → "account 42's primary", "acct-042" → "account 42"."""
    text = re.sub(r"\b(Primary|Standby) i-acct-[0-9a-z]+-[ps]\b", r"\1", text)
    text = _INSTANCE_ID.sub(
        lambda m: f"account {int(m.group(1))}'s {'primary' if m.group(2) == 'p' else 'standby'}", text
    )
    return _ACCOUNT_ID.sub(lambda m: f"account {int(m.group(1))}", text)


def for_ear(text: str) -> str:
    """The reply as it should be spoken: no tags, markdown or symbols; ids and numbers as people say them."""
    text = _TAG.sub("", text)
    text = _say_ids(text)
    text = _IDS.sub("", text)
    text = _REGION.sub(_city, text)
    text = _SCORE.sub(r"\1, health \2", text)
    text = re.sub(r"(\d) s\b", r"\1 seconds", text)
    text = re.sub(r"\s*\(\s*\)", "", text)  # "(…)" left empty by dropped ids
    text = re.sub(r"\s>\s*(?=\d)", " over ", text)
    text = re.sub(r"[*_`#>|]+", " ", text)
    text = _THOUSANDS.sub("", text)
    text = _MONEY_PREFIX.sub(_money, text)
    text = _MONEY_CODE.sub(_money_code, text)
    text = re.sub(r"\s?/\s?(?:month|mo)\b", " a month", text)
    text = re.sub(r"(\d)\s?%", r"\1 percent", text)
    text = _FRACTION.sub(r"\1 of \2", text)
    text = text.replace("—", ", ").replace("–", ", ").replace("→", " to ").replace("…", ".")
    text = _STATES.sub(lambda m: m.group(1).replace("_", " ").lower(), text)
    for key, name in PROVIDER_NAMES.items():
        text = re.sub(rf"\b{key}\b", name, text)
    text = re.sub(r"\s+([,.;:?!])", r"\1", " ".join(text.split()))
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    text = re.sub(r"^[,;:.\s]+", "", text).strip()
    return text[:1].upper() + text[1:]


def spoken_reply(text: str, max_words: int = MAX_REPLY_WORDS) -> str:
    """A reply as a short voice answer (≤ about 20 s): the headline sentences, never a table or a list,
    then "Details in the chat." when anything was left out."""
    kept: list[str] = []
    count, dropped = 0, False
    ask = _closing_question(text)
    lines = text.splitlines()
    if ask:
        lines = lines[:-1] if lines[-1].strip() else [line for line in lines if line.strip()][:-1]
    for line in lines:
        if not line.strip():
            continue
        if kept and _TABLE_LINE.search(line):
            dropped = True  # lists, tables and id runs are for reading, not for the ear
            continue
        for sentence in re.split(r"(?<=[.!?])\s+", for_ear(line)):
            words = sentence.split()
            if not words:
                continue
            if kept and count + len(words) > max_words:
                dropped = True
                break
            if not kept and len(words) > max_words:
                sentence, dropped = " ".join(words[:max_words]).rstrip(",;:") + ".", True
            kept.append(sentence)
            count += len(sentence.split())
        if dropped and count >= max_words * 0.6:
            break
    spoken = " ".join(kept).strip()
    if ask:
        spoken = f"{spoken} {ask}".strip()  # what the operator must answer is never cut ("Say go 13 to run it")
    if dropped and spoken:
        spoken += " Details in the chat."
    return spoken


def _closing_question(text: str) -> str:
    """The reply's last line when it asks the operator something (a confirmation, a choice), spoken."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return ""
    last = lines[-1]
    if "?" in last or re.search(r"\b(?:say|reply|answer)\b", last, re.IGNORECASE):
        return for_ear(last)
    return ""
