"""``clawops ask --voice FILE``: hear a voice note, run the turn on what was heard, speak the answer.

Lives with the Briefer because it shares the "written for the ear" rewrite (``for_ear``): a spoken
reply must not read out ids, markdown or "1,700".  Bad audio is the operator's mistake, so it becomes
an ``InputError`` with the voice package's one sentence (no traceback); a box without the voice extra
gets a ``ConfigError`` saying voice is not installed.  A reply that cannot be spoken still returns
its text, with ``voice_reply`` null.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.briefer._speech import spoken_reply
from engine.errors import ConfigError, InputError

if TYPE_CHECKING:
    import voice as voice_pkg
    from engine.conversation import TurnResult

__all__ = ["VoiceTurn", "ask_voice"]

log = logging.getLogger("clawops.briefer")


@dataclass(frozen=True, slots=True)
class VoiceTurn:
    """A turn that started as speech: what was heard, the turn, and where the spoken answer is."""

    transcript: str
    result: TurnResult
    voice_reply: Path | None
    voice_error: str | None = None

    @property
    def reply(self) -> str:
        return self.result.reply

    def to_contract(self) -> dict[str, Any]:
        """The ``ask --json`` object plus ``transcript`` and ``voice_reply`` (path or null), ARCHITECTURE §4."""
        return {
            **self.result.to_contract(),
            "transcript": self.transcript,
            "voice_reply": None if self.voice_reply is None else str(self.voice_reply),
        }


async def ask_voice(
    audio: Path,
    turn: Callable[[str], Awaitable[TurnResult]],
    *,
    out_dir: Path,
    voice_config: voice_pkg.VoiceConfig | None = None,
) -> VoiceTurn:
    """Transcribe ``audio``, run ``turn`` on the transcript, write the spoken reply as OGG/Opus in ``out_dir``.

    ``turn`` is the client's own text turn (so history, redaction and the feed behave exactly as for
    typed text).
    """
    import voice

    reason = voice.unavailable_reason(voice_config)
    if reason is not None:
        raise ConfigError(reason)
    try:
        data = Path(audio).read_bytes()
    except OSError as exc:
        raise InputError(f"Cannot read the audio file {audio} ({exc.strerror or exc}); check the path.") from None
    try:
        # Bytes, not the path: voice errors then speak of "the recording", which is what the operator sent.
        heard = await voice.atranscribe(data, voice_config)
    except voice.VoiceError as exc:
        raise InputError(str(exc)) from None
    result = await turn(heard.text)
    spoken = spoken_reply(result.reply)
    if not spoken:
        return VoiceTurn(heard.text, result, None, "The reply has nothing to speak.")
    folder = Path(out_dir)
    target = folder / f"reply-{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}.ogg"
    try:
        ogg = await voice.asynthesize(spoken, voice_config)
        folder.mkdir(parents=True, exist_ok=True)
        target.write_bytes(ogg)
    except voice.VoiceError as exc:
        log.warning("could not speak the reply: %s", exc)
        return VoiceTurn(heard.text, result, None, str(exc))
    except OSError as exc:
        return VoiceTurn(
            heard.text, result, None, f"Cannot write the spoken reply to {folder} ({exc.strerror or exc})."
        )
    return VoiceTurn(heard.text, result, target)
