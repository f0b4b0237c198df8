"""Untrusted text, handled in one place: normalise it, fold it for matching, make it safe to print, redact secrets.

Below everything that stores, logs, emits or renders text (the audit chain, the trust package, the brains,
the API, the chat), and importing nothing of the engine, so each of them can use the same functions:

* :func:`normalize` — NFKC, zero-width and bidi controls removed, letter case kept (what is stored and shown);
* :func:`fold` — confusables folded to ASCII and case folded (what is matched);
* :func:`printable` — control sequences (OSC 52, DCS, CSI, C1) stripped before a terminal or page draws it;
* :class:`Redactor` / :func:`redact` — secrets masked, in any letter case, before anything is written.
"""

from engine.text._normalize import (
    BIDI_CONTROLS,
    fold,
    has_hidden_characters,
    normalize,
    printable,
    scrub_surrogates,
)
from engine.text._redact import MASK, RedactingFilter, Redactor, default_redactor, install_log_redaction, redact

__all__ = [
    "BIDI_CONTROLS",
    "MASK",
    "RedactingFilter",
    "Redactor",
    "default_redactor",
    "fold",
    "has_hidden_characters",
    "install_log_redaction",
    "normalize",
    "printable",
    "redact",
    "scrub_surrogates",
]
