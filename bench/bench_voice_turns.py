"""Messaging voice benchmarks (issue 16): voice turns, the briefing's minute, STT speed and accuracy.

Run:  .venv/bin/python bench/bench_voice_turns.py [--quick] [--window S] [--stt-model DIR (accuracy set only)]
Prints metric | target | measured.  Not a test: numbers are reported, never asserted.

* voice turn, 3-s note, warm: the channel handler (transcribe → turn → text reply, then the spoken reply)
  on a running engine with the models loaded; cold: the same first turn in a fresh process whose models
  are not loaded yet (what the first note after a daemon start costs);
* briefing: produced (facts, script, reports, voice note) and delivered to the Telegram emulator, timed
  from its scheduled minute; its spoken length;
* STT speed on short notes (x real time by the wall clock, and audio seconds per CPU second of all threads:
  the second does not depend on what else the shared box runs, and a quiet box's wall clock is at least that
  fast) and WER on our own synthetic operator notes,
  spoken by Piper (joe-medium, with and without its random noise) and by espeak-ng (``apt-get install -y
  espeak-ng``), plus whether the offline brain chose the same action for what was heard as for the typed text.
  Transcripts go through ``listening_config`` like every voice turn (corrected towards the fleet's words).
  ``--accuracy`` runs this part only; ``--window 30`` compares Whisper's full 30-s window.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NOTES = [
    "Fleet status please.",
    "What's degraded on Hetzner?",
    "Show account zero four two.",
    "Restart everything degraded on Vultr.",
    "Fail over account one two three.",
    "How much are we spending this month?",
    "Check provider health on Contabo.",
    "Provision twenty pairs on Hetzner with the standby on Vultr.",
    "Resize account zero one seven to performance.",
    "Silence alerts for account zero eight eight for thirty minutes.",
    "What's failed on DigitalOcean?",
    "Brief me at six thirty.",
    "What jobs are running?",
    "Diagnose account zero five five.",
    "Tear down the idle accounts.",
    "What's degraded in Singapore?",
    "Restart the gateway on account zero one two.",
    "Send me the weekly briefing.",
    "Show the cost report for the week.",
    "Any incidents on Vultr?",
]
THREE_SECONDS = "Restart everything degraded on Vultr, please, right away."
_UNITS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50}


def _norm(text: str) -> list[str]:
    """Words for WER: lower case, acct-042 → account 42, number words → digits, no punctuation."""
    text = re.sub(r"\bacct-0*(\d+)", r"account \1", text.lower())
    text = text.replace("digital ocean", "digitalocean").replace("what's", "what is").replace("-", " ")
    out: list[str] = []
    digits: list[str] = []
    for word in re.findall(r"[a-z0-9]+", text):
        if word in _UNITS:
            digits.append(str(_UNITS[word]))
            continue
        if word in _TENS:
            digits.append(str(_TENS[word]))
            continue
        if digits:
            out.append(str(int("".join(digits))) if len(digits) > 1 else digits[0])
            digits = []
        out.append(word)
    if digits:
        out.append(str(int("".join(digits))))
    return out


def _espeak(text: str, path: Path, voice_name: str) -> bytes | None:
    if shutil.which("espeak-ng") is None:
        return None
    subprocess.run(["espeak-ng", "-v", voice_name, "-s", "165", "-w", str(path), text], check=True, capture_output=True)
    return path.read_bytes()


def _intents(brain: Any, text: str) -> list[tuple[str, str]]:
    return [
        (getattr(i, "tool", type(i).__name__), repr(sorted(getattr(i, "args", {}).items())))
        for i in brain.understand(text)
    ]


def accuracy(cfg: Any, quick: bool) -> list[tuple[str, str, str]]:
    import voice
    from engine.brain import OfflineBrain
    from engine.channels.voice_turns import listening_config

    cfg = listening_config(cfg)  # what every voice turn transcribes with (the fleet's lexicon for corrections)
    brain = OfflineBrain()
    notes = NOTES[:8] if quick else NOTES
    # Piper's noise makes each run's audio (and so its score) differ by a note or two; the noiseless voice
    # gives a figure that repeats from run to run.
    still = cfg.with_(tts_noise_scale=0.0, tts_noise_w_scale=0.0)
    voices: dict[str, Any] = {
        "piper": lambda t, p: voice.synthesize(t, cfg),
        "piper (noise off)": lambda t, p: voice.synthesize(t, still),
    }
    if shutil.which("espeak-ng"):
        voices["espeak-ng en-us"] = lambda t, p: _espeak(t, p, "en-us")
        voices["espeak-ng en (UK)"] = lambda t, p: _espeak(t, p, "en")
    rows = []
    speeds: list[float] = []
    cpu_speeds: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, speak in voices.items():
            errors = words = same = 0
            for i, text in enumerate(notes):
                audio = speak(text, Path(tmp) / f"{i}.wav")
                t0, c0 = time.perf_counter(), time.process_time()
                heard = voice.transcribe(audio, cfg)
                took, cpu = time.perf_counter() - t0, time.process_time() - c0
                speeds.append(heard.duration_s / took)
                cpu_speeds.append(heard.duration_s / max(cpu, 1e-6))
                ref, hyp = _norm(voice.normalize_transcript(text)), _norm(heard.text)
                errors += voice.edit_distance(ref, hyp)
                words += len(ref)
                same += _intents(brain, voice.normalize_transcript(text)) == _intents(brain, heard.text)
            rows.append((f"WER, {len(notes)} operator notes, {name}", "<= 10 %", f"{100 * errors / words:.1f} %"))
            rows.append((f"same action as typed, {name}", ">= 90 %", f"{100 * same / len(notes):.0f} %"))
    rows.insert(
        0, ("STT speed on short notes (median, wall clock)", ">= 10x real time", f"{statistics.median(speeds):.1f}x")
    )
    # Audio seconds per CPU second of all threads: what a note costs whatever else runs on the box.  The wall
    # clock of a quiet machine is at least this fast (both cores share the work); a busy one can be slower.
    rows.insert(
        1,
        (
            "STT cost on short notes (median, audio s per CPU s, all threads)",
            "-",
            f"{statistics.median(cpu_speeds):.1f}x",
        ),
    )

    return rows


async def voice_turn(cfg: Any, home: Path) -> list[tuple[str, str, str]]:
    import voice
    from engine.api import run_turn
    from engine.channels import Inbound, channel_turn, make_voice_handler
    from engine.runtime import Engine
    from engine.store import ChannelIdentity

    engine = Engine.open(demo_pairs=850)
    try:
        with engine.store.session() as s:
            s.add(ChannelIdentity(channel="telegram", external_id="4242", operator_id="op-owner"))
        handler = make_voice_handler(channel_turn(engine, run_turn), config=cfg)
        note = home / "note.ogg"
        note.write_bytes(voice.synthesize(THREE_SECONDS, cfg))
        seconds = voice.probe(note)
        text_s, voice_s = [], []
        for i in range(4):
            inbound = Inbound(
                channel="telegram", sender_id="4242", operator_id="op-owner", message_id=str(i), audio_path=note
            )
            t0 = time.perf_counter()
            reply = await handler(inbound)
            text_at = time.perf_counter() - t0
            assert reply is not None and reply.speak is not None
            await reply.speak()
            if i:  # the first one warms the turn path (demo providers, caches)
                text_s.append(text_at)
                voice_s.append(time.perf_counter() - t0)
        return [
            (f"voice turn warm, {seconds:.1f}-s note: text reply", "<= 2 s", f"{statistics.median(text_s):.2f} s"),
            (f"voice turn warm, {seconds:.1f}-s note: voice reply", "<= 4 s", f"{statistics.median(voice_s):.2f} s"),
        ]
    finally:
        engine.close()


COLD = """
import asyncio, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from engine.api import run_turn
from engine.channels import Inbound, channel_turn, make_voice_handler
from engine.runtime import Engine
from engine.store import ChannelIdentity
engine = Engine.open(demo_pairs=850)
with engine.store.session() as s:
    s.add(ChannelIdentity(channel="telegram", external_id="4242", operator_id="op-owner"))
