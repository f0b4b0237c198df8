"""The provisioning example over a real pseudo-terminal: `clawops` in tmux, driven by keystrokes.

What a person does over SSH: ask for 20 pairs, read the plan card, press ctrl+g (Go), watch Forge's progress
message update in place, read the result.  Nothing here knows Textual: tmux sends keys and captures the screen.
Each captured screen is saved under ``test-artifacts/tmux/`` for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "tmux"
EXAMPLE = "Provision 20 new standard-tier accounts, EU regions, Hetzner primary"
SESSION = "clawops-e2e"


def _ensure_tmux() -> str:
    """tmux from Debian, installed by the test setup when missing (as the Chromium test does)."""
    found = shutil.which("tmux")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail("tmux is needed for the terminal test: apt-get install -y tmux", pytrace=False)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "tmux"], check=True, env=env, timeout=600)
    found = shutil.which("tmux")
    assert found, "tmux did not install"
    return found


class Terminal:
    """One tmux session running the chat, on its own tmux server socket."""

    def __init__(self, tmux: str, socket: Path) -> None:
        self.tmux = tmux
        self.socket = socket
        self.shots = 0

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [self.tmux, "-S", str(self.socket), *args], capture_output=True, text=True, timeout=30, check=False
        )
        return done.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", SESSION)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", SESSION, *keys)

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", SESSION, "-l", text)

    def wait_for(self, text: str, seconds: float = 90.0) -> str:
        """Poll the screen until ``text`` is on it; a missing text fails with the screen attached."""
        deadline = time.monotonic() + seconds
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        self.save(screen, f"missing-{text[:20]}")
        raise AssertionError(f"{text!r} never appeared on the terminal; last screen:\n{screen}")

    def save(self, screen: str, label: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.shots += 1
        safe = "".join(c if c.isalnum() else "-" for c in label)
        (ARTIFACTS / f"{self.shots:02d}-{safe}.txt").write_text(screen, encoding="utf-8")


@pytest.fixture
def terminal(clawops_home: Path, tmp_path: Path) -> Iterator[Terminal]:
    tmux = _ensure_tmux()
    term = Terminal(tmux, tmp_path / "tmux.sock")
    env = {
        "CLAWOPS_HOME": str(clawops_home),
        "CLAWOPS_DEMO_PAIRS": "60",
        "CLAWOPS_DEMO_TIME_SCALE": "20",
        "TERM": "xterm-256color",
    }
    command = " ".join([f"{k}={v}" for k, v in env.items()] + [sys.executable, "-m", "app.cli"])
    term.run("new-session", "-d", "-s", SESSION, "-x", "130", "-y", "45", "-c", str(Path.cwd()), f"env {command}")
    try:
        yield term
    finally:
        term.run("kill-server")


@pytest.mark.slow
def test_a_person_provisions_twenty_pairs_in_the_terminal(terminal: Terminal) -> None:
    terminal.wait_for("Message the team")
    terminal.type(EXAMPLE)
    terminal.keys("Enter")
    card = terminal.wait_for("Plan — waiting for your go")
    terminal.save(card, "plan-card")
    assert "20 affected" in card and "per month" in card and "Go" in card and "Cancel" in card

    terminal.keys("C-g")  # the Go key, as the footer says
    screen = terminal.wait_for("[Forge] job-")
    job_id = screen.split("[Forge] job-", 1)[1].split()[0]
    seen = [screen]
    while "Forge done" not in screen and "Forge stopped" not in screen:
        time.sleep(0.3)
        screen = terminal.screen()
        seen.append(screen)
        assert len(seen) < 600, "the job never finished"
    terminal.save(seen[0], "progress-first")
    terminal.save(screen, "result")
    assert "Forge done: 20/20 steps" in screen and "40/40 ACTIVE" in screen
    # one progress message, updated in place: its job id heads exactly one message on every screen
    assert all(s.count(f"[Forge] job-{job_id}") <= 1 for s in seen)
    assert screen.count(f"[Forge] job-{job_id}") == 1
    # and it was seen moving: some screen showed the job part-way, with instances already ACTIVE
    midway = [s for s in seen if "Forge running" in s and "ACTIVE" in s.split("Forge running", 1)[1]]
    assert midway, "no screen showed the job in progress"
    terminal.save(midway[-1], "progress-midway")
    assert "Started job" in screen  # the turn answered at once; the progress came after it

    terminal.type("fleet status")  # the chat is still free to talk
    terminal.keys("Enter")
    after = terminal.wait_for("instances across")
    terminal.save(after, "status-after")


@pytest.mark.slow
def test_a_tiny_terminal_and_invalid_utf8_do_not_break_the_chat(terminal: Terminal) -> None:
    terminal.wait_for("Message the team")
    terminal.run("resize-window", "-t", SESSION, "-x", "40", "-y", "10")
    terminal.run("send-keys", "-t", SESSION, "-H", "ff", "fe", "c3", "28", "80")  # bytes that are not UTF-8
    terminal.type("fleet status")
    terminal.keys("Enter")
    terminal.wait_for("DEGRADED")  # the status reply, wrapped into 40 columns
    screen = terminal.wait_for("Message the team")  # and the prompt, once its repaint lands, still there to type into
    terminal.save(screen, "tiny-terminal")
    assert terminal.run("list-panes", "-t", SESSION, "-F", "#{pane_dead}").strip() == "0"
