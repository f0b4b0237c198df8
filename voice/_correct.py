"""Sound-alike correction of a transcript towards the fleet's own words: "Hetsner" → Hetzner, "El Sinkie" → Helsinki.

Whisper tiny hears names it has rarely seen as something that sounds the same: "Volter", "Falconstein", "Dagnos",
"Landger".  The vocabulary prompt helps, but only so far.  After transcription every word Whisper itself found
unusual — one that is neither a domain term nor a whole token of Whisper's own vocabulary, i.e. not everyday
English — is compared, alone and with its neighbours, with the domain terms by how they *sound* (a coarse English
phonetic key: vowels alike, voiced and voiceless consonants alike, silent letters gone) and how they are spelt.
It is replaced only when one term is clearly the nearest, starts with the same sound, and is close enough; an
everyday word is never touched, so "What's the cost" stays as said even though "Watsner" would not.

One function for every transcript (``voice._stt`` calls it after decoding); the domain terms come from the
config's vocabulary prompt and its ``lexicon`` (the engine adds its tool verbs, states and cities there), never
from a list of phrases.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Correction", "correct_transcript", "edit_distance", "lexicon_terms", "phonetic_key", "similarity"]

MIN_SIMILARITY = 0.75
"""How alike (0-1) a heard span and a term must sound to be corrected."""
MIN_MARGIN = 0.08
"""How much nearer than the next term the best one must be (two near terms: leave the words as heard)."""
MAX_SPAN_WORDS = 3
_MIN_KEY = 3
_STOP = frozenset("a an and the on in of to for at by with is are be or it its this that our your".split())
_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")
_PHONETIC_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), repl)
    for pattern, repl in (
        (r"^(?:kn|gn|pn)", "n"),
        (r"^wr", "r"),
        (r"^ps", "s"),
        (r"^x", "s"),
        (r"^h(?=[aeiouy])", ""),
        (r"ph", "f"),
        (r"gh(?![aeiouy])", ""),
        (r"ck", "k"),
        (r"q", "k"),
        (r"x", "ks"),
        (r"sch", "sk"),
        (r"sh|ch|ti(?=[ao])", "S"),
        (r"th", "t"),
        (r"c(?=[eiy])", "s"),
        (r"c", "k"),
        (r"dg(?=[eiy])", "j"),
        (r"tz|ts|z", "s"),
        (r"(?<=[a-z])e$", ""),
        (r"w(?![aeiouy])", ""),
        (r"h(?![aeiouy])", ""),
        (r"b", "p"),
        (r"d", "t"),
        (r"g", "k"),
        (r"v", "f"),
        (r"[aeiouy]+", "a"),
        (r"(.)\1+", r"\1"),
    )
)


@dataclass(frozen=True)
class Correction:
    """One replacement made: the words as heard and the domain term they were read as."""

    heard: str
    term: str


def phonetic_key(text: str) -> str:
    """A coarse key of how ``text`` sounds in English (``"Hetsner"`` and ``"Hetzner"`` share one)."""
    key = re.sub(r"[^a-z]", "", text.lower())
    for pattern, repl in _PHONETIC_RULES:
        key = pattern.sub(repl, key)
    return key


def edit_distance(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Levenshtein distance between two sequences: letters of two words, or words of two transcripts (WER)."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def similarity(a: str, b: str) -> float:
    """How alike two spellings sound and look, 0-1: the mean of their phonetic and their letter similarity."""
    ka, kb = phonetic_key(a), phonetic_key(b)
    la, lb = re.sub(r"[^a-z]", "", a.lower()), re.sub(r"[^a-z]", "", b.lower())
    if not ka or not kb or not la or not lb:
        return 0.0
    sound = 1.0 - edit_distance(ka, kb) / max(len(ka), len(kb))
    letters = 1.0 - edit_distance(la, lb) / max(len(la), len(lb))
    return (sound + letters) / 2.0


def lexicon_terms(vocabulary: str, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The domain terms in a vocabulary prompt ("ClawOps fleet on Hetzner, Vultr: degraded, tear down …") and
    ``extra``: each comma-separated phrase of up to ``MAX_SPAN_WORDS`` words, and each word of four letters or
    more that is not a function word."""
    terms: dict[str, str] = {}
    phrases = [p.strip() for p in re.split(r"[,:;.]", vocabulary)] + [e.strip() for e in extra]
    for phrase in phrases:
        words = _WORD.findall(phrase)
        if 1 < len(words) <= MAX_SPAN_WORDS and not any(w.lower() in _STOP for w in words):
            terms.setdefault(" ".join(words).lower(), " ".join(words))
        for word in words:
            if len(word) >= 4 and word.lower() not in _STOP:
                terms.setdefault(word.lower(), word)
    return tuple(terms.values())


