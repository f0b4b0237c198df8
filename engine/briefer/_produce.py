"""Producing, recording and scheduling briefings: the Briefer's side effects live here.

``produce_briefing`` turns the store into files (voice note, Markdown, HTML); ``run_due_briefings``
is what the engine's scheduler calls every minute; each run is recorded as an audit entry
``briefing.<kind>`` (target: the operator, detail: the slot it was for), which is both the "last
briefing" that bounds the next one's window and the proof that a slot was done, so a restart never
repeats it.  Preferences are ``memories`` rows of kind ``briefing_schedule`` (no schema change).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from engine import audit
from engine.briefer._compose import markdown_report, spoken_script, title
from engine.briefer._deliver import BriefingSender, deliver
from engine.briefer._facts import BriefingFacts, Kind, gather_facts
from engine.briefer._html import html_report
from engine.briefer._schedule import (
    DEFAULT_TIME,
    DEFAULT_WEEKDAY,
    WEEKDAYS,
    DueBriefing,
    Schedule,
    due_briefings,
    next_slot,
    parse_time,
    parse_weekday,
)
from engine.config import Settings
from engine.errors import ClawOpsError, InputError
from engine.store import AuditEntry, AuditHead, ChannelIdentity, Memory, Operator, Store

if TYPE_CHECKING:
    import voice as voice_pkg
    from engine.runtime import Engine

__all__ = [
    "MEMORY_KIND",
    "Briefing",
    "BriefingRun",
    "brief_now",
    "last_runs",
    "load_schedules",
    "produce_briefing",
    "record_run",
    "run_due_briefings",
    "schedules_for",
    "set_schedule",
]

log = logging.getLogger("clawops.briefer")

MEMORY_KIND = "briefing_schedule"
KINDS: tuple[Kind, ...] = ("daily", "weekly")
CHANNELS = ("reports", "telegram", "whatsapp")


@dataclass(frozen=True, slots=True)
class Briefing:
    """One produced briefing: its files, its spoken text and how long the voice note is.

    ``voice_path`` and ``duration_s`` are None when voice is not installed or synthesis failed;
    ``voice_error`` then says why, in one sentence.
    """

    kind: Kind
    title: str
    text: str
    markdown_path: Path
    html_path: Path
    voice_path: Path | None
    duration_s: float | None
    voice_error: str | None
    operator_id: str
    facts: BriefingFacts = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (``brief --json``) and for a ``briefing`` read tool's result."""
        return {"kind": self.kind, "title": self.title, "text": self.text,
                "voice": None if self.voice_path is None else str(self.voice_path),
                "html": str(self.html_path), "markdown": str(self.markdown_path),
                "duration_s": self.duration_s, "voice_error": self.voice_error, "operator": self.operator_id,
                "demo": self.facts.demo}


@dataclass(frozen=True, slots=True)
class BriefingRun:
    """What one scheduled run did: the briefing (or the error) and the delivery per channel."""

    due: DueBriefing
    briefing: Briefing | None
    delivered: dict[str, str | None]
    error: str | None = None


def _store(engine_or_store: Engine | Store) -> Store:
    return engine_or_store if isinstance(engine_or_store, Store) else engine_or_store.store


def _kind(kind: str) -> Kind:
    if kind == "daily":
        return "daily"
    if kind == "weekly":
        return "weekly"
    raise InputError(f"'{kind}' is not a briefing kind; use daily or weekly.")


def _speak(text: str, path: Path, config: voice_pkg.VoiceConfig | None) -> tuple[float | None, str | None]:
    """Write the voice note; (duration, None) or (None, why not) — a briefing never fails for want of voice."""
    try:
        import voice
    except ImportError:  # pragma: no cover - the package ships with the engine; its extra may not
        return None, "Voice is not installed, so the briefing was saved as text only."
    reason = voice.unavailable_reason(config)
    if reason is not None:
        return None, reason
    try:
        voice.synthesize_to_file(text, path, config)
        return voice.probe(path), None
    except voice.VoiceError as exc:
        log.warning("briefing voice note failed: %s", exc)
        return None, str(exc)


