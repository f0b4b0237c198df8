"""Benchmark: N simulated clawnodes (default 10,000) against one embedded node gateway, on loopback.

The gateway runs in this process (as in the engine); the nodes run in a separate load-generator
process (this same file with ``--loadgen``), each a real ``NodeClient`` with a ``SimulatedSystem``:
real handshakes (Ed25519 signatures), real pairing, health reports every ``--interval`` seconds.

Measured: handshake rate, report ingest latency p50/p99 (node stamps ``ts`` when it collects; the
gateway's health callback takes the difference — both on one machine, one clock), gateway RSS and
CPU during the steady phase, and one ``node.invoke clawops.health`` fanned out to every node.

    .venv/bin/python bench/bench_gateway.py                     # 10,000 nodes, 30 s reports
    .venv/bin/python bench/bench_gateway.py --nodes 1000 --steady 15
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOKEN = "bench-shared-token"


# --- load generator (child process) -------------------------------------------------------------------


async def _loadgen(url: str, nodes: int, offset: int, interval: float, batch: int, freeze: bool) -> None:
    from node.config import NodeConfig
    from node.sim import SimulatedFleet
    from node.system import SimulatedSystem

    fleet = SimulatedFleet(backoff_initial_s=1.0, backoff_max_s=30.0, settle_s=0)
    for i in range(offset, offset + nodes):
        cfg = NodeConfig.from_dict({
            "gateway": url, "token": TOKEN, "hostname": f"bench-{i:05d}", "account_id": f"acct-{i:05d}",
            "instance_id": f"inst-{i:05d}", "provider": "sim", "region": "eu-sim-bench", "tier": "nano",
            "role": "primary", "health_interval_s": interval, "gateway_probe_url": None,
        })
        fleet.boot(cfg, system=SimulatedSystem(hostname=cfg.hostname))
        if (i - offset + 1) % batch == 0:
            await asyncio.sleep(0.05)  # a ramp, as a real fleet reconnecting after an engine restart
    print(f"booted {nodes}", flush=True)
    while not all(n.client.connected.is_set() for n in fleet.nodes.values()):
        await asyncio.sleep(0.5)
    if freeze:
        gc.freeze()  # long-lived node objects out of the collector's way (see --no-gc-freeze)
    # Run until the parent closes our stdin.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await fleet.shutdown_all()


# --- gateway side (this process) -----------------------------------------------------------------------


def _rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB."""
    cur = peak = 0.0
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return cur, peak


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def _bench(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    from engine.gateway import NodeGateway, NodeHealthReport, PairingRequest

    latencies: list[float] = []
    measuring = False

    async def on_report(report: NodeHealthReport) -> None:
        if measuring:
            latencies.append(time.time() * 1000 - report.ts_ms)

    async def approve(_req: PairingRequest) -> bool:
        return True

    gw = NodeGateway("127.0.0.1", 0, TOKEN, on_health_report=on_report, approve_pairing=approve)
    await gw.start()
    procs = max(1, args.loadgen_procs)
    share = [args.nodes // procs + (1 if i < args.nodes % procs else 0) for i in range(procs)]
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--loadgen", gw.url, "--nodes", str(n), "--offset", str(sum(share[:i])),
             "--interval", str(args.interval), "--batch", str(max(1, args.batch // procs)),
             *([] if args.gc_freeze else ["--no-gc-freeze"])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )
        for i, n in enumerate(share)
    ]
    rows: list[tuple[str, str, str]] = []
    try:
        t0 = time.perf_counter()
        deadline = t0 + args.connect_timeout
        while len(gw.connected_nodes()) < args.nodes and time.perf_counter() < deadline:
            if any(c.poll() is not None for c in children):
                raise RuntimeError("a load generator died")
            await asyncio.sleep(0.1)
        connected = len(gw.connected_nodes())
        t_connect = time.perf_counter() - t0
        rows.append(("nodes connected", f"{args.nodes:,}", f"{connected:,}"))
        rows.append(("handshake rate", "-", f"{connected / t_connect:,.0f} /s ({t_connect:.1f} s total)"))
        refusals = sum(gw.stats.refusals.values())
        if args.gc_freeze:
            gc.freeze()  # what the engine should do once its fleet is connected: 10k conns, no gen-2 pauses
        lags: list[float] = []
        busy: list[float] = []  # the part of each lag this process spent on CPU (vs. waiting for a core)

        async def lag_probe() -> None:
            while True:
                t, c = time.perf_counter(), time.process_time()
                await asyncio.sleep(0.01)
                lags.append((time.perf_counter() - t - 0.01) * 1000)
                busy.append((time.process_time() - c) * 1000)

        probe = asyncio.create_task(lag_probe())

        # Steady phase: every node reports every `interval` seconds.
        await asyncio.sleep(2)
        measuring = True
        cpu0, wall0 = os.times(), time.perf_counter()
        reports0 = gw.stats.health_reports
        await asyncio.sleep(args.steady)
        cpu1, wall1 = os.times(), time.perf_counter()
        measuring = False
        cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / (wall1 - wall0) * 100
        n_reports = gw.stats.health_reports - reports0
        rows.append(("health reports ingested", f"≈{args.nodes * args.steady / args.interval:,.0f}",
                     f"{n_reports:,} in {args.steady:.0f} s"))
        rows.append(("report ingest p50", "-", f"{_pct(latencies, 0.50):.1f} ms"))
        rows.append(("report ingest p99", "< 100 ms", f"{_pct(latencies, 0.99):.1f} ms"))
        rows.append(("gateway CPU (steady)", "-", f"{cpu:.1f} % of one core"))
        probe.cancel()
        rows.append(("gateway event-loop lag p99/max", "-", f"{_pct(lags, 0.99):.1f} / {max(lags):.1f} ms"))
        rows.append(("  of which on our CPU, max", "-", f"{max(busy):.1f} ms (rest: waiting for a core)"))

        cpu0, t1 = os.times(), time.perf_counter()
        results = await gw.fan_out("clawops.health", timeout_s=60)
        cpu1, t_fan = os.times(), time.perf_counter() - t1
        fan_cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / t_fan * 100
        ok = sum(1 for r in results.values() if r.ok)
        rows.append(("fan-out invoke to all", "< 5 s", f"{t_fan:.2f} s ({ok:,}/{len(results):,} ok)"))
        rows.append(("gateway CPU during fan-out", "-", f"{fan_cpu:.0f} % of one core"))
        cur, peak = _rss_mb()
        rows.append(("gateway RSS", "< 1.5 GB", f"{cur:,.0f} MiB (peak {peak:,.0f} MiB)"))
        rows.append(("handshake refusals", "0", f"{refusals}"))
    finally:
        for child in children:
            with contextlib.suppress(Exception):
                assert child.stdin is not None
                child.stdin.close()
        for child in children:
            try:
                child.wait(60)
            except subprocess.TimeoutExpired:
                child.kill()
        await gw.stop()
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=10_000)
    p.add_argument("--interval", type=float, default=30.0, help="health report interval per node (s)")
    p.add_argument("--steady", type=float, default=35.0, help="length of the steady measuring phase (s)")
    p.add_argument("--batch", type=int, default=250, help="load generator ramp: nodes started per 50 ms")
    p.add_argument("--connect-timeout", type=float, default=300.0)
    p.add_argument("--loadgen-procs", type=int, default=2, help="load generator processes (nodes split evenly)")
    p.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--no-gc-freeze", dest="gc_freeze", action="store_false",
                   help="leave Python's cyclic GC scanning all connection objects (shows its pauses)")
    p.add_argument("--loadgen", metavar="URL", help=argparse.SUPPRESS)
    args = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.loadgen:
        logging.basicConfig(level=logging.ERROR)
        asyncio.run(_loadgen(args.loadgen, args.nodes, args.offset, args.interval, args.batch, args.gc_freeze))
        return
    logging.basicConfig(level=logging.ERROR)
    rows = asyncio.run(_bench(args))
    width = max(len(r[0]) for r in rows)
    print(f"\nnode gateway bench: {args.nodes:,} simulated nodes in {args.loadgen_procs} load-generator "
          f"process(es), reports every {args.interval:g} s, loopback, {os.cpu_count()} CPUs\n")
    print(f"{'metric':<{width}} | {'target':<10} | measured")
    print(f"{'-' * width}-|-{'-' * 10}-|-{'-' * 30}")
    for metric, target, measured in rows:
        print(f"{metric:<{width}} | {target:<10} | {measured}")


if __name__ == "__main__":
    main()