@lru_cache(maxsize=32)
def _indexed(terms: tuple[str, ...]) -> tuple[tuple[str, str, str], ...]:
    """(term, its letters without spaces, its phonetic key) for the terms long enough to be matched safely."""
    out = []
    for term in terms:
        key = phonetic_key(term)
        if len(key) >= _MIN_KEY:
            out.append((term, re.sub(r"[^a-z]", "", term.lower()), key))
    return tuple(out)


def _first_sound(text: str) -> str:
    """The class of the first sound: lips (b, p, f, v — "Bultr" is Vultr), else the key's first letter."""
    first = phonetic_key(text)[:1]
    return "f" if first == "p" else first


def _best(span: str, index: tuple[tuple[str, str, str], ...]) -> tuple[str, float] | None:
    """The one term ``span`` most probably is, with its similarity, or None when none is clearly nearest."""
    first = _first_sound(span)
    scored = sorted(
        ((similarity(span, term), term) for term, _, _ in index if _first_sound(term) == first), reverse=True
    )
    if not scored or scored[0][0] < MIN_SIMILARITY:
        return None
    if len(scored) > 1 and scored[0][0] - scored[1][0] < MIN_MARGIN and scored[1][1].lower() != scored[0][1].lower():
        return None
    return scored[0][1], scored[0][0]


def correct_transcript(
    text: str,
    terms: tuple[str, ...],
    is_everyday: Callable[[str], bool],
) -> tuple[str, tuple[Correction, ...]]:
    """``text`` with unusual words that sound like one of ``terms`` replaced by it, and the corrections made.

    ``is_everyday(word)`` says whether a word is ordinary English (such words are never replaced and never start a
    span); a span of up to ``MAX_SPAN_WORDS`` words around an unusual one may be replaced as a whole ("El Sinkie").
    """
    if not terms:
        return text, ()
    index = _indexed(terms)
    known = {t.lower() for t in terms}
    words = list(_WORD.finditer(text))

    def unusual(m: re.Match[str]) -> bool:
        w = m.group(0)
        return len(w) >= 3 and w.lower() not in known and not is_everyday(w)

    phrases = tuple(entry for entry in index if " " in entry[0])
    candidates: list[tuple[float, int, int, str]] = []  # (score, first word, last word + 1, term)
    for i, m in enumerate(words):
        # An unusual word may be any term, alone or with its neighbours; a domain word may only complete a
        # two- or three-word term with its neighbours ("Silent Alerts" → "silence alerts"), never change itself.
        exact = False
        if unusual(m):
            pool, min_words = index, 1
        elif m.group(0).lower() in known and phrases:
            pool, min_words = phrases, 2
        elif i + 1 < len(words) and m.group(0).lower() in _STOP:
            # A function word and the next word that together *sound exactly* like one term: "the graded" is
            # "degraded" heard in two (never "feel over" → "failover": only an article or preposition is glued on).
            pool, min_words, exact = index, 2, True
        else:
            continue
        for start in range(max(0, i - MAX_SPAN_WORDS + 1), i + 1):
            for end in range(max(i + 1, start + min_words), min(len(words), start + MAX_SPAN_WORDS) + 1):
                gap = text[words[start].start() : words[end - 1].end()]
                if re.search(r"[^A-Za-z'’\s-]", gap) or gap.lower() in known:
                    continue  # never join across punctuation or digits; a term heard right stays
                if exact:
                    if start != i:
                        continue
                    key = phonetic_key(gap)
                    found = _best(gap, tuple(e for e in pool if e[2] == key and e[0].count(" ") != end - start - 1))
                elif min_words > 1:  # a phrase replaces as many words as it has: "provider health on" stays whole
                    found = _best(gap, tuple(e for e in pool if e[0].count(" ") == end - start - 1))
                else:
                    found = _best(gap, pool)
                if found is not None:
                    term, score = found
                    candidates.append((score - 0.01 * (end - start - 1), start, end, term))
    chosen: list[tuple[int, int, str]] = []
    taken: set[int] = set()
    for _score, start, end, term in sorted(candidates, reverse=True):
        if taken.intersection(range(start, end)):
            continue
        chosen.append((start, end, term))
        taken.update(range(start, end))
    if not chosen:
        return text, ()
    out: list[str] = []
    corrections: list[Correction] = []
    pos = 0
    for start, end, term in sorted(chosen):
        begin, finish = words[start].start(), words[end - 1].end()
        heard = text[begin:finish]
        written = term[0].upper() + term[1:] if heard[:1].isupper() and term[:1].islower() else term
        out.append(text[pos:begin])
        out.append(written)
        corrections.append(Correction(heard=heard, term=written))
        pos = finish
    out.append(text[pos:])
    return "".join(out), tuple(corrections)