def produce_briefing(
    engine_or_store: Engine | Store,
    settings: Settings,
    kind: str = "daily",
    out_dir: Path | None = None,
    now: datetime | None = None,
    *,
    operator_id: str = "op-owner",
    tenant_id: str | None = None,
    voice_config: voice_pkg.VoiceConfig | None = None,
    speak: bool = True,
) -> Briefing:
    """Gather the facts, write the script, the Markdown and HTML report and the voice note; return where.

    Files go to ``out_dir`` (default ``$CLAWOPS_HOME/reports``) named by kind and minute, e.g.
    ``briefing-daily-20261124T0700Z.html``.  Nothing is recorded here: callers decide whether this
    run counts (``record_run``).
    """
    checked = _kind(kind)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    folder = Path(out_dir) if out_dir is not None else settings.home / "reports"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"Cannot write reports to {folder} ({exc.strerror or exc}); pick another folder.") from None
    facts = gather_facts(_store(engine_or_store), settings, checked, now, operator_id=operator_id, tenant_id=tenant_id)
    script = spoken_script(facts)
    suffix = "" if operator_id == "op-owner" else f"-{operator_id}"
    stem = f"briefing-{checked}-{now:%Y%m%dT%H%M}Z{suffix}"
    md_path, html_path = folder / f"{stem}.md", folder / f"{stem}.html"
    try:
        md_path.write_text(markdown_report(facts, script), encoding="utf-8")
        html_path.write_text(html_report(facts, script), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"Cannot write reports to {folder} ({exc.strerror or exc}); pick another folder.") from None
    voice_path: Path | None = folder / f"{stem}.ogg"
    duration, voice_error = (None, "The voice note was not requested.") if not speak else _speak(script, folder / f"{stem}.ogg", voice_config)
    if duration is None:
        voice_path = None
    return Briefing(checked, title(facts), script, md_path, html_path, voice_path, duration, voice_error,
                    operator_id, facts)


# ----------------------------------------------------------------------------------------- records


