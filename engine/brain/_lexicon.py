"""Normalise once, at the door: the folded text the offline brain matches on, and what was corrected.

An operator's message is read through one door (see ``UNDERSTANDING.md``):

1. Unicode NFKC with zero-width and bidi controls removed (the trust layer's ``normalize`` when present),
   then case-folded; the original text is kept by the caller for storage and display.
2. Spoken and shorthand forms become canonical tokens: "account zero four two", "acct 42", "account
   number 7" → ``acct-042``/``acct-007``; "DO", "digi ocean" → ``digitalocean``; "hz" → ``hetzner``; region
   shorthands "nbg", "fsn", "hel", "lon" → the region's own code.
3. Words that are not English the brain knows and lie within a small edit distance of the fleet's own
   vocabulary (providers, states, tiers, roles, cities, agents) are corrected, and each correction is
   remembered so the reply can say "(read 'hetnzer' as hetzner)".

Action verbs are never corrected here: a misspelt verb is asked back ("did you mean restart …?"), because
guessing an action is worse than asking.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.trust import normalize

__all__ = ["COMMON_WORDS", "FLEET_VOCABULARY", "Prepared", "edit_distance", "nearest", "prepare", "to_number"]

DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_TENS = {
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
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_NUMBER_WORD = "|".join(sorted({*DIGIT_WORDS, *_TENS, "hundred"} - {"o"}, key=len, reverse=True))
_SPOKEN_ID_RE = re.compile(
    rf"\b(?:acct|account|acc|accnt|acount|accout|accunt|customer)s?(?:\s+(?:number|no\.?|num|nr|#))?\s*[#-]?\s*"
    rf"(\d{{1,6}}\b|(?:(?:{_NUMBER_WORD})(?:[\s-]+(?:and\s+)?(?={_NUMBER_WORD}))?)+)(?![a-z-])"
)
_ALIASES = (
    (re.compile(r"\b(?:hz|htz|hetz|hetzner\s+cloud)\b"), "hetzner"),
    (re.compile(r"\b(?:digi\s*ocean|d\.o\.|digital\s+ocean|digitalocean)\b"), "digitalocean"),
    (re.compile(r"\bnbg\b"), "nbg1"),
    (re.compile(r"\bfsn\b"), "fsn1"),
    (re.compile(r"\bhel\b"), "hel1"),
    (re.compile(r"\blon\b"), "lon1"),
    (re.compile(r"\bsfo\b"), "sfo3"),
    (re.compile(r"\bperf\b"), "performance"),
    (re.compile(r"\bstandbies\b"), "standbys"),
    (re.compile(r"\b(?:rn|atm)\b"), "now"),
    (re.compile(r"\bpls\b|\bplz\b"), "please"),
    (re.compile(r"\bu\b"), "you"),
    (re.compile(r"\br\b(?= (?:we|you|they|there)\b)"), "are"),
)
_DO_RE = re.compile(r"(?<![A-Za-z])DO(?![A-Za-z])")

FLEET_VOCABULARY = (
    "hetzner",
    "vultr",
    "digitalocean",
    "contabo",
    "hostinger",
    "degraded",
    "failed",
    "failing",
    "healing",
    "healthy",
    "unhealthy",
    "active",
    "creating",
    "bootstrapping",
    "draining",
    "archiving",
    "deleted",
    "nano",
    "standard",
    "performance",
    "primary",
    "primaries",
    "standby",
    "standbys",
    "gateway",
    "gateways",
    "docker",
    "instances",
    "instance",
    "servers",
    "accounts",
    "account",
    "nuremberg",
    "falkenstein",
    "helsinki",
    "ashburn",
    "hillsboro",
    "singapore",
    "frankfurt",
    "amsterdam",
    "tokyo",
    "london",
    "vilnius",
    "boston",
    "guardian",
    "ledger",
    "triage",
    "briefer",
    "commander",
    "oversized",
    "idle",
    "europe",
    "asia",
    "america",
    "alerts",
    "status",
    "fleet",
)
"""The fleet's own words a typo is corrected towards (verbs are deliberately absent)."""

COMMON_WORDS = frozenset(
    """
a about above actually after again against ago all allow almost alone along already also although always am an
and another any anybody anymore anyone anything anyway anywhere are aren't around as ask asked asking at away
back bad be because been before being below best better between big bit both bring broke broken but by call
can can't cannot check checked come could couldn't currently day days dealing deal did didn't do does doesn't
doing don't done down during each early either else end enough even ever every everyone everything everywhere
exactly few fine first for from full get gets getting give go goes going gone good got great had has hasn't have
haven't having he hello help her here hey hi him his hmm hold how however i i'd i'll i'm i've if in into is isn't
it it's its itself just keep kind know last later least left less let let's like likely little look looking
looks lot lots make many maybe me mean might mine minute minutes mode more morning most much must my myself
need needs never new next nice night no none nope nor not nothing now of off ok okay on once one ones only or
other others our ours out over own please point pretty probably put quick quickly quite rather re really right
same say see seem seems set shall she should shouldn't show since so some something sometimes soon sorry still
such sure take than thank thanks that that's the their theirs them then there there's these they they're thing
things think this those though through time to today together tomorrow too total under until up upon us use
used very via wait want wanted was wasn't way we we'd we'll we're we've well were weren't what what's whatever
when where where's whether which while who who's whole why will with within without won't would wouldn't yeah
yep yes yet you you'd you'll you're your yours yourself tonight overnight yesterday week weeks month months
hour hours year years friday monday tuesday wednesday thursday saturday sunday weekend everybody morning
folks guys team boss mate please kindly quickly asap urgent urgently rn soonest first second third fourth
fifth last latest earlier instead otherwise except excluding apart leave leaving touch alone also plus
""".split()
)
"""Everyday English the brain reads past (never "corrected" into a fleet word, never an unknown word)."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A message as the brain reads it: the folded text, and each correction made on the way (typed, read as)."""

    text: str
    corrections: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def _unicode_normalize(text: str) -> str:
    """The product's one normalisation of untrusted text (NFKC, zero-width and bidi controls removed, case kept)."""
    return normalize(text)


