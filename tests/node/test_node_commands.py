"""The command allowlist and runner: refusal, timeouts, cancel, dedupe, concurrency, rollback, streaming."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from engine.gateway import NodeGateway
from node.commands import COMMANDS, CommandRunner
from node.health import HealthCollector, NodeFacts
from node.protocol import InvokeRequest
from node.sim import SimulatedFleet
from node.system import CommandOutput, SimulatedSystem
from tests.node.clawnode_testkit import node_config, until


class SlowSystem(SimulatedSystem):
    """Restarts block until released, so overlap, cancel and timeouts can be observed."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.release = asyncio.Event()
        self.active = 0
        self.max_active = 0
        self.cancelled = 0

    async def restart_gateway(self) -> CommandOutput:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.active -= 1
        return await super().restart_gateway()

    restart_docker = restart_gateway


def _runner(system: SimulatedSystem, account: str | None = "acct-001") -> CommandRunner:
    collector = HealthCollector(system, NodeFacts(node_id="n" * 64, hostname="h", account_id=account))
    return CommandRunner(system, collector, account_id=account, settle_s=0)


def _req(
    command: str, params: Any = None, *, invoke_id: str = "i-1", key: str | None = None, timeout_ms: int | None = None
) -> InvokeRequest:
    return InvokeRequest(invoke_id, "n" * 64, command, params, timeout_ms, key)


async def _no_progress(_: str) -> None:
    return None


def test_allowlist_is_exactly_the_clawops_commands() -> None:
    assert set(COMMANDS) == {
        "clawops.health",
        "clawops.diagnose",
        "clawops.restart_gateway",
        "clawops.restart_docker",
        "clawops.config_apply",
        "clawops.archive",
    }
    tools = CommandRunner.plugin_tools()
    assert all(t["command"] in COMMANDS and t["pluginId"] == "clawops" for t in tools)


@pytest.mark.parametrize("command", ["system.run", "system.which", "clawops.shell", "clawops.health ", ""])
async def test_commands_off_the_allowlist_are_refused_on_the_node(command: str) -> None:
    runner = _runner(SimulatedSystem())
    outcome = await runner.execute(_req(command, {"command": ["rm", "-rf", "/"]}), _no_progress)
    assert not outcome.ok and outcome.error is not None
    assert outcome.error.code == "COMMAND_NOT_ALLOWED"
    assert runner.executions == {}


async def test_bad_params_are_refused() -> None:
    runner = _runner(SimulatedSystem())
    out = await runner.execute(_req("clawops.health", {"sneaky": 1}), _no_progress)
    assert out.error is not None and out.error.code == "INVALID_REQUEST"
    out = await runner.execute(_req("clawops.diagnose", {"checks": ["rm"]}), _no_progress)
    assert out.error is not None and out.error.code == "INVALID_REQUEST"


async def test_timeout_uses_the_smaller_of_command_and_invoke_budget() -> None:
    system = SlowSystem()
    runner = _runner(system)
    out = await runner.execute(_req("clawops.restart_gateway", timeout_ms=50), _no_progress)
    assert out.error is not None and out.error.code == "TIMEOUT"
    assert system.cancelled == 1 and system.active == 0


async def test_cancel_stops_the_running_command() -> None:
    system = SlowSystem()
    runner = _runner(system)
    task = asyncio.create_task(runner.execute(_req("clawops.restart_gateway", invoke_id="c-1"), _no_progress))
    await until(lambda: system.active == 1)
    assert runner.cancel("c-1") is True
    out = await task
    assert out.error is not None and out.error.code == "CANCELLED"
    assert system.cancelled == 1 and system.gateway_restarts == 0
    assert runner.cancel("c-1") is False


async def test_idempotency_key_runs_the_body_once() -> None:
    system = SlowSystem()
    runner = _runner(system)
    first = asyncio.create_task(runner.execute(_req("clawops.restart_gateway", invoke_id="a", key="k1"), _no_progress))
    second = asyncio.create_task(runner.execute(_req("clawops.restart_gateway", invoke_id="b", key="k1"), _no_progress))
    await until(lambda: system.active == 1)
    system.release.set()
    a, b = await asyncio.gather(first, second)
    assert a.ok and b.ok and a.payload == b.payload
    third = await runner.execute(_req("clawops.restart_gateway", invoke_id="c", key="k1"), _no_progress)
    assert third.payload == a.payload
    assert runner.executions["clawops.restart_gateway"] == 1 and system.gateway_restarts == 1


