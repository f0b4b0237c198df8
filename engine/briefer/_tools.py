"""The Briefer's supporting tools as the operation layer runs them: ``briefing`` and ``briefing_schedule``.

``briefing(kind)`` — "brief me now": produce the briefing at once.  Where the daemon runs (it sets
``ops.briefer``), the briefing gets its voice note and, asked from Telegram or WhatsApp, goes to that chat
as voice note + text + HTML report; elsewhere it is produced as text and files.

``briefing_schedule(time?, tz?, days?, skip_days?, channels?, enabled?)`` — the operator's own briefing
preferences: with no argument it reads them back ("when do I get my briefing?"), otherwise it changes
what was given ("brief me at 6:30", "no briefing on weekends", "send it on WhatsApp").  It touches
nothing in the fleet, so it is a read-kind tool; under ``--dry-run`` it says what it would set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine.briefer._prefs import DELIVERY_CHANNELS, describe_prefs, get_prefs, linked_channels, set_prefs
from engine.briefer._produce import deliver_briefing, produce_briefing, record_run
from engine.errors import InputError

if TYPE_CHECKING:
    import voice as voice_pkg
    from engine.policy import Caller
    from engine.runtime import Engine

__all__ = ["brief_and_send", "briefing_tool", "schedule_tool"]

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", "none", "never"}


def _kind(args: dict[str, Any]) -> str:
    kind = str(args.get("kind") or "daily").strip().lower()
    if kind not in ("daily", "weekly"):
        raise InputError(f"briefing kind '{kind}' is not known; use daily or weekly.")
    return kind


async def briefing_tool(
    ops: Any,
    caller: Caller,
    tool: str,
    args: dict[str, Any],
    *,
    dry_run: bool = False,
    on_prefs_changed: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """Run ``briefing`` or ``briefing_schedule`` for ``caller`` (policy was checked by the caller);
    ``on_prefs_changed``: the engine's scheduler, told of a changed schedule."""
    if tool == "briefing_schedule":
        return schedule_tool(ops.store, caller, args, dry_run=dry_run, on_change=on_prefs_changed)
    kind = _kind(args)
    if ops.briefer is not None and not dry_run:
        result: dict[str, Any] = await ops.briefer(caller, kind)
        return result
    briefing = await asyncio.to_thread(
        produce_briefing,
        ops.store,
        ops.settings,
        kind,
        operator_id=caller.operator_id,
        tenant_id=caller.tenant_id,
        speak=False,
    )
    out = briefing.to_dict()
    out["reply"] = f"{briefing.text}\nFull report: {briefing.html_path}"
    return out


async def brief_and_send(
    engine: Engine, caller: Caller, kind: str, voice_config: voice_pkg.VoiceConfig | None = None
) -> dict[str, Any]:
    """ "Brief me now" in the daemon: produce it with its voice note (spoken with ``voice_config``, the engine's),
    audit it, send it where the operator asked."""
    briefing = await asyncio.to_thread(
        produce_briefing,
        engine,
        engine.settings,
        kind,
        operator_id=caller.operator_id,
        tenant_id=caller.tenant_id,
        voice_config=voice_config,
    )
    record_run(
        engine.store,
        kind=briefing.kind,
        operator_id=caller.operator_id,
        slot=None,
        briefing=briefing,
        channel=caller.channel,
        actor=caller.actor,
    )
    out = briefing.to_dict()
    channel = str(caller.channel)
    if channel not in DELIVERY_CHANNELS:
        out["delivered"] = {}
        out["reply"] = f"{briefing.text}\nFull report: {briefing.html_path}" + (
            f"\nVoice note: {briefing.voice_path}" if briefing.voice_path else ""
        )
        return out
    held: set[str] = set()
    delivered = await deliver_briefing(engine, briefing, [channel], queued=held)
    out["delivered"] = delivered
    out["queued"] = sorted(held)
    error = delivered.get(channel)
    if error:
        out["reply"] = (
            f"The briefing is ready but could not be sent here: {error.rstrip('.')}. "
            f"It is saved at {briefing.html_path}."
        )
    elif held:
        out["reply"] = (
            f"The briefing is ready, but {channel.capitalize()} is not taking messages right now: the "
            "voice note and the full report are queued and follow as soon as it does."
        )
    else:
        out["reply"] = "Here is your briefing: the voice note and the full report follow."
    return out


def _flag(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InputError(f"enabled must be true or false, not '{value}'.")


def schedule_tool(
    store: Any,
    caller: Caller,
    args: dict[str, Any],
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    on_change: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """Read back or change the caller's briefing preferences; the result carries the sentence to show
    (``on_change``: who re-schedules at once, :func:`set_prefs`)."""
    now = now or datetime.now(UTC)
    changes = {k: v for k, v in args.items() if v not in (None, "", [])}
    if not changes:
        prefs = get_prefs(store, caller.operator_id)
        return prefs.to_dict(now) | {"changed": False, "reply": describe_prefs(prefs, now)}
    if dry_run:
        current = get_prefs(store, caller.operator_id)
        return current.to_dict(now) | {
            "changed": False,
            "would_set": changes,
            "reply": f"Dry run: nothing changed. {describe_prefs(current, now)}",
        }
    channels = changes.get("channels")
    prefs = set_prefs(
        store,
        caller.operator_id,
        at=changes.get("time"),
        tz=changes.get("tz"),
        days=changes.get("days"),
        skip_days=changes.get("skip_days"),
        channels=channels,
        enabled=_flag(changes.get("enabled")),
        actor=caller.actor,
        channel=str(caller.channel),
        now=now,
        on_change=on_change,
    )
    reply = "Done. " + describe_prefs(prefs, now)
    unlinked = [c for c in prefs.channels if c not in linked_channels(store, caller.operator_id)]
    if unlinked:
        reply += (
            f" You are not linked on {' or '.join(unlinked)} yet, so it cannot be sent there until you "
            f"are (clawops operator link {caller.name} {unlinked[0]} YOUR_ID)."
        )
    return prefs.to_dict(now) | {"changed": True, "reply": reply}
