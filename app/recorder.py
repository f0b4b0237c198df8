"""Push-to-talk: record a voice note from this machine's microphone.

Only where the microphone is the operator's: over SSH the chat runs on the
server, whose microphone (if any) is in a data centre, so recording is refused
there with a sentence pointing at ``/voice FILE``.  Recording uses the system's
own recorder (``arecord`` from ALSA, or ``parecord`` from PulseAudio/PipeWire),
writing 16 kHz mono WAV, which the speech engine reads directly.
``CLAWOPS_RECORDER`` names another command (``{path}`` is where to write), e.g.
for a USB headset's device or for tests.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["Recorder", "RecorderUnavailable"]

RECORDERS = (
    ("arecord", ["-q", "-f", "S16_LE", "-r", "16000", "-c", "1", "-t", "wav", "{path}"]),
    ("parecord", ["--rate=16000", "--channels=1", "--file-format=wav", "{path}"]),
)
MAX_SECONDS = 120.0
"""A push-to-talk note longer than this is stopped: the speech engine refuses longer notes anyway."""


class RecorderUnavailable(Exception):
    """No way to record here; ``str()`` is the sentence for the operator."""


def _command(path: Path, environ: dict[str, str]) -> list[str]:
    custom = environ.get("CLAWOPS_RECORDER", "").strip()
    if custom:
        return [part.replace("{path}", str(path)) for part in shlex.split(custom)]
    if environ.get("SSH_CONNECTION") or environ.get("SSH_TTY"):
        raise RecorderUnavailable(
            "Over SSH the microphone would be the server's, not yours: record on your "
            "machine and send the file with /voice FILE."
        )
    if not Path("/dev/snd").exists() and not environ.get("PULSE_SERVER"):
        raise RecorderUnavailable("This machine has no sound device to record from; use /voice FILE instead.")
    for name, args in RECORDERS:
        found = shutil.which(name)
        if found:
            return [found, *(arg.replace("{path}", str(path)) for arg in args)]
    raise RecorderUnavailable("No recorder found (install alsa-utils for arecord); use /voice FILE instead.")


class Recorder:
    """One recording at a time: :meth:`start`, then :meth:`stop` returns the file."""

    def __init__(self, folder: Path | None = None, environ: dict[str, str] | None = None) -> None:
        self.folder = folder or Path(tempfile.gettempdir())
        self.environ = dict(os.environ) if environ is None else environ
        self._process: subprocess.Popen[bytes] | None = None
        self._path: Path | None = None
        self._started = 0.0

    @property
    def recording(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def seconds(self) -> float:
        return time.monotonic() - self._started if self.recording else 0.0

    def start(self) -> Path:
        """Begin recording; raises :class:`RecorderUnavailable` with a sentence when it cannot."""
        if self.recording:
            assert self._path is not None
            return self._path
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"ptt-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.wav"
        command = _command(path, self.environ)
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            raise RecorderUnavailable(
                f"The recorder could not start ({exc.strerror or exc}); use /voice FILE instead."
            ) from None
        self._path, self._started = path, time.monotonic()
        return path

    def stop(self) -> Path:
        """Stop recording and return the file (raises :class:`RecorderUnavailable` if nothing was recorded)."""
        process, path = self._process, self._path
        self._process = None
        if process is None or path is None:
            raise RecorderUnavailable("Nothing is being recorded.")
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # arecord and parecord finish the WAV header on SIGINT
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if not path.is_file() or path.stat().st_size <= 44:
            raise RecorderUnavailable("The recording is empty (is the microphone muted?); nothing was sent.")
        return path