async def test_mutating_commands_run_one_at_a_time_reads_run_alongside() -> None:
    system = SlowSystem()
    runner = _runner(system)
    restarts = [
        asyncio.create_task(runner.execute(_req(c, invoke_id=c), _no_progress))
        for c in ("clawops.restart_gateway", "clawops.restart_docker")
    ]
    await until(lambda: system.active == 1)
    health = await runner.execute(_req("clawops.health", invoke_id="h"), _no_progress)  # not blocked
    assert health.ok
    system.release.set()
    results = await asyncio.gather(*restarts)
    assert all(r.ok for r in results)
    assert system.max_active == 1


async def test_config_apply_keeps_previous_and_rolls_back() -> None:
    system = SimulatedSystem(config_text='{"old": true}\n', config_apply_breaks_gateway=True)
    runner = _runner(system)
    progress: list[str] = []

    async def sink(chunk: str) -> None:
        progress.append(chunk)

    out = await runner.execute(_req("clawops.config_apply", {"config": {"new": 1}}), sink)
    assert not out.ok and out.error is not None and out.error.code == "CONFIG_ROLLED_BACK"
    assert system.config_text == '{"old": true}\n'
    assert system.gateway_pid() is not None  # back up on the old config
    assert any("restoring the previous config" in p for p in progress)
    assert "previous config was restored and the gateway is running again" in out.error.message
    assert out.error.details["gatewayRunning"] is True

    healthy = SimulatedSystem(config_text='{"old": true}\n')
    runner = _runner(healthy)
    out = await runner.execute(_req("clawops.config_apply", {"config": {"new": 1}}), _no_progress)
    assert out.ok and out.payload["applied"] is True
    assert json.loads(healthy.config_text or "") == {"new": 1}
    assert healthy.previous_config == '{"old": true}\n'
    assert out.payload["previousSha256"] == hashlib.sha256(b'{"old": true}\n').hexdigest()
    out = await runner.execute(
        _req("clawops.config_apply", {"config": {"x": 1}, "validate_only": True}, invoke_id="v"), _no_progress
    )
    assert out.ok and out.payload["applied"] is False and json.loads(healthy.config_text or "") == {"new": 1}
    out = await runner.execute(_req("clawops.config_apply", {"config": [1, 2]}, invoke_id="w"), _no_progress)
    assert out.error is not None and out.error.code == "INVALID_REQUEST"


async def test_config_rollback_restores_the_previous_version() -> None:
    """What a halted rollout sends to every instance it already changed (``{"rollback": true}``)."""
    system = SimulatedSystem(config_text='{"old": true}\n')
    runner = _runner(system)
    out = await runner.execute(_req("clawops.config_apply", {"config": {"new": 1}}, invoke_id="a"), _no_progress)
    assert out.ok and json.loads(system.config_text or "") == {"new": 1}
    restarts = system.gateway_restarts
    out = await runner.execute(_req("clawops.config_apply", {"rollback": True}, invoke_id="r"), _no_progress)
    assert out.ok and out.payload["rolledBack"] is True
    assert system.config_text == '{"old": true}\n' and system.gateway_restarts == restarts + 1

    fresh = _runner(SimulatedSystem(config_text='{"only": 1}\n'))
    out = await fresh.execute(_req("clawops.config_apply", {"rollback": True}, invoke_id="n"), _no_progress)
    assert not out.ok and out.error is not None and out.error.code == "INVALID_REQUEST"
    assert "no previous config" in out.error.message


async def test_first_config_that_breaks_the_gateway_is_removed_not_rolled_back() -> None:
    """No config before the apply: the truthful result is "removed", never "rolled back"."""
    system = SimulatedSystem(config_text=None, config_apply_breaks_gateway=True)
    out = await _runner(system).execute(_req("clawops.config_apply", {"config": {"new": 1}}), _no_progress)
    assert not out.ok and out.error is not None and out.error.code == "CONFIG_REMOVED"
    assert "no previous config to roll back to" in out.error.message and "rolled back" not in out.error.message
    assert out.error.details["restoredSha256"] is None and out.error.details["gatewayRunning"] is True
    assert system.config_text is None  # back to the state before: no config at all


async def test_first_config_on_disk_leaves_no_stale_rollback_copy(tmp_path: Path) -> None:
    from node.system import ProcSystem

    path = tmp_path / "openclaw.json"
    system = ProcSystem(config_path=str(path))
    path.write_text("old\n")
    system.write_config("one\n")
    assert system.read_previous_config() == "old\n"
    system.remove_config()
    system.write_config("two\n")  # replaces nothing: "old" is no longer the previous config
    assert system.read_previous_config() is None


