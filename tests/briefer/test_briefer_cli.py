"""``clawops ask --json --voice FILE`` and ``clawops brief --now [--out DIR]`` as a user runs them
(real processes, ARCHITECTURE §4): the contract plus transcript and voice_reply; bad audio is one
sentence and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.clawops_cli import run_clawops
from tests.speech_kit import STEADY_VOICE

CONTRACT_KEYS = {"reply", "agent", "tool_calls", "plan", "job"}
ROOT = Path(__file__).resolve().parents[2]


def clawops(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAWOPS_")}
    env.update({"CLAWOPS_HOME": str(home), "CLAWOPS_DEMO_PAIRS": "30"})
    return run_clawops(args, env=env, timeout=300)


def one_sentence_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("clawops: "), proc.stderr
    return lines[0]


@pytest.mark.parametrize("content", [b"", b"this is not audio at all" * 50])
def test_bad_audio_is_one_sentence_and_non_zero(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "note.ogg"
    bad.write_bytes(content)
    line = one_sentence_error(clawops(tmp_path / "home", "ask", "--json", "--voice", str(bad)))
    assert "recording" in line or "audio" in line


def test_missing_file_and_both_inputs_are_usage_errors(tmp_path: Path) -> None:
    line = one_sentence_error(clawops(tmp_path, "ask", "--voice", str(tmp_path / "nope.ogg")))
    assert "nope.ogg" in line
    proc = clawops(tmp_path, "ask", "fleet status", "--voice", str(tmp_path / "x.ogg"))
    assert proc.returncode == 64 and "exactly one" in one_sentence_error(proc)


@pytest.mark.voice
@pytest.mark.slow
def test_ask_json_voice_transcribes_answers_and_speaks(tmp_path: Path) -> None:
    import voice

    question = tmp_path / "question.ogg"
    voice.synthesize_to_file("What's degraded?", question, STEADY_VOICE)
    proc = clawops(tmp_path / "home", "ask", "--json", "--voice", str(question))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == CONTRACT_KEYS | {"transcript", "voice_reply"}
    assert "degraded" in out["transcript"].lower()
    (call,) = out["tool_calls"]
    assert call["tool"] == "fleet_status" and "DEGRADED" in json.dumps(call["args"]), call
    reply = Path(out["voice_reply"])
    assert reply.parent == tmp_path / "home" / "voice" and reply.read_bytes()[:4] == b"OggS"
    assert voice.probe(reply) > 1.0


@pytest.mark.voice
@pytest.mark.slow
def test_brief_now_writes_voice_note_and_reports_where_asked(tmp_path: Path) -> None:
    out_dir = tmp_path / "briefs"
    proc = clawops(tmp_path / "home", "brief", "--now", "--out", str(out_dir))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("Daily briefing — DEMO fleet")
    paths = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip() for line in lines[1:]}
    voice_note = Path(paths["voice note"].rsplit(" (", 1)[0])
    assert voice_note.parent == out_dir and voice_note.read_bytes()[:4] == b"OggS"
    assert Path(paths["report"]).suffix == ".html" and Path(paths["report"]).exists()
    assert Path(paths["markdown"]).read_text().startswith("# Daily briefing")
    schedule = clawops(tmp_path / "home", "brief")
    assert schedule.returncode == 0 and "daily" in schedule.stdout and "07:00" in schedule.stdout