def to_number(words: str) -> int | None:
    """Spoken digits ("zero four two" → 42, kept as 042 by :func:`spoken_digits`) or a number in words."""
    parts = [w for w in re.split(r"[\s-]+", words.strip()) if w and w != "and"]
    if not parts:
        return None
    if all(p in DIGIT_WORDS for p in parts):
        return int("".join(DIGIT_WORDS[p] for p in parts))
    total = 0
    for part in parts:
        if part == "hundred":
            total = max(total, 1) * 100
        elif part in _TENS:
            total += _TENS[part]
        elif part in DIGIT_WORDS:
            total += int(DIGIT_WORDS[part])
        else:
            return None
    return total or None


def _account_token(match: re.Match[str]) -> str:
    raw = match.group(1).strip()
    if raw.isdigit():
        digits = raw
    else:
        parts = [w for w in re.split(r"[\s-]+", raw) if w and w != "and"]
        if all(p in DIGIT_WORDS for p in parts):
            digits = "".join(DIGIT_WORDS[p] for p in parts)
        else:
            number = to_number(raw)
            if number is None:
                return match.group(0)
            digits = str(number)
    if len(digits) < 3:
        digits = f"{int(digits):03d}"
    return f"acct-{digits}"


_ACCOUNT_RANGE_RE = re.compile(
    r"\b(?:from\s+)?acct-(\d{3,6})\s*(?:through|thru|to|till|until|up to|-|–|\.\.)\s*(?:acct-)?(\d{1,6})\b"
)
MAX_ACCOUNT_RANGE = 1000
"""A range wider than this is left as written (the brain then names what it could not place)."""


def _account_range(match: re.Match[str]) -> str:
    """``acct-001 through acct-010`` (also "to", "-", "..", or a bare end number) → every id in between."""
    first, last = int(match.group(1)), int(match.group(2))
    if not 0 < last - first < MAX_ACCOUNT_RANGE:
        return match.group(0)
    width = max(3, len(match.group(1)))
    return ", ".join(f"acct-{n:0{width}d}" for n in range(first, last + 1))


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (insertions, deletions, substitutions, adjacent swaps)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def nearest(word: str, vocabulary: Iterable[str], *, max_distance: int | None = None) -> str | None:
    """The one vocabulary word within a small edit distance of ``word`` (1 up to 6 letters, else 2), or None."""
    limit = max_distance if max_distance is not None else (1 if len(word) <= 6 else 2)
    best: list[tuple[int, str]] = sorted(
        (edit_distance(word, v), v) for v in set(vocabulary) if abs(len(v) - len(word)) <= limit
    )
    if not best or best[0][0] > limit or best[0][0] == 0:
        return None
    if len(best) > 1 and best[1][0] == best[0][0] and best[1][1] != best[0][1]:
        return None  # two equally near readings: not a correction we can make silently
    return best[0][1]


def prepare(message: str, known: frozenset[str] = frozenset(), extra_vocabulary: Iterable[str] = ()) -> Prepared:
    """The folded, canonical text of ``message`` and the corrections made (see the module docstring).

    ``known`` are words the caller's recognisers understand (never corrected); ``extra_vocabulary`` adds the
    fleet's own names known at run time (e.g. config keys) to what typos are corrected towards.
    """
    text = _unicode_normalize(message)
    text = _DO_RE.sub("digitalocean", text)
    text = text.lower().replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    text = re.sub(r"\s+", " ", text).strip()
    text = _SPOKEN_ID_RE.sub(_account_token, text)
    text = _ACCOUNT_RANGE_RE.sub(_account_range, text)
    for pattern, canonical in _ALIASES:
        text = pattern.sub(canonical, text)
    vocabulary = (*FLEET_VOCABULARY, *extra_vocabulary)
    corrections: list[tuple[str, str]] = []

    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        if len(word) < 5 or word in known or word in COMMON_WORDS or word in vocabulary:
            return word
        close = nearest(word, vocabulary)
        if close is None:
            return word
        corrections.append((word, close))
        return close

    text = re.sub(r"(?<![\w.=/:-])[a-z]{5,}(?![\w=:/-])", fix, text)
    return Prepared(text, tuple(corrections))
