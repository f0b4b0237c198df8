"""Benchmark: N simulated clawnodes (default 10,000) against one embedded node gateway, on loopback.

The gateway runs in this process (as in the engine); the nodes run in separate load-generator
processes (this same file with ``--loadgen``), each node a real ``NodeClient`` with a
``SimulatedSystem``: real handshakes (Ed25519 signatures), real pairing, health reports every
``--interval`` seconds.

Measured: handshake rate, report ingest latency p50/p99 (the node stamps ``ts`` when it collects;
the gateway's health callback takes the difference — one machine, one clock), the node-measured round
trip of a report, gateway RSS and CPU in the steady phase, event-loop lag (split into our own CPU
and waiting for a core, since the load generators share the machine), and one
``node.invoke clawops.health`` fanned out to every node.

``--openclaw`` runs the same load against a real OpenClaw gateway too (installed as in the tests,
cached under ~/.cache/clawops-openclaw) and prints both side by side with the ratio.  OpenClaw
auto-approves loopback devices but withholds the node's command surface until an operator approves
it, so there it answers health reports with UNAVAILABLE (the round trip is still measured) and the
fan-out needs an operator client, which this bench does not have (n/a).

    .venv/bin/python bench/bench_gateway.py                       # 10,000 nodes, reports every 30 s
    .venv/bin/python bench/bench_gateway.py --nodes 2000 --openclaw
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOKEN = "bench-shared-token"
Row = tuple[str, str, str, str]  # metric, target, embedded, openclaw


# --- load generator (child process) -------------------------------------------------------------------


async def _loadgen(url: str, token: str, nodes: int, offset: int, interval: float, batch: int, freeze: bool) -> None:
    from node.config import NodeConfig
    from node.sim import SimulatedFleet
    from node.system import SimulatedSystem

    fleet = SimulatedFleet(backoff_initial_s=1.0, backoff_max_s=30.0, settle_s=0)

    async def report_connected() -> None:
        while True:
            print(f"connected {sum(n.client.connected.is_set() for n in fleet.nodes.values())}", flush=True)
            await asyncio.sleep(0.5)

    reporter = asyncio.create_task(report_connected())
    for i in range(offset, offset + nodes):
        cfg = NodeConfig.from_dict(
            {
                "gateway": url,
                "token": token,
                "hostname": f"bench-{i:05d}",
                "account_id": f"acct-{i:05d}",
                "instance_id": f"inst-{i:05d}",
                "provider": "sim",
                "region": "eu-sim-bench",
                "tier": "nano",
                "role": "primary",
                "health_interval_s": interval,
                "gateway_probe_url": None,
            }
        )
        fleet.boot(cfg, system=SimulatedSystem(hostname=cfg.hostname))
        if (i - offset + 1) % batch == 0:
            await asyncio.sleep(0.05)  # a ramp, as a real fleet reconnecting after an engine restart

    async def freeze_when_connected() -> None:
        while not all(n.client.connected.is_set() for n in fleet.nodes.values()):
            await asyncio.sleep(0.5)
        gc.freeze()  # long-lived node objects out of the collector's way (see --no-gc-freeze)

    freezer = asyncio.create_task(freeze_when_connected()) if freeze else None
    # Run until the parent closes stdin; "reset" starts a measuring window, "rtt" reports it.
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if not line:
            break
        if line == "reset":
            for n in fleet.nodes.values():
                n.client.stats.health_rtt_ms.clear()
            continue
        rtts = [r for n in fleet.nodes.values() for r in n.client.stats.health_rtt_ms]
        print("rtts " + json.dumps([round(r, 3) for r in rtts]), flush=True)
    reporter.cancel()
    if freezer is not None:
        freezer.cancel()
    await fleet.shutdown_all()


@dataclass
class _Children:
    procs: list[subprocess.Popen[str]]
    connected: list[int]
    rtts: list[list[float] | None]
    threads: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def start(cls, url: str, token: str, args: argparse.Namespace) -> _Children:
        n = max(1, args.loadgen_procs)
        share = [args.nodes // n + (1 if i < args.nodes % n else 0) for i in range(n)]
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--loadgen",
                    url,
                    "--token",
                    token,
                    "--nodes",
                    str(k),
                    "--offset",
                    str(sum(share[:i])),
                    "--interval",
                    str(args.interval),
                    "--batch",
                    str(max(1, args.batch // n)),
                    *([] if args.gc_freeze else ["--no-gc-freeze"]),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
            for i, k in enumerate(share)
        ]
        self = cls(procs, [0] * n, [None] * n)
        for i, proc in enumerate(procs):
            t = threading.Thread(target=self._read, args=(i, proc), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def _read(self, i: int, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            kind, _, rest = line.partition(" ")
            if kind == "connected":
                self.connected[i] = int(rest)
            elif kind == "rtts":
                self.rtts[i] = json.loads(rest)

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def tell(self, command: str) -> None:
        for p in self.procs:
            assert p.stdin is not None
            p.stdin.write(command + "\n")
            p.stdin.flush()

    async def collect_rtts(self) -> list[float]:
        self.rtts = [None] * len(self.procs)
        self.tell("rtt")
        with contextlib.suppress(TimeoutError):  # an overloaded generator answers late: use what came
            async with asyncio.timeout(60):
                while any(r is None for r in self.rtts):
                    await asyncio.sleep(0.1)
        return [x for r in self.rtts for x in (r or [])]

    def stop(self) -> None:
        for p in self.procs:
            with contextlib.suppress(Exception):
                assert p.stdin is not None
                p.stdin.close()
        for p in self.procs:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()


# --- measurements --------------------------------------------------------------------------------------


def _pids_in_group(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path("/proc", entry, "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid:
                    pids.append(int(entry))
    return pids


def _rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path("/proc", str(pid), "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def _cpu_s(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path("/proc", str(pid), "stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


@dataclass
class Result:
    values: dict[str, str] = field(default_factory=dict)
    numbers: dict[str, float] = field(default_factory=dict)

    def put(self, metric: str, text: str, number: float | None = None) -> None:
        self.values[metric] = text
        if number is not None:
            self.numbers[metric] = number


async def _drive(
    url: str,
    token: str,
    args: argparse.Namespace,
    pids: Callable[[], list[int]],
    gateway: Any | None,
    latencies: list[float],
    measuring: list[bool],
) -> Result:
    """Connect the fleet to ``url``, hold a steady phase, fan out (embedded only); measure what we can."""
    res = Result()
    children = _Children.start(url, token, args)
    try:
        t0 = time.perf_counter()
        deadline = t0 + args.connect_timeout
        while sum(children.connected) < args.nodes and time.perf_counter() < deadline:
            if not children.alive():
                raise RuntimeError("a load generator died")
            await asyncio.sleep(0.1)
        connected = sum(children.connected)
        t_connect = time.perf_counter() - t0
        res.put("nodes connected", f"{connected:,}", connected)
        res.put("handshake rate", f"{connected / t_connect:,.0f} /s ({t_connect:.1f} s)", connected / t_connect)
        if gateway is not None and args.gc_freeze:
            gc.freeze()  # what the engine should do once its fleet is connected: no gen-2 scans of 10k conns

        lags: list[float] = []
        busy: list[float] = []

        async def lag_probe() -> None:
            while True:
                t, c = time.perf_counter(), time.process_time()
                await asyncio.sleep(0.01)
                lags.append((time.perf_counter() - t - 0.01) * 1000)
                busy.append((time.process_time() - c) * 1000)

        await asyncio.sleep(2)
        probe = asyncio.create_task(lag_probe()) if gateway is not None else None
        measuring[0] = True
        children.tell("reset")
        cpu0, wall0 = _cpu_s(pids()), time.perf_counter()
        reports0 = gateway.stats.health_reports if gateway is not None else 0
        await asyncio.sleep(args.steady)
        cpu = (_cpu_s(pids()) - cpu0) / (time.perf_counter() - wall0) * 100
        measuring[0] = False
        if probe is not None:
            probe.cancel()
        rtts = await children.collect_rtts()
        res.put("report round trip p50 (node)", f"{_pct(rtts, 0.5):.1f} ms", _pct(rtts, 0.5))
        res.put("report round trip p99 (node)", f"{_pct(rtts, 0.99):.1f} ms", _pct(rtts, 0.99))
        if gateway is not None:
            n_reports = gateway.stats.health_reports - reports0
            res.put("health reports ingested", f"{n_reports:,} in {args.steady:.0f} s", n_reports)
            res.put("report ingest p50", f"{_pct(latencies, 0.50):.1f} ms", _pct(latencies, 0.5))
            res.put("report ingest p99", f"{_pct(latencies, 0.99):.1f} ms", _pct(latencies, 0.99))
            res.put("event-loop lag p99 / max", f"{_pct(lags, 0.99):.1f} / {max(lags):.1f} ms")
            res.put("  of the max, on our CPU", f"{max(busy):.1f} ms (rest: waiting for a core)")
        res.put("gateway CPU (steady)", f"{cpu:.1f} % of a core", cpu)

        if gateway is not None:
            gens = [p.pid for p in children.procs]
            cpu0, gen0, t1 = _cpu_s(pids()), _cpu_s(gens), time.perf_counter()
            results = await gateway.fan_out("clawops.health", timeout_s=60)
            t_fan = time.perf_counter() - t1
            fan_cpu_s, gen_cpu_s = _cpu_s(pids()) - cpu0, _cpu_s(gens) - gen0
            ok = sum(1 for r in results.values() if r.ok)
            res.put("fan-out invoke to all", f"{t_fan:.2f} s ({ok:,}/{len(results):,} ok)", t_fan)
            res.put(
                "gateway CPU during fan-out",
                f"{fan_cpu_s / t_fan * 100:.0f} % of a core ({fan_cpu_s * 1e6 / max(len(results), 1):.0f} µs per node)",
            )
            # Where the rest of the wall time goes: the simulated nodes answering (on the same cores).
            res.put(
                "  load generators' CPU then",
                f"{gen_cpu_s:.2f} s ({gen_cpu_s * 1e6 / max(len(results), 1):.0f} "
                f"µs per node; {os.cpu_count()} cores shared by all)",
            )
        rss = _rss_mib(pids())
        res.put("gateway RSS", f"{rss:,.0f} MiB", rss)
        if gateway is not None:
            res.put("handshake refusals", f"{sum(gateway.stats.refusals.values())}")
    finally:
        children.stop()
    return res


async def _bench_embedded(args: argparse.Namespace) -> Result:
    from engine.gateway import NodeGateway, NodeHealthReport, PairingRequest

    latencies: list[float] = []
    measuring = [False]

    async def on_report(report: NodeHealthReport) -> None:
        if measuring[0]:
            latencies.append(time.time() * 1000 - report.ts_ms)

    async def approve(_req: PairingRequest) -> bool:
        return True

    gw = NodeGateway("127.0.0.1", 0, TOKEN, on_health_report=on_report, approve_pairing=approve)
    await gw.start()
    try:
        return await _drive(gw.url, TOKEN, args, lambda: [os.getpid()], gw, latencies, measuring)
    finally:
        await gw.stop()


@contextlib.contextmanager
def _openclaw() -> Iterator[Any]:
    from node.commands import COMMANDS
    from tests.node.clawnode_openclaw import TOKEN as OC_TOKEN  # the tests' installer: one recipe, one cache
    from tests.node.clawnode_openclaw import running_openclaw

    with running_openclaw({"gateway": {"nodes": {"commands": {"allow": sorted(COMMANDS)}}}}) as oc:
        yield oc, OC_TOKEN


async def _bench_openclaw(args: argparse.Namespace, oc: Any, token: str) -> Result:
    return await _drive(oc.url + "/", token, args, lambda: _pids_in_group(oc.pid), None, [], [False])


TARGETS = {
    "nodes connected": "all",
    "report ingest p99": "< 100 ms",
    "fan-out invoke to all": "< 5 s",
    "gateway RSS": "< 1.5 GB",
    "handshake refusals": "0",
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=10_000)
    p.add_argument("--interval", type=float, default=30.0, help="health report interval per node (s)")
    p.add_argument("--steady", type=float, default=35.0, help="length of the steady measuring phase (s)")
    p.add_argument("--batch", type=int, default=250, help="load generator ramp: nodes started per 50 ms")
    p.add_argument("--connect-timeout", type=float, default=300.0)
    p.add_argument("--loadgen-procs", type=int, default=2, help="load generator processes (nodes split evenly)")
    p.add_argument(
        "--openclaw",
        action="store_true",
        help="also compare with a real OpenClaw gateway, side by side at --openclaw-nodes",
    )
    p.add_argument("--openclaw-nodes", type=int, default=300)
    p.add_argument(
        "--no-gc-freeze",
        dest="gc_freeze",
        action="store_false",
        help="leave Python's cyclic GC scanning all connection objects (shows its pauses)",
    )
    p.add_argument("--loadgen", metavar="URL", help=argparse.SUPPRESS)
    p.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--token", default=TOKEN, help=argparse.SUPPRESS)
    args = p.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    logging.basicConfig(level=logging.ERROR)
    if args.loadgen:
        asyncio.run(
            _loadgen(args.loadgen, args.token, args.nodes, args.offset, args.interval, args.batch, args.gc_freeze)
        )
        return
    if args.openclaw:
        # OpenClaw pairs a few devices per second here, so the side-by-side runs at a smaller N; it runs
        # first so the big run's memory does not inflate our RSS figure.
        small = argparse.Namespace(**{**vars(args), "nodes": args.openclaw_nodes})
        ours = asyncio.run(_bench_embedded(small))
        try:
            with _openclaw() as (oc, oc_token):
                peer = asyncio.run(_bench_openclaw(small, oc, oc_token))
        except Exception as exc:  # report why, keep our figures
            peer = Result({"nodes connected": f"not run: {exc}"[:60]})
        _table(
            f"side by side at {small.nodes:,} nodes: embedded gateway vs OpenClaw 2026.9.6 "
            "(ratio = embedded / OpenClaw; OpenClaw answers reports UNAVAILABLE until an operator "
            "approves the node surface)",
            ours,
            peer,
            targets=False,
        )
    embedded = asyncio.run(_bench_embedded(args))
    _table(
        f"node gateway bench: {args.nodes:,} simulated nodes in {args.loadgen_procs} load-generator "
        f"process(es), reports every {args.interval:g} s, loopback, {os.cpu_count()} CPUs",
        embedded,
        None,
        targets=True,
    )


def _table(title: str, ours: Result, peer: Result | None, *, targets: bool) -> None:
    metrics = list(ours.values)
    width = max(len(m) for m in metrics)
    print(f"\n{title}\n")
    head = f"{'metric':<{width}} | {'target':<9} | {'measured (embedded)':<34}"
    if peer is not None:
        head += f" | {'OpenClaw 2026.9.6':<24} | ratio"
    print(head)
    print("-" * len(head))
    for m in metrics:
        target = TARGETS.get(m, "-") if targets else "-"
        line = f"{m:<{width}} | {target:<9} | {ours.values[m]:<34}"
        if peer is not None:
            a, b = ours.numbers.get(m), peer.numbers.get(m)
            ratio = f"{a / b:.2f}x" if a is not None and b else "-"
            line += f" | {peer.values.get(m, 'n/a'):<24} | {ratio}"
        print(line)


if __name__ == "__main__":
    main()
