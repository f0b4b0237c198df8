"""Briefer: the daily voice briefing and weekly report, spoken replies for voice turns.

"You wake up to a voice summary."  Every morning (07:00 UTC unless the operator chose a time, time zone,
days and channels — ``briefing_preferences``, set in chat or with ``clawops brief --at``)
Briefer reads the store — fleet counts by state and provider, what healed and failed over since the
last briefing, incidents, SLA breaches, cost this week and the top savings — and produces a voice note
written for the ear (one to two minutes), a Markdown report and a self-contained HTML report with
charts, saved to ``$CLAWOPS_HOME/reports`` and sent through the operator's channel.

Entry points:

* ``produce_briefing(engine_or_store, settings, kind, out_dir, now)`` → :class:`Briefing`
* ``brief_now(engine, kind=..., out_dir=...)`` — ``clawops brief --now``
* ``due_briefings(last_runs, now, schedules)`` — pure schedule logic
* ``set_prefs`` / ``get_prefs`` / ``describe_prefs`` — the operator's briefing preferences
* ``run_due_briefings(engine, now, senders=...)`` — what the scheduler calls at each operator's minute
* ``deliver(briefing, senders)`` with ``telegram_sender`` / ``whatsapp_sender``
* ``ask_voice(engine, audio, ...)`` — ``clawops ask --voice FILE``

Voice is optional: without the extra, briefings are produced as text and reports, and say why.
"""

from __future__ import annotations

from engine.briefer._deliver import BriefingSender, deliver, telegram_sender, whatsapp_sender
from engine.briefer._facts import SLA_MINUTES, BriefingFacts, CostFacts, Saving, SlaBreach, gather_facts
from engine.briefer._prefs import (
    BriefingPrefs,
    describe_prefs,
    get_prefs,
    linked_channels,
    load_schedules,
    parse_days,
    set_prefs,
)
from engine.briefer._produce import (
    Briefing,
    BriefingRun,
    brief_now,
    deliver_briefing,
    last_runs,
    late_note,
    produce_briefing,
    record_run,
    run_due_briefings,
    schedules_for,
    set_schedule,
)
from engine.briefer._schedule import (
    CATCH_UP_GRACE,
    WEEKDAYS,
    DueBriefing,
    Schedule,
    due_briefings,
    latest_slot,
    next_slot,
)
from engine.briefer._speech import for_ear, spoken_reply
from engine.briefer._tools import brief_and_send, briefing_tool, schedule_tool
from engine.briefer._voice_ask import VoiceTurn, ask_voice
from engine.briefer._voice_setup import fleet_vocabulary, voice_config

__all__ = [
    "CATCH_UP_GRACE",
    "SLA_MINUTES",
    "WEEKDAYS",
    "Briefing",
    "BriefingFacts",
    "BriefingPrefs",
    "BriefingRun",
    "BriefingSender",
    "CostFacts",
    "DueBriefing",
    "Saving",
    "Schedule",
    "SlaBreach",
    "VoiceTurn",
    "ask_voice",
    "brief_and_send",
    "brief_now",
    "briefing_tool",
    "deliver",
    "deliver_briefing",
    "describe_prefs",
    "due_briefings",
    "fleet_vocabulary",
    "for_ear",
    "gather_facts",
    "get_prefs",
    "last_runs",
    "late_note",
    "latest_slot",
    "linked_channels",
    "load_schedules",
    "next_slot",
    "parse_days",
    "produce_briefing",
    "record_run",
    "run_due_briefings",
    "schedule_tool",
    "schedules_for",
    "set_prefs",
    "set_schedule",
    "spoken_reply",
    "telegram_sender",
    "voice_config",
    "whatsapp_sender",
]
