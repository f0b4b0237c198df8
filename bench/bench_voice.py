"""Voice benchmarks: model load times, TTS and STT speed (x real time), a 60-s briefing to OGG.

Run:  .venv/bin/python bench/bench_voice.py
Prints a table: metric | target | measured.  Not a test: numbers are reported, never asserted.
Uses the product defaults (bundled tiny.en and en_US-joe-medium, Piper noise on, VAD on).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# About one minute of speech: what a morning briefing sounds like, written for the ear.
BRIEFING = (
    "Good morning. Here is your fleet briefing for Tuesday. "
    "You have eight hundred and fifty pairs. Eight hundred and thirty one are active, "
    "twelve are degraded, four are healing and three have failed. "
    "Overnight, Guardian healed nine gateways by restarting Docker, and failed over two pairs "
    "from Hetzner in Nuremberg to their standby on Vultr in New Jersey. Both are healthy now. "
    "There was one incident: a network problem at Contabo in Nuremberg, from two to two forty. "
    "Contabo's status page confirmed it, and no service level agreement was breached. "
    "This week the fleet costs four thousand two hundred dollars. "
    "Ledger found eighteen idle standby servers on DigitalOcean; "
    "moving them to Hetzner would save about one hundred and sixty dollars a month. "
    "Say go to see the plan. "
    "Looking ahead: three pairs on Hostinger renew their contracts on Friday, "
    "and the weekly report with charts is in your reports folder. "
    "Provider health is good everywhere except Contabo, which is still under watch. "
    "That is all for today. Have a good day."
)
SHORT_NOTE = "What's degraded on Hetzner right now?"


def main() -> None:
    t0 = time.perf_counter()
    import voice
    from voice._codec import decode
    from voice._tts import synthesize_samples

    import_s = time.perf_counter() - t0
    cfg = voice.get_config()
    if not voice.available(cfg):
        print(f"voice unavailable: {voice.unavailable_reason(cfg)}")
        sys.exit(1)

    t0 = time.perf_counter()
    loads = voice.preload(cfg)
    preload_s = time.perf_counter() - t0

    # TTS: raw synthesis speed, then the whole text -> OGG/Opus file path.
    voice.synthesize("Warm up.", cfg)
    raw_times = []
    for _ in range(3):  # the machine is shared: take the median of three runs
        t0 = time.perf_counter()
        samples, rate = synthesize_samples(BRIEFING, cfg)
        raw_times.append(time.perf_counter() - t0)
    tts_raw_s = statistics.median(raw_times)
    audio_s = len(samples) / rate
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "briefing.ogg"
        t0 = time.perf_counter()
        voice.synthesize_to_file(BRIEFING, out, cfg)
        to_file_s = time.perf_counter() - t0
        file_audio_s = voice.probe(out)
        ogg_kb = out.stat().st_size / 1024

        # STT: decode + transcribe the minute-long note, then short-note latency.
        t0 = time.perf_counter()
        decode(out)
        decode_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        heard = voice.transcribe(out, cfg)
        stt_s = time.perf_counter() - t0

    note = voice.synthesize(SHORT_NOTE, cfg)
    note_s = voice.probe(note)
    latencies = []
    for _ in range(3):
        t0 = time.perf_counter()
        voice.transcribe(note, cfg)
        latencies.append(time.perf_counter() - t0)
    reply_lat = []
    for _ in range(3):
        t0 = time.perf_counter()
        voice.synthesize("Twelve pairs are degraded, nine of them on Hetzner in Nuremberg.", cfg)
        reply_lat.append(time.perf_counter() - t0)

    rows = [
        ("import voice (no model loaded)", "-", f"{import_s:.2f} s"),
        ("STT model load (tiny.en, int8)", "-", f"{loads['stt_load_s']:.2f} s"),
        ("TTS voice load (joe-medium)", "-", f"{loads['tts_load_s']:.2f} s"),
        ("preload() total (both models, libs imported)", "-", f"{preload_s:.2f} s"),
        (f"TTS speed, raw Piper, median of 3 ({audio_s:.0f} s of audio)", ">= 10x", f"{audio_s / tts_raw_s:.1f}x"),
        (
            f"briefing text -> OGG/Opus file ({file_audio_s:.0f} s audio, {ogg_kb:.0f} KiB)",
            "< 8 s",
            f"{to_file_s:.2f} s ({file_audio_s / to_file_s:.1f}x)",
        ),
        (f"decode OGG/Opus -> 16 kHz ({file_audio_s:.0f} s)", "-", f"{decode_s:.2f} s"),
        (
            f"STT speed, decode + transcribe ({heard.duration_s:.0f} s)",
            ">= 8x",
            f"{heard.duration_s / stt_s:.1f}x",
        ),
        (f"STT latency, {note_s:.1f}-s voice note (median of 3)", "-", f"{statistics.median(latencies):.2f} s"),
        ("TTS latency, one-sentence reply to OGG (median of 3)", "-", f"{statistics.median(reply_lat):.2f} s"),
    ]
    from bench._table import print_table

    print_table(rows)
    print(f"\nheard: {heard.text[:160]}…")


if __name__ == "__main__":
    main()