handler = make_voice_handler(channel_turn(engine, run_turn))
async def main():
    t0 = time.perf_counter()
    reply = await handler(Inbound(channel="telegram", sender_id="4242", operator_id="op-owner", message_id="1",
                                  audio_path=Path({note!r})))
    text_at = time.perf_counter() - t0
    await reply.speak()
    print(f"{{text_at:.2f}} {{time.perf_counter() - t0:.2f}}")
asyncio.run(main())
"""


def cold_turn(cfg: Any, home: Path) -> list[tuple[str, str, str]]:
    import voice

    note = home / "cold.ogg"
    note.write_bytes(voice.synthesize(THREE_SECONDS, cfg))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAWOPS_")} | {"CLAWOPS_HOME": str(home / "cold")}
    out = subprocess.run(
        [sys.executable, "-c", COLD.format(root=str(ROOT), note=str(note))],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    try:
        text_s, voice_s = out.stdout.split()[-2:]
    except ValueError:
        return [("voice turn cold (first note after start)", "<= 15 s", f"failed: {out.stderr[-200:]}")]
    return [
        ("voice turn cold: text reply (models not loaded)", "<= 15 s", f"{float(text_s):.2f} s"),
        ("voice turn cold: voice reply", "-", f"{float(voice_s):.2f} s"),
    ]


async def briefing(cfg: Any, home: Path) -> list[tuple[str, str, str]]:
    import httpx

    from engine.briefer import run_due_briefings, set_prefs, telegram_sender
    from engine.channels import RetryPolicy, TelegramClient, TelegramEmulator
    from engine.runtime import Engine
    from engine.store import ChannelIdentity

    engine = Engine.open(demo_pairs=850)
    try:
        set_prefs(
            engine.store,
            "op-owner",
            at="07:00",
            channels="telegram",
            no_weekly=True,
            now=datetime.now(UTC) - timedelta(days=1),
        )
        with engine.store.session() as s:
            s.add(ChannelIdentity(channel="telegram", external_id="4242", operator_id="op-owner"))
        slot = (datetime.now(UTC) + timedelta(days=1)).replace(hour=7, minute=0, second=0, microsecond=0)
        async with TelegramEmulator() as emu, httpx.AsyncClient() as http:
            client = TelegramClient(http, emu.token, base_url=emu.base_url, retry=RetryPolicy(attempts=2))
            t0 = time.perf_counter()
            (run,) = await run_due_briefings(
                engine, slot, voice_config=cfg, senders={"telegram": lambda chat: telegram_sender(client, chat)}
            )
            took = time.perf_counter() - t0
            parts = [m.kind for m in emu.sent]
        b = run.briefing
        assert b is not None
        return [
            (
                "briefing produced + delivered after its minute (850 pairs)",
                "<= 30 s",
                f"{took:.1f} s ({', '.join(parts)})",
            ),
            ("briefing spoken length", "<= 45 s", f"{b.duration_s or 0:.1f} s ({len(b.text.split())} words)"),
        ]
    finally:
        engine.close()


def main() -> None:
    quick = "--quick" in sys.argv
    import voice
    from engine.briefer import fleet_vocabulary

    cfg = voice.get_config().with_(vocabulary=fleet_vocabulary(None))  # what the daemon configures
    if "--stt-model" in sys.argv:  # compare another faster-whisper model directory on the accuracy set only
        cfg = cfg.with_(stt_model=sys.argv[sys.argv.index("--stt-model") + 1])
    if "--window" in sys.argv:  # the shortest encoder window in s (30 = always Whisper's full window)
        cfg = cfg.with_(stt_min_window_s=float(sys.argv[sys.argv.index("--window") + 1]))
    if not voice.available(cfg):
        print(f"voice unavailable: {voice.unavailable_reason(cfg)}")
        sys.exit(1)
    voice.preload(cfg)
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        if "--stt-model" in sys.argv or "--accuracy" in sys.argv:
            from bench._table import print_table

            print_table(
                [
                    ("STT model", "-", str(cfg.stt_model or "tiny.en (bundled)")),
                    ("shortest encoder window", "-", f"{cfg.stt_min_window_s:g} s"),
                    *accuracy(cfg, quick),
                    ("machine load average (2 cores, shared)", "-", f"{os.getloadavg()[0]:.1f}"),
                ]
            )
            return
        os.environ["CLAWOPS_HOME"] = str(home / "warm")
        rows += asyncio.run(voice_turn(cfg, home))
        rows += cold_turn(cfg, home)
        os.environ["CLAWOPS_HOME"] = str(home / "brief")
        rows += asyncio.run(briefing(cfg, home))
        rows += accuracy(cfg, quick)
    load = os.getloadavg()[0]
    rows.append(("machine load average (2 cores, shared)", "-", f"{load:.1f}"))
    from bench._table import print_table

    print_table(rows)


if __name__ == "__main__":
    main()
