"""``python -m voice``: the shell entry point speaks, listens and reports errors without a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.speech_kit import STEADY_ENV, heard_as
from voice.__main__ import main

pytestmark = pytest.mark.voice


def test_say_hear_probe_check(
    vcfg: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in STEADY_ENV.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "v.ogg"
    assert main(["say", "Hetzner is healthy.", "-o", str(out)]) == 0
    assert out.read_bytes()[:4] == b"OggS"
    assert main(["hear", str(out)]) == 0
    assert main(["probe", str(out)]) == 0
    assert main(["check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(str(out))
    assert heard_as(lines[1], "Hetzner is healthy."), lines[1]
    assert 0.5 < float(lines[2]) < 4
    assert lines[3].startswith("voice ok")


def test_errors_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.ogg"
    bad.write_text("not audio")
    assert main(["hear", str(bad)]) == 2
    assert main(["hear", str(tmp_path / "missing.ogg")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "Could not read 'bad.ogg': it is damaged or not an audio file."
    assert err[1].startswith("No audio file at")
