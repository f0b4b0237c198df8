"""The embedded gateway answers like a real OpenClaw gateway, frame for frame (issue 20 item 2).

Every case of ``openclaw_frames`` (handshake, loopback approval, pairing, every refusal, close codes
and reasons) runs against the embedded gateway and is compared, field by field after normalising
per-run values, with the real gateway's frames recorded in ``fixtures/openclaw_frames.json``
(``record_openclaw_frames.py`` re-records them).  That comparison always runs.  The same comparison against a
live real gateway is ``test_node_real_gateway.py``'s first test, on that module's gateway (one boot per run
for every real-gateway test); it runs when the npm ``openclaw`` package can be installed.  hello-ok's health
summary is compared as "an object" only (``openclaw_frames``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.node.openclaw_frames import ALL_CASES, comparable, diff, embedded_recording

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "openclaw_frames.json").read_text())


def test_the_fixture_covers_every_case() -> None:
    assert set(FIXTURE["cases"]) == set(ALL_CASES) and len(ALL_CASES) >= 14


@pytest.mark.parametrize("name", list(ALL_CASES))
async def test_embedded_frames_match_the_recorded_real_gateway(name: str) -> None:
    ours = comparable(name, await embedded_recording(name))
    real = comparable(name, FIXTURE["cases"][name])
    assert diff(real, ours) == []
