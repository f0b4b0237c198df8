"""Operations at fleet scale (issue 4): 1,000 pairs provisioned, then a config push to 1,000 with a bad batch.

Run:  .venv/bin/python bench/bench_ops_scale.py [--pairs 1000] [--scale 4] [--concurrency N] [--parallel-pair-creates]
      [--budget 150]
Prints a table: metric | target | measured.

1. Provisioning: the real job path (plan → confirm → job, store, audit, policy) drives the real HTTP drivers
   against the in-process vendor emulators (Hetzner primaries, Vultr standbys, EU), time-scaled.  The nodes
   take the engine's real-server path and report only once their emulated server has booted, as clawnode
   would, so each create costs the vendor's own provisioning + boot time and no API call is spent waiting.  The wall time is compared with the lower bound the
   emulated vendors themselves impose, computed from their configured rate-limit windows and boot times:

       T_p   = time provider p's rate-limit windows need to admit all its requests (2 per server:
               the idempotency lookup and the create), starting from a full bucket
       bound = max over providers p of (T_p + boot_p)

   Anything above that is the engine's: its concurrency, its ordering (today a pair's standby is created
   only once its primary is ACTIVE, which puts the primary's boot on every pair's critical path), HTTP and
   store time.
   Peak memory is the process's ru_maxrss (engine, emulators and drivers share the process).
   What-if flags change the engine for this process only (never a file): ``--concurrency`` the job
   concurrency, ``--parallel-pair-creates`` creates a pair's primary and standby at once, ``--max-in-flight``
   caps each driver's concurrent requests.
   ``--budget`` bounds the run: a job still going after that many seconds is reported with its pace and a
   projection, not waited for.

2. Config push: 1,000 ACTIVE primaries (a fleet seeded in a fresh store: a push touches nodes, not providers)
   get a config in rolling batches of 50; one node in batch 13 turns unhealthy after the change.  The rollout must halt and put every instance back: target 0 instances left
   on the bad config.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.demo import SimNodeCommands  # noqa: E402
from engine.demo_providers import EmulatedDrivers  # noqa: E402
from engine.operations import Operations, _service  # noqa: E402
from engine.runtime import Engine  # noqa: E402

PRIMARY, STANDBY = "hetzner", "vultr"
REQUESTS_PER_CREATE = 2  # find_server (idempotency lookup) + create_server


class BootAwareNodes(SimNodeCommands):
    """Simulated nodes that come up only when their emulated server has finished provisioning and booting.

    They take the engine's real-server path (``NodeBootstrap``: cloud-init user data on create, then
    BOOTSTRAPPING → ACTIVE when the instance's node reports), as production does: a node connects once its
    server has booted, and no provider API call is spent on waiting.
    """

    def __init__(self, drivers: EmulatedDrivers) -> None:
        super().__init__()
        self.drivers = drivers
        self._servers: dict[str, tuple[Any, Any]] = {}
        self.boot_waits = 0

    def _server(self, instance_id: str) -> tuple[Any, Any] | None:
        found = self._servers.get(instance_id)
        if found is not None:
            return found
        tag = f"clawops-instance:{instance_id}"
        for emu in self.drivers._world().emulators.values():
            for server in emu.state.servers.values():
                if server.labels.get("clawops-instance") == instance_id or tag in server.tags:
                    self._servers[instance_id] = (emu.state, server)
                    return emu.state, server
        return None

    async def _until_booted(self, instance_id: str) -> None:
        found = self._server(instance_id)
        if found is not None:
            state, server = found
            wait = state.wall_seconds(server.created + server.provision_s + server.boot_s - state.now())
            if wait > 0:
                self.boot_waits += 1
                await asyncio.sleep(wait)

    async def user_data(self, instance_id: str, *, cloud_init: bool = True) -> str:
        return f"#cloud-config\n# clawnode for {instance_id} would be installed here\n"

    async def wait_ready(self, instance_id: str) -> dict[str, Any]:
        await self._until_booted(instance_id)
        return {"ok": True, "healthy": True}

    def forget_instance(self, instance_id: str) -> None:
        self._servers.pop(instance_id, None)

    async def invoke(self, instance_id: str, command: str, params: Any) -> dict[str, Any]:
        if command == "clawops.health" and instance_id not in self.configs:
            await self._until_booted(instance_id)
        return await super().invoke(instance_id, command, params)


def parallel_pair_creates() -> None:
    """What-if: a provisioning step creates the primary and the standby concurrently (this process only)."""
    from engine.operations._steps import StepRunner

    sequential = StepRunner.run

    async def run(
        self: StepRunner,
        action: str,
        instance_id: str,
        params: dict[str, Any],
        stopping: Callable[[], bool] | None = None,
    ) -> str:
        if action != "provision_pair":
            return await sequential(self, action, instance_id, params, stopping)
        await asyncio.gather(self._create(instance_id), self._create(str(params["standby"])))
        await self._announce_pair(str(params["account"]), instance_id, str(params["standby"]))
        return "pair ACTIVE"

    StepRunner.run = run  # type: ignore[method-assign]  # the what-if patches the class for this process


def lower_bound(drivers: EmulatedDrivers, pairs: int) -> dict[str, float]:
    """The emulated vendors' own limit on how fast ``pairs`` pairs can exist (emulated seconds)."""
    world = drivers._world()
    out: dict[str, float] = {}
    for provider in (PRIMARY, STANDBY):
        emu = world.emulators[provider]
        probe = emu.plant(name="bench-boot-probe", ready=False)  # the vendor's configured provisioning + boot
        del emu.state.servers[probe.id]
        out[f"boot_{provider}"] = probe.provision_s + probe.boot_s
        requests = REQUESTS_PER_CREATE * pairs
        out[f"rate_{provider}"] = max(
            (max(0.0, (requests - cap) / (cap / per)) for cap, per in emu.vendor.rate_windows), default=0.0
        )
        out[f"requests_{provider}"] = float(emu.state.count())
        out[f"rate429_{provider}"] = float(emu.state.count(status=429))
    out["bound"] = max(out[f"rate_{p}"] + out[f"boot_{p}"] for p in (PRIMARY, STANDBY))
    return out


