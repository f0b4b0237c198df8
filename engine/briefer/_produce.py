"""Producing, recording and scheduling briefings: the Briefer's side effects live here.

``produce_briefing`` turns the store into files (voice note, Markdown, HTML); ``run_due_briefings``
is what the engine's scheduler calls every minute; each run is recorded as an audit entry
``briefing.<kind>`` (target: the operator, detail: the slot it was for), which is both the "last
briefing" that bounds the next one's window and the proof that a slot was done, so a restart never
repeats it.  Preferences live in the ``briefing_preferences`` table (``engine.briefer._prefs``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping, Sequence
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
from engine.briefer._prefs import BriefingPrefs, linked_channels, load_schedules, set_prefs
from engine.briefer._schedule import (
    ALL_DAYS,
    DueBriefing,
    Schedule,
    due_briefings,
    next_slot,
    zone,
)
from engine.config import Settings
from engine.errors import ClawOpsError, InputError
from engine.store import AuditEntry, AuditHead, BriefingPreference, ChannelIdentity, Operator, Store

if TYPE_CHECKING:
    import voice as voice_pkg
    from engine.runtime import Engine

__all__ = [
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

KINDS: tuple[Kind, ...] = ("daily", "weekly")


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
        return {
            "kind": self.kind,
            "title": self.title,
            "text": self.text,
            "voice": None if self.voice_path is None else str(self.voice_path),
            "html": str(self.html_path),
            "markdown": str(self.markdown_path),
            "duration_s": self.duration_s,
            "voice_error": self.voice_error,
            "operator": self.operator_id,
            "demo": self.facts.demo,
        }


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
        voice.synthesize_to_file(text, path, config or voice.get_config())
        return voice.probe(path), None
    except voice.VoiceError as exc:
        log.warning("briefing voice note failed: %s", exc)
        return None, str(exc)


def _local_hour(store: Store, operator_id: str, now: datetime) -> int:
    """The hour where the operator is (their briefing time zone; UTC when they set none)."""
    with store.session() as s:
        prefs = s.get(BriefingPreference, operator_id)
    try:
        return now.astimezone(zone(prefs.timezone if prefs is not None else "UTC")).hour
    except ValueError:
        return now.hour


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
    note: str | None = None,
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
    script = spoken_script(facts, note=note, local_hour=_local_hour(_store(engine_or_store), operator_id, now))
    suffix = "" if operator_id == "op-owner" else f"-{operator_id}"
    stem = f"briefing-{checked}-{now:%Y%m%dT%H%M}Z{suffix}"
    md_path, html_path = folder / f"{stem}.md", folder / f"{stem}.html"
    try:
        md_path.write_text(markdown_report(facts, script), encoding="utf-8")
        html_path.write_text(html_report(facts, script), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"Cannot write reports to {folder} ({exc.strerror or exc}); pick another folder.") from None
    voice_path: Path | None = folder / f"{stem}.ogg"
    duration, voice_error = (
        (None, "The voice note was not requested.")
        if not speak
        else _speak(script, folder / f"{stem}.ogg", voice_config)
    )
    if duration is None:
        voice_path = None
    return Briefing(
        checked, title(facts), script, md_path, html_path, voice_path, duration, voice_error, operator_id, facts
    )


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
        col(AuditEntry.action).in_([f"briefing.{k}" for k in KINDS])
    )
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
        detail |= {
            "title": briefing.title,
            "voice": str(briefing.voice_path) if briefing.voice_path else None,
            "html": str(briefing.html_path),
            "markdown": str(briefing.markdown_path),
            "duration_s": round(briefing.duration_s, 1) if briefing.duration_s else None,
        }
    if error:
        detail["error"] = error
    with store.session() as s:
        if slot is not None:
            s.exec(select(AuditHead).where(col(AuditHead.id) == 1).with_for_update()).first()
            rows = s.exec(
                select(AuditEntry.detail)
                .where(col(AuditEntry.action) == f"briefing.{kind}", col(AuditEntry.target) == operator_id)
                .order_by(col(AuditEntry.seq).desc())
                .limit(50)
            ).all()
            wanted = slot.astimezone(UTC).isoformat()
            if any(_detail(str(d)).get("slot") == wanted for d in rows):
                return False
        audit.append(
            s,
            actor=actor,
            channel=channel,
            action=f"briefing.{kind}",
            target=operator_id,
            outcome=outcome,
            detail=detail,
        )
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
    tz: str = "UTC",
    days: str | tuple[int, ...] | None = None,
    now: datetime | None = None,
) -> BriefingPrefs:
    """Set an operator's whole briefing preference at once (tests and scripts; the chat and CLI use ``set_prefs``)."""
    for k in kinds:
        _kind(k)
    daily_days = (days if days is not None else ALL_DAYS) if "daily" in kinds else ()
    return set_prefs(
        store,
        operator_id,
        at=at,
        tz=tz,
        days=daily_days,
        channels=() if channel == "reports" else channel,
        weekly_day=weekday,
        no_weekly="weekly" not in kinds,
        enabled=enabled,
        now=now,
    )


