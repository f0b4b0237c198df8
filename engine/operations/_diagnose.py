"""``instance_diagnose``: the read-only checks clawnode runs on an instance, for Triage and the operator.

A diagnosis asks each instance of the target (an account's pair, or one
instance) for ``clawops.diagnose`` — disk, memory, docker, the gateway
process, recent gateway log lines, an outbound WebSocket probe — through the
node commands (the node gateway in production, the simulated nodes in the
demo).  It never changes anything: the command is read-only on the node, and
an unreachable node is reported as a finding, not retried or healed here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

from engine.errors import ClawOpsError, InputError
from engine.store import Instance

__all__ = ["DIAGNOSE_CHECKS", "DIAGNOSE_TIMEOUT_S", "diagnose_instances", "validate_checks"]

DIAGNOSE_CHECKS = ("disk", "memory", "docker", "gateway", "logs", "ws_probe")
"""What clawnode can check (node/commands.py); the tool's ``checks`` argument picks a subset."""

DIAGNOSE_TIMEOUT_S = 70.0
"""clawnode gives itself 60 s for a diagnosis; a node silent for longer is reported as not answering."""

LOG_LINES = 30
UNDIAGNOSABLE = frozenset({"REQUESTED", "CREATING", "DELETED"})
"""States with no node to ask (not booted yet, or gone)."""


class _Nodes(Protocol):
    async def invoke(self, instance_id: str, command: str, params: Any) -> dict[str, Any]: ...


def validate_checks(raw: Any) -> list[str]:
    """The ``checks`` argument as a list of known checks (all of them when absent)."""
    if raw is None or raw == [] or raw == "":
        return list(DIAGNOSE_CHECKS)
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(c, str) for c in items):
        raise InputError(f"checks must be a list of names from {', '.join(DIAGNOSE_CHECKS)}.")
    wanted = [c.strip().lower().replace("-", "_") for c in items]
    unknown = [c for c in wanted if c not in DIAGNOSE_CHECKS]
    if unknown:
        raise InputError(f"Unknown check {unknown[0]!r}; use any of {', '.join(DIAGNOSE_CHECKS)}.")
    return list(dict.fromkeys(wanted))


async def diagnose_instances(nodes: _Nodes, instances: Sequence[Instance], checks: list[str]) -> list[dict[str, Any]]:
    """One finding per instance, in the order given; the nodes are asked at the same time."""

    async def one(inst: Instance) -> dict[str, Any]:
        base: dict[str, Any] = {
            "id": inst.id,
            "role": inst.role,
            "provider": inst.provider,
            "region": inst.region,
            "state": inst.state,
            "health_score": inst.health_score,
            "health_reason": inst.health_reason,
        }
        if inst.state in UNDIAGNOSABLE:
            return {**base, "ok": None, "error": f"{inst.id} is {inst.state}: there is no node to ask yet."}
        try:
            answer = await asyncio.wait_for(
                nodes.invoke(inst.id, "clawops.diagnose", {"checks": checks, "log_lines": LOG_LINES}),
                timeout=DIAGNOSE_TIMEOUT_S,
            )
        except TimeoutError:
            return {**base, "ok": False, "error": f"{inst.id}'s node did not answer within {DIAGNOSE_TIMEOUT_S:.0f} s."}
        except ClawOpsError as err:
            return {**base, "ok": False, "error": str(err)}
        found = answer.get("checks") if isinstance(answer, dict) else None
        if not isinstance(found, dict):
            return {**base, "ok": False, "error": f"{inst.id}'s node sent a diagnosis this engine cannot read."}
        return {**base, "ok": bool(answer.get("ok")), "checks": found}

    return list(await asyncio.gather(*(one(inst) for inst in instances)))
