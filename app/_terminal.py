"""Terminal input that survives bytes which are not UTF-8.

Textual's Linux driver decodes keyboard input with a strict UTF-8 decoder, so
one stray byte (a Latin-1 terminal, a paste of binary, a noisy serial line)
raises ``UnicodeDecodeError`` in its input thread and the whole chat exits.
An operator must never lose the chat to a keystroke: the driver's decoder is
made lenient (invalid bytes become U+FFFD, which the prompt shows and the engine
treats as text).  Applied once, before the app starts; nothing else changes.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import Any

__all__ = ["tolerate_invalid_utf8"]


def _lenient(encoding: str) -> Callable[..., codecs.IncrementalDecoder]:
    factory = codecs.getincrementaldecoder(encoding)

    def make(errors: str = "replace") -> codecs.IncrementalDecoder:
        return factory(errors=errors)

    return make


def tolerate_invalid_utf8() -> bool:
    """Make Textual's Linux input decoder replace invalid bytes; ``False`` where there is no such driver."""
    try:
        from textual.drivers import linux_driver
    except ImportError:  # Windows: a different driver, decoding done by the console API
        return False
    module: Any = linux_driver
    module.getincrementaldecoder = _lenient
    return True