def schedules_for(
    engine: Engine, operator: str | None = None, now: datetime | None = None
) -> list[tuple[Schedule, datetime | None]]:
    """This operator's schedules with their next run time in UTC (for ``clawops brief``)."""
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
    briefing = produce_briefing(
        engine,
        engine.settings,
        kind,
        out_dir,
        now,
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
        channel=channel,
        actor=caller.actor,
    )
    return briefing


def _address(store: Store, channel: str, operator_id: str) -> str | None:
    with store.session() as s:
        row = s.exec(
            select(ChannelIdentity.external_id).where(
                col(ChannelIdentity.channel) == channel, col(ChannelIdentity.operator_id) == operator_id
            )
        ).first()
    return None if row is None else str(row)


def late_note(slot: datetime, tz: str) -> str:
    """The sentence a caught-up briefing starts with, so nobody takes yesterday's numbers for fresh ones."""
    local = slot.astimezone(zone(tz))
    return (
        f"This briefing was due at {local:%H:%M}{'' if tz == 'UTC' else ' ' + tz} and comes late, "
        "because ClawOps was not running then."
    )


def _channels_for(store: Store, sch: Schedule) -> list[str]:
    """Where this schedule's briefing goes: the chosen channels, or every channel the operator is linked on."""
    return list(sch.channels) if sch.channels else linked_channels(store, sch.operator_id)


async def deliver_briefing(
    engine: Engine,
    briefing: Briefing,
    channels: Sequence[str],
    *,
    senders: Mapping[str, Callable[[str], BriefingSender]] | None = None,
    queued: set[str] | None = None,
) -> dict[str, str | None]:
    """Send ``briefing`` to its operator on ``channels``; return channel → None (sent or queued) or why it failed.

    ``senders`` (tests, scripts) bind a channel to an address; otherwise the engine's channel hub
    (``engine.channel_hub.send_to_operator``) does it, through each channel's Outbox:
    the text, the voice note, then the HTML report as a document. A channel whose service is not taking
    messages right now holds the briefing in its Outbox and sends it later; such channels are added to
    ``queued``, so that nobody reports them as delivered before they are.
    """
    store = engine.store
    out: dict[str, str | None] = {}
    rest: list[str] = []
    for name in channels:
        factory = (senders or {}).get(name)
        if factory is None:
            rest.append(name)
            continue
        address = _address(store, name, briefing.operator_id)
        if address is None:
            out[name] = f"You are not linked on {name} (clawops operator link); the briefing is in the reports folder."
            continue
        out |= await deliver(briefing, {name: factory(address)})
    if rest:
        out |= await _via_hub(engine, briefing, rest, queued)
    return out


def channel_hub(engine: Engine) -> Any:
    """The engine's channel hub (``send_to_operator``); tests put a stand-in here."""
    return engine.channel_hub


async def _via_hub(
    engine: Engine, briefing: Briefing, channels: list[str], queued: set[str] | None = None
) -> dict[str, str | None]:
    hub = channel_hub(engine)
    if hub is None:
        return {name: f"The {name} channel is not running; the briefing is in the reports folder." for name in channels}
    text = f"[Briefer] {briefing.title}\n\n{briefing.text}"
    try:
        result = await hub.send_to_operator(
            briefing.operator_id,
            text,
            voice=briefing.voice_path,
            documents=[briefing.html_path],
            channels=channels,
            voice_duration_s=briefing.duration_s,
            caption=briefing.title,
        )
    except (ClawOpsError, OSError) as exc:
        return dict.fromkeys(channels, f"{exc}")
    statuses = dict(getattr(result, "statuses", {}) or {})
    errors = dict(getattr(result, "errors", {}) or {})
    out: dict[str, str | None] = {}
    for name in channels:
        status = statuses.get(name, "failed")
        if status == "queued":
            log.warning("briefing for %s queued on %s: %s", briefing.operator_id, name, errors.get(name, ""))
            if queued is not None:
                queued.add(name)
        out[name] = None if status in ("sent", "queued") else (errors.get(name) or f"{name} did not take it")
    return out


