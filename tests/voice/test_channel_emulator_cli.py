"""The channel emulators run standalone for the demo: base URL on the first line, real API behind it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("module", "probe"),
    [
        ("engine.channels.telegram_emulator", "/bot123456:TEST/getMe"),
        ("engine.channels.whatsapp_emulator", "/media-none"),
    ],
)
def test_emulator_prints_base_url_and_serves(module: str, probe: str) -> None:
    proc = subprocess.Popen([sys.executable, "-m", module, "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:")
        resp = httpx.get(base + probe, timeout=10)
        if "telegram" in module:
            assert resp.json()["result"]["username"] == "clawops_bot"
        else:
            assert resp.status_code == 401  # Graph API: no token, no data
            assert resp.json()["error"]["code"] == 190
    finally:
        proc.terminate()
        proc.wait(timeout=10)
