"""Briefer benchmark: the whole morning briefing, from the store to the OGG file, on the demo fleet.

Run:  .venv/bin/python bench/bench_briefer.py
Prints a table: metric | target | measured.  Not a test: numbers are reported, never asserted.
Models are preloaded first (the engine keeps them warm), so "data -> OGG" is what happens at 07:00:
read the store, write the script and both reports, synthesize and encode the voice note.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CLAWOPS_HOME"] = tmp
        import voice
        from engine.briefer import gather_facts, produce_briefing
        from engine.briefer._compose import markdown_report, spoken_script
        from engine.briefer._html import html_report
        from engine.runtime import Engine

        cfg = voice.get_config()
        if not voice.available(cfg):
            print(f"voice unavailable: {voice.unavailable_reason(cfg)}")
            sys.exit(1)
        t0 = time.perf_counter()
        engine = Engine.open()
        open_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        voice.preload(cfg)
        voice.synthesize("Warm up.", cfg)
        preload_s = time.perf_counter() - t0

        now = datetime.now(UTC)
        facts_t, words_t = [], []
        for _ in range(3):
            t0 = time.perf_counter()
            facts = gather_facts(engine.store, engine.settings, "daily", now)
            facts_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            script = spoken_script(facts)
            markdown_report(facts, script)
            html_report(facts, script)
            words_t.append(time.perf_counter() - t0)

        totals, cpus, audio = [], [], []
        for i in range(3):  # the machine is shared: the median of three whole runs
            t0, c0 = time.perf_counter(), time.process_time()
            b = produce_briefing(engine, engine.settings, "daily", Path(tmp) / f"run{i}", now, voice_config=cfg)
            totals.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            audio.append(b.duration_s or 0.0)
        engine.close()
        total_s, audio_s = statistics.median(totals), statistics.median(audio)
        per_60 = total_s * 60 / audio_s if audio_s else float("nan")
        html_kb = b.html_path.stat().st_size / 1024
        ogg_kb = b.voice_path.stat().st_size / 1024 if b.voice_path else 0.0

    rows = [
        (f"engine open + demo fleet seed ({facts.total} instances)", "-", f"{open_s:.2f} s"),
        ("voice models preload + warm-up", "-", f"{preload_s:.2f} s"),
        (
            "facts from the store (counts, audit, SLA, ledger cost), median",
            "-",
            f"{statistics.median(facts_t) * 1000:.0f} ms",
        ),
        ("script + Markdown + HTML report, median", "-", f"{statistics.median(words_t) * 1000:.0f} ms"),
        (
            f"whole briefing data -> OGG + reports ({audio_s:.0f} s audio, {len(b.text.split())} words), median of 3",
            "-",
            f"{total_s:.2f} s",
        ),
        ("the same, scaled to 60 s of audio", "< 8 s", f"{per_60:.2f} s ({audio_s / total_s:.1f}x real time)"),
        (
            "CPU time of one briefing (all threads; ~wall time on an idle 2-core box)",
            "-",
            f"{statistics.median(cpus):.2f} s",
        ),
        ("voice note / HTML report size", "-", f"{ogg_kb:.0f} KiB / {html_kb:.0f} KiB"),
    ]
    from bench._table import print_table

    print_table(rows)
    print(f"\nmachine load (1/5/15 min): {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
