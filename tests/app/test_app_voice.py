"""Voice notes in the chat: /voice FILE sends a real recording through the local speech engines; the note
shows its duration and what was heard, the team answers in text and with a spoken voice note."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from app.chat import AgentMessage, ChatApp, ErrorNote
from app.widgets import VoiceNoteMessage
from app.widgets.voice_note import clock
from engine.client import EmbeddedClient, audio_seconds
from tests.app.conftest import DEMO_PAIRS
from tests.speech_kit import STEADY_VOICE, heard_as

if TYPE_CHECKING:
    from textual.pilot import Pilot

voice = pytest.importorskip("voice")


@pytest.fixture(scope="module")
def fleet_status_ogg() -> bytes:
    """ "Fleet status, please." as a voice note, synthesised once for the module's voice tests."""
    return bytes(voice.synthesize("Fleet status, please.", STEADY_VOICE))


async def _settle(pilot: Pilot[None], app: ChatApp) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def test_clock_and_unreadable_audio() -> None:
    assert clock(7.4) == "0:07" and clock(92) == "1:32" and clock(None) == "?:??"
    assert audio_seconds(Path("/nonexistent.ogg")) is None


@pytest.mark.voice
async def test_a_voice_note_is_heard_answered_and_spoken(
    clawops_home: Path, tmp_path: Path, fleet_status_ogg: bytes
) -> None:
    recording = tmp_path / "status.ogg"
    recording.write_bytes(fleet_status_ogg)
    client = EmbeddedClient.open(demo_pairs=DEMO_PAIRS, channel="tui")
    try:
        app = ChatApp(client)
        async with app.run_test(size=(110, 40)) as pilot:
            app.prompt.text = f"/voice {recording}"
            await pilot.press("enter")
            await _settle(pilot, app)
            assert not app.query(ErrorNote)
            sent, spoken = app.query(VoiceNoteMessage)
            assert sent.sent and sent.path == recording and sent.seconds and sent.seconds > 0.5
            assert heard_as(sent.transcript, "Fleet status, please."), sent.transcript
            (reply,) = app.query(AgentMessage)
            assert "DEMO fleet" in reply.reply  # the same action as the typed words: the fleet status
            assert not spoken.sent and spoken.path is not None and spoken.path.is_file()
            assert spoken.path.suffix == ".ogg" and spoken.seconds and spoken.seconds > 1
            assert clock(sent.seconds) in str(sent.render())
    finally:
        client.close()


async def test_a_broken_recording_is_one_clear_line(clawops_home: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.ogg"
    broken.write_bytes(b"OggS but not really audio")
    client = EmbeddedClient.open(demo_pairs=DEMO_PAIRS, channel="tui")
    try:
        app = ChatApp(client)
        async with app.run_test(size=(110, 40)) as pilot:
            app.prompt.text = f"/voice {broken}"
            await pilot.press("enter")
            await _settle(pilot, app)
            (error,) = app.query(ErrorNote)
            assert "Nothing was sent to the team" in str(error.render())
            assert not app.query(AgentMessage)
    finally:
        client.close()


def test_push_to_talk_is_refused_over_ssh_and_without_a_recording(tmp_path: Path) -> None:
    from app.recorder import Recorder, RecorderUnavailable

    over_ssh = Recorder(tmp_path, environ={"SSH_CONNECTION": "10.0.0.1 5000 10.0.0.2 22"})
    with pytest.raises(RecorderUnavailable, match="microphone would be the server's"):
        over_ssh.start()
    silent = Recorder(tmp_path, environ={"CLAWOPS_RECORDER": "true"})  # a recorder that records nothing
    silent.start()
    with pytest.raises(RecorderUnavailable, match="recording is empty"):
        silent.stop()


@pytest.mark.voice
async def test_push_to_talk_records_and_sends_a_voice_note(
    clawops_home: Path, tmp_path: Path, fleet_status_ogg: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """F5 starts the recorder, F5 again stops it and sends what it recorded (a stand-in microphone here)."""
    import sys

    spoken = tmp_path / "spoken.wav"
    spoken.write_bytes(voice.to_wav(fleet_status_ogg))
    fake = "import shutil, sys, time; shutil.copy(sys.argv[1], sys.argv[2]); time.sleep(60)"
    monkeypatch.setenv("CLAWOPS_RECORDER", f"{sys.executable} -c '{fake}' {spoken} {{path}}")
    client = EmbeddedClient.open(demo_pairs=DEMO_PAIRS, channel="tui")
    try:
        app = ChatApp(client)
        async with app.run_test(size=(110, 40)) as pilot:
            await pilot.press("f5")
            assert app.recorder.recording
            await pilot.pause(0.5)
            await pilot.press("f5")
            await _settle(pilot, app)
            assert not app.recorder.recording and not app.query(ErrorNote)
            sent = app.query(VoiceNoteMessage).first()
            assert sent.sent and heard_as(sent.transcript, "Fleet status, please."), sent.transcript
            assert any("DEMO fleet" in m.reply for m in app.query(AgentMessage))
    finally:
        client.close()