async def provision(ops: Operations, engine: Engine, pairs: int, budget: float) -> dict[str, Any]:
    caller = engine.caller()
    args = {"count": pairs, "tier": "standard", "geo": "eu", "primary_provider": PRIMARY, "standby_provider": STANDBY}
    planned = await ops.call(caller, "provision_pairs", args)
    assert planned.plan is not None and planned.plan.requires_confirmation, planned.message
    _, job_id, _ = ops.confirm_plan(caller, planned.plan.id)
    started = time.perf_counter()
    task = asyncio.ensure_future(ops.run_job(job_id))
    done, _ = await asyncio.wait({task}, timeout=budget)
    elapsed = time.perf_counter() - started
    view = ops.job_view(job_id)
    finished = bool(done)
    if not finished:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return {
        "elapsed": elapsed,
        "finished": finished,
        "done": view.done,
        "failed": view.failed,
        "status": view.status,
        "error": view.error,
    }


def seed_active_pairs(engine: Engine, pairs: int) -> list[str]:
    """A fleet of ``pairs`` ACTIVE pairs straight in the store (config pushes touch nodes, not providers)."""
    from engine.store import Account, Instance, Tenant

    with engine.store.session() as s:
        s.add(Tenant(id="default", name="Default"))
        s.flush()
        for k in range(1, pairs + 1):
            acct = f"acct-{k:04d}"
            s.add(Account(id=acct, tenant_id="default"))
            s.flush()
            for role, provider, region in (
                ("primary", PRIMARY, "eu-hetzner-nbg1"),
                ("standby", STANDBY, "eu-vultr-fra"),
            ):
                s.add(
                    Instance(
                        id=f"i-{acct}-{role[0]}",
                        account_id=acct,
                        tenant_id="default",
                        role=role,
                        provider=provider,
                        region=region,
                        tier="standard",
                        state="ACTIVE",
                        monthly_price=5.0,
                        health_score=100,
                    )
                )
    return [f"i-acct-{k:04d}-p" for k in range(1, pairs + 1)]


async def config_push(instances: int) -> dict[str, Any]:
    """Rolling config push to ``instances`` primaries; one node in the 13th batch of 50 turns unhealthy."""
    home = Path(tempfile.mkdtemp(prefix="clawops-push-"))
    engine = Engine.open(home=home, demo=False)
    try:
        targets = seed_active_pairs(engine, instances)
        nodes = SimNodeCommands()
        ops = Operations(engine.store, engine.settings, engine.drivers, nodes)
        batch = 50
        bad = min(12 * batch + batch // 2, len(targets) - 1)  # mid-way through the 13th batch (or the last)
        bad_batch = bad // batch
        nodes.fragile = {targets[bad]}
        started = time.perf_counter()
        outcome = await ops.call(
            engine.caller(),
            "config_push",
            {
                "selector": {"role": "primary"},
                "config": {"log_level": "debug", "gateway_port": 19999},
                "batch_size": batch,
            },
            confirmed=True,
        )
        elapsed = time.perf_counter() - started
    finally:
        engine.close()
    job = outcome.job
    return {
        "targets": len(targets),
        "bad_batch": bad_batch + 1,
        "elapsed": elapsed,
        "on_bad": sum(1 for i in targets if nodes.current_config(i)),
        "touched": len({c[0] for c in nodes.calls if c[1] == "clawops.config_apply"} & set(targets)),
        "status": job.status if job else outcome.status,
        "error": job.error if job else outcome.message,
    }


async def run(pairs: int, scale: float, budget: float) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="clawops-scale-"))
    engine = Engine.open(home=home, demo=False)
    drivers = EmulatedDrivers(engine.store, time_scale=scale)
    nodes = BootAwareNodes(drivers)
    ops = Operations(engine.store, engine.settings, drivers, nodes)
    try:
        prov = await provision(ops, engine, pairs, budget)
        bound = lower_bound(drivers, pairs)
    finally:
        await drivers.aclose()
        engine.close()
    return {"prov": prov, "bound": bound, "push": await config_push(pairs), "boot_waits": nodes.boot_waits}