async def test_archive_is_read_in_bounded_pieces_and_checks_the_account(tmp_path: Path) -> None:
    system = SimulatedSystem(hostname="arch", archive_bytes=40_000)
    runner = CommandRunner(
        system,
        HealthCollector(system, NodeFacts(node_id="n", hostname="h")),
        account_id="acct-001",
        settle_s=0,
        spool_dir=str(tmp_path),
    )
    out = await runner.execute(_req("clawops.archive", {"account_id": "acct-001"}), _no_progress)
    assert out.ok and out.payload["bytes"] == 40_000
    archive_id = out.payload["archiveId"]
    data = b""
    while len(data) < 40_000:
        piece = await runner.execute(
            _req(
                "clawops.archive",
                {"account_id": "acct-001", "archive_id": archive_id, "offset": len(data), "length": 16_384},
                invoke_id=f"p{len(data)}",
            ),
            _no_progress,
        )
        assert piece.ok and piece.payload["offset"] == len(data) and piece.payload["bytes"] <= 16_384
        data += base64.b64decode(piece.payload["data"])
    assert piece.payload["eof"] is True
    assert hashlib.sha256(data).hexdigest() == out.payload["sha256"]
    assert list(tmp_path.iterdir())  # spooled until the reader says done
    done = await runner.execute(
        _req("clawops.archive", {"account_id": "acct-001", "archive_id": archive_id, "done": True}, invoke_id="d"),
        _no_progress,
    )
    assert done.ok and not list(tmp_path.iterdir())
    gone = await runner.execute(
        _req("clawops.archive", {"account_id": "acct-001", "archive_id": archive_id, "offset": 0}, invoke_id="g"),
        _no_progress,
    )
    assert gone.error is not None and "unknown or expired archive_id" in gone.error.message
    denied = await runner.execute(_req("clawops.archive", {"account_id": "acct-002"}, invoke_id="x"), _no_progress)
    assert denied.error is not None and denied.error.code == "FORBIDDEN"


async def test_diagnose_reports_faults_as_facts() -> None:
    system = SimulatedSystem(disk_full=True, gateway_dead=True, docker_missing=True)
    runner = _runner(system)
    lines: list[str] = []

    async def sink(chunk: str) -> None:
        lines.append(chunk)

    out = await runner.execute(_req("clawops.diagnose", {"checks": ["disk", "gateway", "docker", "logs"]}), sink)
    assert out.ok
    checks = out.payload["checks"]
    assert out.payload["ok"] is False
    assert checks["disk"]["ok"] is False and checks["disk"]["free_bytes"] == 0
    assert checks["gateway"] == {"ok": False, "running": False, "pid": None}
    assert checks["docker"]["available"] is False and "not installed" in checks["docker"]["error"]
    assert [json.loads(line)["check"] for line in lines] == ["disk", "gateway", "docker", "logs"]


async def test_invoke_through_gateway_cancel_progress_and_dedupe(gateway: NodeGateway) -> None:
    """The same behaviours end to end: gateway timeout sends node.invoke.cancel; progress streams."""
    fleet = SimulatedFleet(backoff_initial_s=0.05, settle_s=0)
    system = SlowSystem(hostname="slow")
    node = fleet.boot(node_config(gateway.url, "slow"), system=system)
    try:
        await node.client.wait_connected(10)
        res = await gateway.invoke(node.device_id, "clawops.restart_gateway", timeout_s=0.3)
        assert not res.ok and res.error_code == "TIMEOUT"
        await until(lambda: system.cancelled == 1)  # the node got node.invoke.cancel and stopped the work
        assert system.active == 0
        fanned = await gateway.fan_out("clawops.restart_gateway", node_ids=[node.device_id, "f" * 64], timeout_s=0.3)
        assert fanned[node.device_id].error_code == "TIMEOUT" and fanned["f" * 64].error_code == "UNAVAILABLE"
        await until(lambda: system.cancelled == 2)

        system.release.set()
        r1 = await gateway.invoke(node.device_id, "clawops.restart_gateway", idempotency_key="op-7", timeout_s=10)
        r2 = await gateway.invoke(node.device_id, "clawops.restart_gateway", idempotency_key="op-7", timeout_s=10)
        assert r1.ok and r2.ok and system.gateway_restarts == 1

        seen: list[tuple[int, str]] = []

        async def on_progress(node_id: str, seq: int, chunk: str) -> None:
            seen.append((seq, chunk))

        res = await gateway.invoke(
            node.device_id, "clawops.diagnose", {"checks": ["disk", "logs"]}, on_progress=on_progress, timeout_s=10
        )
        assert res.ok and [s for s, _ in seen] == [1, 2]  # one progress chunk per check, in order
        assert [json.loads(c)["check"] for _, c in seen] == ["disk", "logs"]
    finally:
        await fleet.shutdown_all()