async def run_due_briefings(
    engine: Engine,
    now: datetime | None = None,
    *,
    senders: Mapping[str, Callable[[str], BriefingSender]] | None = None,
    out_dir: Path | None = None,
    voice_config: voice_pkg.VoiceConfig | None = None,
    speak: bool = True,
    operator_id: str | None = None,
) -> list[BriefingRun]:
    """Produce, record and deliver every briefing due at ``now`` (only ``operator_id``'s when given).

    The scheduler calls this at each operator's minute, at start-up (a briefing missed while the engine was
    down is sent if under 3 hours late, with a note saying so) and every few minutes as a safety net.
    Runs of one engine wait for each other (its scheduler's ``briefing_lock``), and each slot is recorded once,
    so nothing is sent twice; each run is told to the scheduler's listeners (``on_briefing_run``).
    Production runs in a worker thread (speech synthesis takes seconds of CPU); a failing briefing is
    recorded as failed for its slot and never retried in a loop; a failed delivery is logged, audited
    (``briefing.delivery`` outcome ``failed``) and told to the operator's chat.
    """
    async with engine.scheduler.briefing_lock:
        return await _run_due(engine, now, senders, out_dir, voice_config, speak, operator_id)


async def _run_due(
    engine: Engine,
    now: datetime | None,
    senders: Mapping[str, Callable[[str], BriefingSender]] | None,
    out_dir: Path | None,
    voice_config: voice_pkg.VoiceConfig | None,
    speak: bool,
    operator_id: str | None,
) -> list[BriefingRun]:
    now = (now or datetime.now(UTC)).astimezone(UTC)
    store = engine.store
    schedules = [s for s in load_schedules(store) if operator_id is None or s.operator_id == operator_id]
    due = due_briefings(last_runs(store), now, schedules)
    runs: list[BriefingRun] = []
    with store.session() as s:
        tenants = {str(i): t for i, t in s.exec(select(Operator.id, Operator.tenant_id)).all()}
    for item in due:
        sch = item.schedule
        note = late_note(item.slot, sch.tz) if item.catch_up else None
        try:
            briefing = await asyncio.to_thread(
                produce_briefing,
                engine,
                engine.settings,
                sch.kind,
                out_dir,
                now,
                operator_id=sch.operator_id,
                tenant_id=tenants.get(sch.operator_id),
                voice_config=voice_config,
                speak=speak,
                note=note,
            )
        except (ClawOpsError, OSError) as exc:
            log.error("briefing %s for %s FAILED: %s", sch.kind, sch.operator_id, exc)
            record_run(
                store,
                kind=sch.kind,
                operator_id=sch.operator_id,
                slot=item.slot,
                briefing=None,
                outcome="failed",
                error=str(exc),
            )
            run = BriefingRun(item, None, {}, str(exc))
            runs.append(run)
            await engine.scheduler.briefing_ran(run)
            continue
        if not record_run(
            store, kind=sch.kind, operator_id=sch.operator_id, slot=item.slot, briefing=briefing, outcome="ok"
        ):
            continue  # another engine did this slot meanwhile
        channels = _channels_for(store, sch)
        held: set[str] = set()
        delivered = await deliver_briefing(engine, briefing, channels, senders=senders, queued=held)
        failed = {c: e for c, e in delivered.items() if e}
        sent = [c for c in delivered if c not in failed and c not in held]
        with store.session() as s:
            audit.append(
                s,
                actor="briefer",
                channel="scheduler",
                action="briefing.delivery",
                target=sch.operator_id,
                outcome="failed" if failed else "queued" if held else "ok",
                detail={
                    "kind": sch.kind,
                    "slot": item.slot.isoformat(),
                    "channels": delivered,
                    "queued": sorted(held),
                    "late": item.catch_up,
                },
            )
        if failed:
            log.error(
                "briefing %s for %s: delivery FAILED on %s",
                sch.kind,
                sch.operator_id,
                "; ".join(f"{c}: {e}" for c, e in failed.items()),
            )
        if held:
            log.warning(
                "briefing %s for %s: not delivered yet on %s, queued (the Outbox retries it and logs when it is sent)",
                sch.kind,
                sch.operator_id,
                ", ".join(sorted(held)),
            )
        if sent:
            log.info("briefing %s for %s delivered on %s", sch.kind, sch.operator_id, ", ".join(sent))
        if not delivered:
            log.info(
                "briefing %s for %s saved to %s (no channel linked)",
                sch.kind,
                sch.operator_id,
                briefing.html_path.parent,
            )
        run = BriefingRun(item, briefing, delivered)
        runs.append(run)
        await engine.scheduler.briefing_ran(run)
    return runs