def limit_in_flight(limit: int) -> None:
    """What-if: at most ``limit`` requests in flight per driver (this process only).

    Without it a job of 1,000 pairs queues ~1,000 requests in httpx's pool of 100 connections, and httpcore
    re-scans that queue on every connection event (quadratic CPU).
    """
    import httpx

    from engine.providers._http import HttpDriver

    send = HttpDriver._send
    gates: dict[tuple[int, str], asyncio.Semaphore] = {}

    async def gated(
        self: HttpDriver,
        operation: str,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Mapping[str, str] | None,
        extra_headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        key = (id(asyncio.get_running_loop()), self.name)
        gate = gates.setdefault(key, asyncio.Semaphore(limit))
        async with gate:
            return await send(self, operation, method, path, params, json, data, extra_headers)

    HttpDriver._send = gated  # type: ignore[method-assign]  # the what-if patches the class for this process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--scale", type=float, default=4.0, help="emulated seconds per wall second")
    parser.add_argument(
        "--concurrency", type=int, default=None, help="override the engine's provisioning job concurrency"
    )
    parser.add_argument(
        "--parallel-pair-creates", action="store_true", help="what-if: create each pair's primary and standby at once"
    )
    parser.add_argument("--max-in-flight", type=int, default=None, help="what-if: cap each driver's requests in flight")
    parser.add_argument("--budget", type=float, default=150.0, help="wall seconds the provisioning job may take")
    args = parser.parse_args()
    if args.concurrency is not None:
        _service.TOOL_CONCURRENCY["provision_pairs"] = args.concurrency  # this process only: a what-if
    if args.parallel_pair_creates:
        parallel_pair_creates()
    if args.max_in_flight:
        limit_in_flight(args.max_in_flight)
    result = asyncio.run(run(args.pairs, args.scale, args.budget))
    prov, bound, push = result["prov"], result["bound"], result["push"]
    bound_wall = bound["bound"] / args.scale
    if prov["finished"]:
        wall = prov["elapsed"]
        measured_wall = f"{wall:.1f} s"
    else:  # projected from the pace so far
        wall = prov["elapsed"] * args.pairs / max(prov["done"], 1)
        measured_wall = f"not done in {prov['elapsed']:.0f} s ({prov['done']}/{args.pairs}); projected {wall:.0f} s"
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        (
            f"provision {args.pairs} pairs: job concurrency / pair creates",
            "-",
            f"{_service.TOOL_CONCURRENCY.get('provision_pairs', _service.JOB_CONCURRENCY)} / "
            f"{'parallel (what-if)' if args.parallel_pair_creates else 'sequential'}"
            + (
                f" / at most {args.max_in_flight} requests in flight per driver (what-if)" if args.max_in_flight else ""
            ),
        ),
        (
            f"provision {args.pairs} pairs: pairs ACTIVE",
            f"{args.pairs}",
            f"{prov['done']}" + (f" ({prov['failed']} failed: {prov['error']})" if prov["failed"] else ""),
        ),
        (f"provision {args.pairs} pairs: wall time (time scale {args.scale:g}x)", "-", measured_wall),
        (
            "provision: lower bound from emulated limits",
            "-",
            f"{bound_wall:.1f} s ({bound['bound']:.0f} s emulated: {PRIMARY} rate {bound[f'rate_{PRIMARY}']:.0f} s "
            f"+ boot {bound[f'boot_{PRIMARY}']:.0f} s, {STANDBY} rate {bound[f'rate_{STANDBY}']:.0f} s "
            f"+ boot {bound[f'boot_{STANDBY}']:.0f} s)",
        ),
        ("provision: wall time / lower bound", "<= 1.2x", f"{wall / bound_wall:.2f}x"),
        (
            "provision: API requests (429s) hetzner / vultr",
            "-",
            f"{bound[f'requests_{PRIMARY}']:.0f} ({bound[f'rate429_{PRIMARY}']:.0f}) / "
            f"{bound[f'requests_{STANDBY}']:.0f} ({bound[f'rate429_{STANDBY}']:.0f})",
        ),
        ("provision: peak memory (ru_maxrss, whole process)", "-", f"{rss_mb:.0f} MB"),
    ]
    if push:
        rows += [
            (
                f"config push to {push['targets']}: instances left on the bad config (bad batch {push['bad_batch']})",
                "0",
                f"{push['on_bad']}",
            ),
            ("config push: instances touched before the halt", "-", f"{push['touched']}"),
            ("config push: job status", "failed", f"{push['status']}"),
            ("config push: wall time incl. rollback", "-", f"{push['elapsed']:.1f} s"),
        ]
    from bench._table import print_table

    print_table(rows)


if __name__ == "__main__":
    main()
