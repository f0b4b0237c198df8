"""Plan and job ids cannot collide: ``pl-``/``job-`` + a UUIDv7 (48-bit ms time + 74 random bits) in hex."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

from engine.ids import ID_HEX, new_id
from engine.runtime import Engine

NEW_FORM = re.compile(r"(pl|job)-([0-9a-f]{32})")


def test_new_ids_keep_the_prefix_are_uuid7_and_do_not_repeat() -> None:
    ids = [new_id("pl") for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for one in ids[:50]:
        m = NEW_FORM.fullmatch(one)
        assert m is not None and m.group(1) == "pl", one
        assert uuid.UUID(hex=m.group(2)).version == 7
    assert re.fullmatch(f"job-{ID_HEX}", new_id("job")) and re.fullmatch(f"pl-{ID_HEX}", "pl-1a2b3c4d")


def test_a_confirmed_plan_and_its_job_get_the_new_ids_and_the_job_can_be_named_back(clawops_home: Path) -> None:
    engine = Engine.open(demo_pairs=20, demo_providers="sim")
    try:
        planned = asyncio.run(engine.ask("restart everything on hetzner", session="ids"))
        assert planned.plan is not None
        plan_id = planned.plan["id"]
        assert NEW_FORM.fullmatch(plan_id), plan_id
        _, job_id, _ = engine.ops.confirm_plan(engine.caller(), plan_id)
        assert NEW_FORM.fullmatch(job_id), job_id
        stopped = asyncio.run(engine.ask(f"stop job {job_id}", session="ids"))  # the offline brain reads it back
        assert stopped.tool_calls[0].status == "done", stopped.reply
        assert stopped.tool_calls[0].args.get("job_id") == job_id
    finally:
        engine.close()