def _detail(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _slots(store: Store, operator_id: str | None = None, *, limit: int = 2000) -> dict[tuple[str, str], datetime]:
    """Latest recorded slot per (operator, kind), from the newest ``briefing.*`` audit entries."""
    stmt = select(AuditEntry.action, AuditEntry.target, AuditEntry.detail).where(
        col(AuditEntry.action).in_([f"briefing.{k}" for k in KINDS]))
    if operator_id is not None:
        stmt = stmt.where(col(AuditEntry.target) == operator_id)
    out: dict[tuple[str, str], datetime] = {}
    with store.session() as s:
        rows = s.exec(stmt.order_by(col(AuditEntry.seq).desc()).limit(limit)).all()
    for action, target, detail in rows:
        slot = _detail(str(detail)).get("slot")
        if not slot:
            continue
        key = (str(target), str(action).removeprefix("briefing."))
        try:
            when = datetime.fromisoformat(str(slot))
        except ValueError:
            continue
        if key not in out or when > out[key]:
            out[key] = when
    return out


def last_runs(store: Store) -> dict[tuple[str, str], datetime]:
    """``(operator_id, kind)`` → slot of the last scheduled run, the input of ``due_briefings``."""
    return _slots(store)


def record_run(
    store: Store,
    *,
    kind: Kind,
    operator_id: str,
    slot: datetime | None,
    briefing: Briefing | None,
    outcome: str = "ok",
    error: str | None = None,
    channel: str = "scheduler",
    actor: str = "briefer",
) -> bool:
    """Audit one run; for a scheduled slot, only if no run for that slot is recorded yet.

    The audit head is locked first (``FOR UPDATE`` on PostgreSQL), so two engines sharing a store
    cannot both record — and then both deliver — the same slot.  Returns False when the slot was taken.
    """
    detail: dict[str, Any] = {"slot": slot.astimezone(UTC).isoformat() if slot else None}
    if briefing is not None:
        detail |= {"title": briefing.title, "voice": str(briefing.voice_path) if briefing.voice_path else None,
                   "html": str(briefing.html_path), "markdown": str(briefing.markdown_path),
                   "duration_s": round(briefing.duration_s, 1) if briefing.duration_s else None}
    if error:
        detail["error"] = error
    with store.session() as s:
        if slot is not None:
            s.exec(select(AuditHead).where(col(AuditHead.id) == 1).with_for_update()).first()
            rows = s.exec(select(AuditEntry.detail).where(
                col(AuditEntry.action) == f"briefing.{kind}", col(AuditEntry.target) == operator_id)
                .order_by(col(AuditEntry.seq).desc()).limit(50)).all()
            wanted = slot.astimezone(UTC).isoformat()
            if any(_detail(str(d)).get("slot") == wanted for d in rows):
                return False
        audit.append(s, actor=actor, channel=channel, action=f"briefing.{kind}", target=operator_id,
                     outcome=outcome, detail=detail)
    return True


# ----------------------------------------------------------------------------------------- preferences


def set_schedule(
    store: Store,
    operator_id: str,
    *,
    at: str = "07:00",
    channel: str = "reports",
    weekday: str | int = "monday",
    kinds: tuple[str, ...] = KINDS,
    enabled: bool = True,
    now: datetime | None = None,
) -> Memory:
    """Remember an operator's briefing time (UTC) and channel; the previous preference is forgotten."""
    try:
        when, day = parse_time(at), parse_weekday(weekday)
    except ValueError as exc:
        raise InputError(f"Cannot schedule briefings: {exc}; use a time like 06:30 and a weekday like monday.") from None
    if channel not in CHANNELS:
        raise InputError(f"'{channel}' is not a briefing channel; use one of: {', '.join(CHANNELS)}.")
    for k in kinds:
        _kind(k)
    now = now or datetime.now(UTC)
    text = (f"Brief me at {when:%H:%M} UTC ({', '.join(kinds)}; weekly on {WEEKDAYS[day].capitalize()}) via {channel}"
            if enabled else "No scheduled briefings")
    memory = Memory(id=f"mem-{secrets.token_hex(6)}", operator_id=operator_id, kind=MEMORY_KIND, text=text,
                    data={"time": f"{when:%H:%M}", "channel": channel, "weekday": WEEKDAYS[day], "kinds": list(kinds),
                          "enabled": enabled}, created_at=now)
    with store.session() as s:
        for old in s.exec(select(Memory).where(col(Memory.operator_id) == operator_id,
                                               col(Memory.kind) == MEMORY_KIND,
                                               col(Memory.forgotten_at).is_(None))).all():
            old.forgotten_at = now
            s.add(old)
        s.add(memory)
    return memory


def _from_memory(operator_id: str, data: Mapping[str, Any], since: datetime | None) -> list[Schedule]:
    if not data.get("enabled", True):
        return []
    try:
        at = parse_time(data.get("time", "07:00"))
        day = parse_weekday(data.get("weekday", DEFAULT_WEEKDAY))
    except ValueError as exc:
        log.warning("briefing schedule of %s is unreadable (%s); using 07:00 UTC", operator_id, exc)
        at, day = DEFAULT_TIME, DEFAULT_WEEKDAY
    channel = str(data.get("channel", "reports"))
    kinds = [k for k in data.get("kinds", KINDS) if k in KINDS]
    return [Schedule(operator_id, k, at, day, channel if channel in CHANNELS else "reports", since) for k in kinds]


def load_schedules(store: Store) -> list[Schedule]:
    """Every active operator's schedules; the owner gets daily + weekly at 07:00 UTC unless they said otherwise."""
    with store.session() as s:
        ops = s.exec(select(Operator.id, Operator.name, Operator.created_at)
                     .where(col(Operator.revoked_at).is_(None))).all()
        memories = s.exec(select(Memory.operator_id, Memory.data, Memory.created_at)
                          .where(col(Memory.kind) == MEMORY_KIND, col(Memory.forgotten_at).is_(None))
                          .order_by(col(Memory.created_at))).all()
    latest: dict[str, tuple[dict[str, Any], datetime]] = {}
    for operator_id, data, created in memories:
        latest[str(operator_id)] = (dict(data or {}), created)
    out: list[Schedule] = []
    for op_id, name, created in ops:
        if op_id in latest:
            data, since = latest[op_id]
            out.extend(_from_memory(op_id, data, since))
        elif name == "owner":
            out.extend(Schedule(op_id, k, since=created) for k in KINDS)
    return out


def schedules_for(engine: Engine, operator: str | None = None,
                  now: datetime | None = None) -> list[tuple[Schedule, datetime]]:
    """This operator's schedules with their next run time (for ``clawops brief``)."""
    caller = engine.caller(operator)
    now = now or datetime.now(UTC)
    return [(sch, next_slot(sch, now)) for sch in load_schedules(engine.store) if sch.operator_id == caller.operator_id]


# ----------------------------------------------------------------------------------------- running


def brief_now(
    engine: Engine,
    *,
    kind: str = "daily",
    out_dir: Path | None = None,
    operator: str | None = None,
    channel: str = "cli",
    now: datetime | None = None,
    voice_config: voice_pkg.VoiceConfig | None = None,
) -> Briefing:
    """``clawops brief --now``: produce the briefing for this operator's view at once, and audit it."""
    caller = engine.caller(operator, channel)
    briefing = produce_briefing(engine, engine.settings, kind, out_dir, now, operator_id=caller.operator_id,
                                tenant_id=caller.tenant_id, voice_config=voice_config)
    record_run(engine.store, kind=briefing.kind, operator_id=caller.operator_id, slot=None, briefing=briefing,
               channel=channel, actor=caller.actor)
    return briefing


def _address(store: Store, channel: str, operator_id: str) -> str | None:
    with store.session() as s:
        row = s.exec(select(ChannelIdentity.external_id).where(
            col(ChannelIdentity.channel) == channel, col(ChannelIdentity.operator_id) == operator_id)).first()
    return None if row is None else str(row)


async def run_due_briefings(
    engine: Engine,
    now: datetime | None = None,
    *,
    senders: Mapping[str, Callable[[str], BriefingSender]] | None = None,
    out_dir: Path | None = None,
    voice_config: voice_pkg.VoiceConfig | None = None,
    speak: bool = True,
) -> list[BriefingRun]:
    """Produce, record and deliver every briefing due at ``now``; the scheduler calls this every minute.

    ``senders`` maps a channel name ("telegram", "whatsapp") to a factory that binds a sender to the
    operator's address on that channel (their ``channel_identities`` row), e.g.
    ``{"telegram": lambda chat_id: telegram_sender(client, chat_id, outbox=channel.outbox)}``.
    Production runs in a worker thread (speech synthesis takes seconds of CPU); a failing briefing is
    recorded as failed for its slot and never retried in a loop.
    """
    if id(engine) in _RUNNING:  # the previous tick is still speaking: let it finish, never run a slot twice
        return []
    _RUNNING.add(id(engine))
    try:
        return await _run_due(engine, now, senders, out_dir, voice_config, speak)
    finally:
        _RUNNING.discard(id(engine))


_RUNNING: set[int] = set()


async def _run_due(
    engine: Engine,
    now: datetime | None,
    senders: Mapping[str, Callable[[str], BriefingSender]] | None,
    out_dir: Path | None,
    voice_config: voice_pkg.VoiceConfig | None,
    speak: bool,
) -> list[BriefingRun]:
    now = (now or datetime.now(UTC)).astimezone(UTC)
    store = engine.store
    due = due_briefings(last_runs(store), now, load_schedules(store))
    runs: list[BriefingRun] = []
    with store.session() as s:
        tenants = {str(i): t for i, t in s.exec(select(Operator.id, Operator.tenant_id)).all()}
    for item in due:
        sch = item.schedule
        try:
            briefing = await asyncio.to_thread(
                produce_briefing, engine, engine.settings, sch.kind, out_dir, now, operator_id=sch.operator_id,
                tenant_id=tenants.get(sch.operator_id), voice_config=voice_config, speak=speak)
        except (ClawOpsError, OSError) as exc:
            log.error("briefing %s for %s failed: %s", sch.kind, sch.operator_id, exc)
            record_run(store, kind=sch.kind, operator_id=sch.operator_id, slot=item.slot, briefing=None,
                       outcome="failed", error=str(exc))
            runs.append(BriefingRun(item, None, {}, str(exc)))
            continue
        if not record_run(store, kind=sch.kind, operator_id=sch.operator_id, slot=item.slot, briefing=briefing,
                          outcome="ok"):
            continue  # another engine did this slot meanwhile
        delivered: dict[str, str | None] = {}
        if sch.channel != "reports":
            factory = (senders or {}).get(sch.channel)
            address = _address(store, sch.channel, sch.operator_id)
            if factory is None:
                delivered[sch.channel] = f"The {sch.channel} channel is not running; the briefing is in the reports folder."
            elif address is None:
                delivered[sch.channel] = (f"Operator {sch.operator_id} has no {sch.channel} identity; "
                                          "the briefing is in the reports folder.")
            else:
                delivered = await deliver(briefing, {sch.channel: factory(address)})
            with store.session() as s:
                audit.append(s, actor="briefer", channel="scheduler", action="briefing.delivery",
                             target=sch.operator_id, outcome="ok" if not any(delivered.values()) else "failed",
                             detail={"kind": sch.kind, "slot": item.slot.isoformat(), "channels": delivered})
        runs.append(BriefingRun(item, briefing, delivered))
    return runs
