"""The embedded gateway answers like a real OpenClaw gateway, frame for frame (issue 20 item 2).

Every case of ``openclaw_frames`` (handshake, loopback approval, pairing, every refusal, close codes
and reasons) runs against the embedded gateway and is compared, field by field after normalising
per-run values, with the real gateway's frames recorded in ``fixtures/openclaw_frames.json``
(``record_openclaw_frames.py`` re-records them).  That comparison always runs.  The same comparison
against a live real gateway runs when the npm ``openclaw`` package can be installed, and is skipped
with the reason otherwise.  It has a gateway of its own rather than sharing ``test_node_real_gateway.py``'s,
which runs with loopback auto-approval off (switching it on and back on that gateway, after its restart test,
once never took effect).  hello-ok's health summary is compared as "an object" only (``openclaw_frames``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.commands import COMMANDS
from tests.node.clawnode_openclaw import OpenClaw, OpenClawUnavailable, running_openclaw
from tests.node.openclaw_frames import ALL_CASES, comparable, diff, embedded_recording

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "openclaw_frames.json").read_text())


def test_the_fixture_covers_every_case() -> None:
    assert set(FIXTURE["cases"]) == set(ALL_CASES) and len(ALL_CASES) >= 14


@pytest.mark.parametrize("name", list(ALL_CASES))
async def test_embedded_frames_match_the_recorded_real_gateway(name: str) -> None:
    ours = comparable(name, await embedded_recording(name))
    real = comparable(name, FIXTURE["cases"][name])
    assert diff(real, ours) == []


@pytest.fixture(scope="module")
def live_openclaw() -> Iterator[OpenClaw]:
    config = {"gateway": {"nodes": {"commands": {"allow": sorted(COMMANDS)}}}}
    try:
        with running_openclaw(config) as oc:
            yield oc
    except OpenClawUnavailable as exc:
        pytest.skip(f"no real OpenClaw gateway here: {exc}")


@pytest.mark.openclaw
@pytest.mark.slow
async def test_embedded_frames_match_a_live_real_gateway(
    live_openclaw: OpenClaw,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.node.record_openclaw_frames import record_all

    live = await record_all(live_openclaw)
    failures: dict[str, list[str]] = {}
    for name in ALL_CASES:
        ours = comparable(name, await embedded_recording(name))
        found = diff(comparable(name, live[name]), ours)
        if found:
            failures[name] = found
    with capsys.disabled():
        print(f"\nframe-diff against live openclaw: {len(ALL_CASES) - len(failures)}/{len(ALL_CASES)} cases match")
    assert failures == {}
