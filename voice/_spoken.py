"""Spoken ids → the fleet's written ids: "account zero four two", "acct 42", "Acts 17" → ``acct-042``.

One function for everyone who turns speech into a request: the transcript of a voice note passes through
``normalize_transcript`` before it is shown ("Heard: …") or understood, and the offline brain may call
``spoken_account_ids`` on typed text too.  Whisper writes an account number in many ways — "account
042", "account 0-4-2", "account 1.2.3", "Acts 17", "account zero four two" — and a half-awake operator says
"acct" or "account" with or without the leading zeros; all of them mean ``acct-NNN`` (three digits at least,
the way the fleet writes them).
"""

from __future__ import annotations

import re

__all__ = ["normalize_transcript", "spoken_account_ids", "spoken_times"]

_DIGIT_WORDS = {
    "zero": 0,
    "oh": 0,
    "nought": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
_TEENS = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_ACCOUNT = re.compile(
    r"\b(?:account|acct|acc|acts?|akt|count)(?:\s+(?:number|no\.?|#))?(?=[\s.,\-#]*(?:\d|[a-z]))", re.IGNORECASE
)
_DIGIT_BY_DIGIT = re.compile(r"(?:[\s.,\-]*\b\d\b){2,}")
_TOKEN = re.compile(r"[\s.,\-#]*(\d+|[a-z]+)", re.IGNORECASE)
_ARTICLE_BEFORE = re.compile(r"\b(?:the|a)\s+$", re.IGNORECASE)
_LINK = re.compile(
    r"\s+(?:of|to)\b(?=[\s.,\-#]*(?:\d|(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)\b))", re.IGNORECASE
)
_WRITTEN_ID = re.compile(r"[\s#]*(?:0\d+|\d{3,})\b")
# "at 630" / "at 6.30" / "at 0715": after a word that introduces a time, at the end of a clause or before am/pm.
_CLOCK = re.compile(
    r"\b((?:at|by|until|till|from|before|after)\s+)(\d{1,2})(\.?)([0-5]\d)(?=\s*(?:[.,!?;]|$|[ap]\.?m\b|"
    r"utc\b|every\b|each\b|tomorrow\b|today\b|tonight\b|on\b))",
    re.IGNORECASE,
)


def _read_number(text: str, pos: int) -> tuple[int, int] | None:
    """The account number spoken or written at ``pos`` and where it ends, or None.

    Digit by digit ("zero four two", "0-4-2", "1.2.3") the digits are joined; in words ("forty two",
    "one hundred and five") they are added up; "042" is 42.
    """
    digits: list[int] = []
    words_total, current, used_words, end = 0, 0, False, pos
    while True:
        m = _TOKEN.match(text, end)
        if m is None:
            break
        token = m.group(1).lower()
        if token.isdigit() and not used_words:
            if len(token) > 1:  # "042": the whole number at once; "0.42" / "0 42": the digits run on
                if not digits or len(digits) + len(token) <= 4:
                    digits, end = digits + [int(c) for c in token], m.end()
                break
            digits.append(int(token))
            end = m.end()
            continue
        if token in _DIGIT_WORDS and not used_words:
            digits.append(_DIGIT_WORDS[token])
            end = m.end()
            continue
        if token in _TEENS or token in _TENS or (token == "hundred" and (digits or current)):
            if digits:
                current, digits = int("".join(str(d) for d in digits)), []
            used_words = True
            if token == "hundred":
                current = max(current, 1) * 100
            else:
                current += _TEENS.get(token, 0) + _TENS.get(token, 0)
            end = m.end()
            continue
        if used_words and token in _DIGIT_WORDS and current % 10 == 0:
            current += _DIGIT_WORDS[token]
            end = m.end()
            continue
        if used_words and token == "and" and current % 100 == 0:
            nxt = _TOKEN.match(text, m.end())
            if nxt and nxt.group(1).lower() in {**_DIGIT_WORDS, **_TEENS, **_TENS}:
                end = m.end()
                continue
        break
    if used_words:
        value = words_total + current
    elif digits:
        value = int("".join(str(d) for d in digits))
    else:
        return None
    return (value, end) if 0 < value <= 99_999 else None


def spoken_account_ids(text: str) -> str:
    """Every account number said or misheard in ``text`` written as ``acct-NNN``; the rest is unchanged."""
    out, pos = [], 0
    for m in _ACCOUNT.finditer(text):
        if m.start() < pos:
            continue
        start, number_at = m.start(), m.end()
        if m.group(0).lower().startswith("count"):
            # "account" heard as "the count": "the count 042", "the count of 055" (an article never precedes a
            # verb "count"), "Count 111" (a fleet id is written with three digits), "Count 1 2 3" (digit by digit).
            article = _ARTICLE_BEFORE.search(text, 0, m.start())
            if article is not None:
                link = _LINK.match(text, m.end())
                number_at = link.end() if link else m.end()
            found = _read_number(text, number_at)
            attached = m.end() < len(text) and text[m.end()].isdigit()  # "Count123"
            written = _WRITTEN_ID.match(text, number_at)
            if (
                found is not None
                and article is None
                and not attached
                and written is None
                and not _DIGIT_BY_DIGIT.match(text, m.end())
            ):
                found = None  # "count 5" is a count
            if found is not None and article is not None:
                start = article.start()
        else:
            found = _read_number(text, number_at)
        if found is None:
            continue
        value, end = found
        out.append(text[pos:start])
        out.append(f"acct-{value:03d}")
        pos = end
    out.append(text[pos:])
    return "".join(out)


def spoken_times(text: str) -> str:
    """Clock times Whisper writes without a colon ("at 630.", "at 7.15") written as times ("at 6:30.")."""

    def fix(m: re.Match[str]) -> str:
        hour, minute = int(m.group(2)), m.group(4)
        if hour > 23 or (minute == "00" and not m.group(3)):
            return m.group(0)  # "at 100" is a hundred, "at 1.00" a time
        return f"{m.group(1)}{hour}:{minute}"

    return _CLOCK.sub(fix, text)


def normalize_transcript(text: str) -> str:
    """What a voice note said, ready to show and to understand: spoken account ids written as ids, clock times
    written with a colon."""
    return spoken_times(spoken_account_ids(text))
