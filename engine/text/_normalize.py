"""Untrusted text, made safe once: one normalisation for matching, one sanitiser for showing.

Every piece of text that comes from outside the engine — an operator's message, a node log, an instance label, a
provider's answer, another operator's words — goes through two doors:

* :func:`normalize` before anything *reads* it (injection detection, redaction, parsing): Unicode NFKC (fullwidth
  and mathematical letters become plain ones), zero-width and bidi controls removed, lone surrogates replaced, case
  kept.  :func:`fold` goes one step further for *matching only*: look-alike letters from other scripts (Cyrillic
  ``а``, Greek ``ο``, … from Unicode's confusables table) become the ASCII letter they imitate, and the result is
  case-folded.  The original text is what is stored and shown; the folded copy is only compared against.
* :func:`printable` before anything is *rendered* (chat, CLI, web): terminal control sequences (CSI, OSC — e.g.
  OSC 52 clipboard writes —, DCS, SOS/PM/APC, both 7-bit ``ESC`` and 8-bit C1 forms), other C0/C1 controls and bidi
  overrides are removed, so text from the fleet can never drive the operator's terminal.

Both are pure functions of the text, so every door in the product agrees on what a message says.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from importlib import resources

__all__ = [
    "BIDI_CONTROLS",
    "fold",
    "has_hidden_characters",
    "normalize",
    "printable",
    "scrub_surrogates",
]

#: Explicit bidi embeddings, overrides and isolates, and the bidi marks ("Trojan source" characters).
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Invisible characters that split a word without showing (zero-width space/joiners, word joiner, BOM, soft
#: hyphen, Mongolian vowel separator, invisible operators, Hangul fillers, combining grapheme joiner).
_INVISIBLE = frozenset(
    "\u00ad\u034f\u115f\u1160\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\u3164\ufeff\uffa0"
)
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def scrub_surrogates(text: str) -> str:
    """``text`` with each lone surrogate (not encodable as UTF-8) replaced by U+FFFD."""
    return _SURROGATE_RE.sub("\ufffd", text)


def _is_hidden(ch: str) -> bool:
    if ch in BIDI_CONTROLS or ch in _INVISIBLE:
        return True
    # Other format characters (Cf: tag characters, interlinear annotation, …) and variation selectors.
    code = ord(ch)
    return (
        (unicodedata.category(ch) == "Cf" and ch not in "\u0600\u0601\u0602\u0603\u0604\u0605\u06dd\u070f")
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
    )


def has_hidden_characters(text: str) -> bool:
    """Whether ``text`` holds zero-width, bidi or other invisible format characters."""
    return any(_is_hidden(ch) for ch in text if ord(ch) > 0x7F)


def normalize(text: str) -> str:
    """The canonical form of untrusted text for reading: NFKC, no invisible characters, case kept.

    Lone surrogates become U+FFFD; curly quotes become straight ones; runs of whitespace are kept as typed.
    """
    if text.isascii():
        return text  # nothing to do, and no lone surrogate either
    # Judged once per distinct character, not per character: a long prompt has a few dozen distinct ones.
    distinct = _non_ascii(text)
    if any("\ud800" <= ch <= "\udfff" for ch in distinct):
        text = scrub_surrogates(text)
        distinct = _non_ascii(text)
    hidden = {ord(ch): None for ch in distinct if _is_hidden(ch)}
    if hidden:
        text = text.translate(hidden)
    text = unicodedata.normalize("NFKC", text)
    # Only the curly quotes and dashes present are replaced (str.translate looks up every character: ~1 ms for a
    # 16-KB system prompt).
    for ch in _non_ascii(text).intersection(_QUOTE_CHARS):
        text = text.replace(ch, _QUOTES[ord(ch)])
    return text


_ASCII_BYTES = bytes(range(0x80))


def _non_ascii(text: str) -> set[str]:
    """The distinct non-ASCII characters of ``text`` (lone surrogates included).

    UTF-8 writes every non-ASCII character with bytes >= 0x80 only, so deleting the ASCII bytes of the encoding
    leaves exactly those characters: ~15 µs for a 13-KB prompt, where ``set(text)`` took ~200 µs and each regex
    scan for one character class ~80 µs (normalising a request's system prompt cost ~0.4 ms, per request).
    """
    return set(text.encode("utf-8", "surrogatepass").translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass"))


_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00a0": " ",
        "\u2007": " ",
        "\u202f": " ",
    }
)
_QUOTE_CHARS = frozenset(chr(code) for code in _QUOTES)


@lru_cache(maxsize=1)
def _confusables() -> dict[int, str]:
    """Non-ASCII character -> the ASCII letter or digit it imitates (Unicode confusables, via confusable_homoglyphs).

    Loaded on first use (the table is ~1 MB of JSON) so a cold ``clawops ask`` that reads only ASCII never pays it.
    """
    raw = resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text(encoding="utf-8")
    table: dict[str, list[dict[str, str]]] = json.loads(raw)
    out: dict[int, str] = {}
    for char, glyphs in table.items():
        if len(char) != 1 or char.isascii():
            continue
        candidates = [g["c"] for g in glyphs if len(g["c"]) == 1 and g["c"].isascii() and g["c"].isalnum()]
        if not candidates:
            continue
        # Prefer a letter of the same case ("а" -> "a", "А" -> "A"), then any letter, then a digit.
        same_case = [c for c in candidates if c.isalpha() and c.islower() == char.islower()]
        letters = [c for c in candidates if c.isalpha()]
        out[ord(char)] = (same_case or letters or candidates)[0]
    # A letter whose own case has no entry borrows the other case's ("т" -> "Т" -> "T"); a capital folded to "l"
    # whose small letter is an "i" look-alike is an I ("І", "Ι").
    for code, target in list(out.items()):
        char = chr(code)
        for other in {char.lower(), char.upper()} - {char}:
            if len(other) == 1 and not other.isascii():
                if ord(other) not in out:
                    out[ord(other)] = target.lower() if other.islower() else target.upper()
                elif out[ord(other)] == "i" and target == "l":
                    out[code] = "I"
    return out


def fold(text: str) -> str:
    """The matching form of ``text``: :func:`normalize`, look-alikes mapped to ASCII, case-folded.

    Never store or show this; compare against it (``"ІGNОRE"`` with Cyrillic letters folds to ``"ignore"``).
    """
    text = normalize(text)
    if not text.isascii():
        text = text.translate(_confusables())
        # Accents left over (é, ñ) are split off and dropped for matching: "rèstart" matches "restart".
        text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return text.casefold()


# Terminal control sequences.  String-type sequences (OSC, DCS, SOS, PM, APC) run to a string terminator
# (ST = ESC \ or 0x9C; BEL also ends OSC in practice); an unterminated one swallows the rest of the text.
_STRING_SEQ = r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])(?:[^\x07\x1b\x9c]|\x1b(?!\\))*(?:\x07|\x1b\\|\x9c|$)"
_CSI_SEQ = r"(?:\x1b\[|\x9b)[\x20-\x3f]*[\x40-\x7e]?"
_ESC_SEQ = r"\x1b[\x20-\x2f]*[\x30-\x7e]?"
_CONTROL_SEQ_RE = re.compile(f"{_STRING_SEQ}|{_CSI_SEQ}|{_ESC_SEQ}")
# Left-over controls: C0 except tab and newline, DEL, C1, bidi controls, line/paragraph separators.
_CONTROL_CHAR_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
#: Anything :func:`printable` would change (controls, bidi, surrogates): text without any is returned as is.
_UNSAFE_RE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]"
)


def printable(text: str) -> str:
    """``text`` safe to render in a terminal or page: no control sequences, no control characters.

    Keeps tabs, newlines and every visible character (any script, emoji); a carriage return ending a line is
    dropped (``\\r\\n`` -> ``\\n``), a bare one becomes a newline so it cannot overwrite what was printed.
    """
    if not text or _UNSAFE_RE.search(text) is None:
        return text
    text = scrub_surrogates(text)
    text = _CONTROL_SEQ_RE.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_CHAR_RE.sub("", text)
