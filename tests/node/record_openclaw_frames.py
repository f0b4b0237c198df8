"""Record a real OpenClaw gateway's frames for every frame-diff case into fixtures/openclaw_frames.json.

    .venv/bin/python tests/node/record_openclaw_frames.py [--out PATH]

Starts ``openclaw@2026.9.6`` on loopback (installed from npm into ~/.cache/clawops-openclaw once, as the
real-gateway tests do), runs each case of ``openclaw_frames.CASES`` with loopback auto-approval on (the
default), switches ``gateway.nodes.pairing.autoApproveLocal`` off (hot-reloaded) and runs
``LOCKED_CASES``, then writes the raw frames with the gateway version.  Re-record when the pinned
OpenClaw version changes; ``test_gateway_frame_diff.py`` compares the embedded gateway against the file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository root: run as a script, this folder comes first

from node.commands import COMMANDS  # noqa: E402
from tests.node.clawnode_openclaw import OPENCLAW_VERSION, TOKEN, OpenClaw, running_openclaw  # noqa: E402
from tests.node.openclaw_frames import CASES, LOCKED_CASES, Recording  # noqa: E402

FIXTURE = HERE / "fixtures" / "openclaw_frames.json"


async def record_all(oc: OpenClaw) -> dict[str, Recording]:
    """Every case against ``oc``, a gateway that has just become ready with loopback auto-approval on (the
    default): ``CASES`` first, then ``LOCKED_CASES`` with auto-approval switched off (left off)."""
    url = oc.url + "/"
    out: dict[str, Recording] = {}
    for name, case in CASES.items():
        out[name] = await case(url, TOKEN)
    await asyncio.to_thread(oc.set_config, "gateway.nodes.pairing.autoApproveLocal", False)
    for name, case in LOCKED_CASES.items():
        for _ in range(100):  # the gateway hot-reloads the setting within moments
            out[name] = rec = await case(url, TOKEN)
            if rec["frames"] and not rec["frames"][0].get("ok"):
                break
            await asyncio.sleep(0.2)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=FIXTURE)
    args = parser.parse_args()
    config = {"gateway": {"nodes": {"commands": {"allow": sorted(COMMANDS)}}}}
    with running_openclaw(config) as oc:
        frames = asyncio.run(record_all(oc))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"openclaw": OPENCLAW_VERSION, "cases": frames}, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(frames)} cases from openclaw {OPENCLAW_VERSION} into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
