"""Benchmark: clawnode's reconnect after a gateway restart, and archive throughput (issue 20).

Reconnect: a paired clawnode is connected; the gateway stops, stays down (a real OpenClaw gateway needs
≈6.5 s to come back), and starts again on the same port.  Measured: from the moment the gateway accepts
a connect again (a probe client tries every 100 ms) to the node's next hello-ok.  The node's backoff
starts at 0.5 s and stays capped at 2 s for a minute after it lost a session (and follows a starting
gateway's ``retryAfterMs``), so the figure should stay under 3 s however long the gateway was down.
For OpenClaw the time from its port reopening is shown too: for several seconds after that it answers
every connect ``UNAVAILABLE`` (``startup-sidecars``, ``retryAfterMs`` 500), which no client can shorten.

Archive: a 50 MB export (incompressible bytes) read in bounded 4 MiB pieces (``clawops.archive`` with
``archive_id``/``offset``/``length``), checked byte for byte, through the embedded gateway and through a
real OpenClaw gateway (the engine's operator link).

The real gateway comes from npm (``openclaw@2026.9.6``, cached under ~/.cache/clawops-openclaw as in the
tests); without it those rows say why.

    .venv/bin/python bench/bench_node.py [--runs 5] [--down 6.5] [--no-openclaw]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the tests' helpers (tests/node) and bench/_table are imported from the root
    sys.path.insert(0, str(ROOT))

from bench._table import print_table  # noqa: E402
from engine.gateway import DeviceRegistry, NodeGateway, OpenClawOperatorLink, fetch_archive  # noqa: E402
from node.client import NodeClient  # noqa: E402
from node.config import NodeConfig  # noqa: E402
from node.system import SimulatedSystem  # noqa: E402

TOKEN = "bench-node-token"
ARCHIVE_BYTES = 50 * 1024 * 1024
TARGETS = {"reconnect": "≤ 3 s", "archive": "≥ 5 MB/s", "open": "-"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class _Archiving(SimulatedSystem):
    async def archive_chunks(self, chunk_size: int) -> AsyncIterator[bytes]:
        data = random.Random(self.hostname).randbytes(ARCHIVE_BYTES)
        for i in range(0, len(data), chunk_size):
            yield data[i : i + chunk_size]
            await asyncio.sleep(0)


def _client(url: str, token: str, spool: str) -> NodeClient:
    cfg = NodeConfig.from_dict(
        {
            "gateway": url,
            "token": token,
            "hostname": "bench-node",
            "account_id": "acct-001",
            "instance_id": "i-bench",
            "health_interval_s": 30,
            "gateway_probe_url": None,
            "spool_dir": spool,
            "state_path": str(Path(spool) / "state.json"),
        }
    )
    return NodeClient(cfg, system=_Archiving(hostname="bench-node"), settle_s=0)  # production backoff


async def _probe_accepts(url: str, token: str, ident: Any) -> float:
    """The moment the gateway first answers a connect with hello-ok (tries every 100 ms)."""
    from tests.node.clawnode_testkit import RawPeer, signed_connect

    while True:
        try:
            peer = await asyncio.wait_for(RawPeer.open(url), 5)
            res = await peer.request("connect", signed_connect(ident, peer.nonce, peer.ts, {"token": token}))
            await peer.ws.close()
            if res.get("ok"):
                return time.perf_counter()
        except Exception:  # refused, reset, not yet listening: try again
            pass
        await asyncio.sleep(0.1)


def _summary(samples: list[float], note: str = "") -> str:
    if not samples:
        return "no sample"
    return f"median {statistics.median(samples):.2f} s, max {max(samples):.2f} s ({len(samples)} restarts{note})"


async def _archive_mb_s(invoke: Any) -> tuple[float, bool]:
    start = time.perf_counter()
    data, meta = await fetch_archive(invoke, "acct-001")
    elapsed = time.perf_counter() - start
    ok = data == random.Random("bench-node").randbytes(ARCHIVE_BYTES)
    return ARCHIVE_BYTES / 1e6 / elapsed, ok


# --- embedded gateway --------------------------------------------------------------------------------


async def bench_embedded(runs: int, down_s: float) -> dict[str, str]:
    port = _free_port()
    registry = DeviceRegistry()
    spool = tempfile.mkdtemp(prefix="clawnode-bench-")
    gw = NodeGateway("127.0.0.1", port, TOKEN, registry=registry, auto_approve_local=True)
    await gw.start()
    client = _client(gw.url, TOKEN, spool)
    task = asyncio.create_task(client.run())
    samples: list[float] = []
    try:
        await client.wait_connected(30)
        invoke_gw = gw

        async def invoke(p: dict[str, Any]) -> Any:
            return await invoke_gw.invoke(client.device_id, "clawops.archive", p, timeout_s=120)

        rate, identical = await _archive_mb_s(invoke)
        for _ in range(runs):
            await gw.stop()
            await until_false(client.connected.is_set)
            await asyncio.sleep(down_s)
            gw = NodeGateway("127.0.0.1", port, TOKEN, registry=registry, auto_approve_local=True)
            await gw.start()
            opened = time.perf_counter()
            await client.wait_connected(60)
            samples.append(time.perf_counter() - opened)
            invoke_gw = gw
    finally:
        await client.stop()
        await asyncio.wait_for(task, 15)
        await gw.stop()
    return {
        "reconnect": _summary(samples),
        "archive": f"{rate:.1f} MB/s ({'byte-identical' if identical else 'MISMATCH'})",
    }


async def until_false(pred: Any, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while pred():
            await asyncio.sleep(0.01)


# --- real OpenClaw gateway -----------------------------------------------------------------------------


def _watch_port(port: int, stop: threading.Event, opened: list[float]) -> None:
    """Note the moment ``port`` accepts connections again (polled every 5 ms)."""
    while not stop.is_set():
        if _port_open(port):
            opened.append(time.perf_counter())
            return
        time.sleep(0.005)


async def bench_openclaw(runs: int) -> dict[str, str]:
    from node.commands import COMMANDS
    from tests.node.clawnode_openclaw import TOKEN as OC_TOKEN
    from tests.node.clawnode_openclaw import OpenClawUnavailable, running_openclaw

    try:
        ctx = running_openclaw({"gateway": {"nodes": {"commands": {"allow": sorted(COMMANDS)}}}})
        oc = ctx.__enter__()
    except OpenClawUnavailable as exc:
        return {"reconnect": f"not run: {exc}"[:70], "archive": "not run", "open": "not run"}
    spool = tempfile.mkdtemp(prefix="clawnode-bench-")
    client = _client(oc.url + "/", OC_TOKEN, spool)
    link = OpenClawOperatorLink(
        oc.url + "/", OC_TOKEN, identity_path=Path(spool) / "operator.json", poll_interval_s=3600
    )
    task = asyncio.create_task(client.run())
    samples: list[float] = []
    since_open: list[float] = []
    from node.identity import DeviceIdentity

    probe_ident = DeviceIdentity.generate()
    try:
        link.start()
        await client.wait_connected(60)  # loopback: the device is approved silently
        await link.wait_connected(60)
        async with asyncio.timeout(60):  # the command surface still needs the operator's yes
            while True:
                pending = await asyncio.to_thread(oc.cli, "nodes", "pending")
                mine = [p for p in pending or [] if p.get("nodeId") == client.device_id]
                if mine:
                    await asyncio.to_thread(oc.cli, "nodes", "approve", mine[0]["requestId"])
                    break
                await asyncio.sleep(0.5)
        async with asyncio.timeout(60):
            while not (await link.invoke(client.device_id, "clawops.health", {}, timeout_s=20)).ok:
                await asyncio.sleep(0.5)

        async def invoke(p: dict[str, Any]) -> Any:
            return await link.invoke(client.device_id, "clawops.archive", p, timeout_s=120)

        rate, identical = await _archive_mb_s(invoke)
        for _ in range(runs):
            connects = client.stats.connects
            await asyncio.to_thread(oc.stop)
            opened: list[float] = []
            stop = threading.Event()
            watcher = threading.Thread(target=_watch_port, args=(oc.port, stop, opened), daemon=True)
            watcher.start()
            starting = asyncio.create_task(asyncio.to_thread(oc.start))
            async with asyncio.timeout(120):
                while not opened:
                    await asyncio.sleep(0.005)
                accepts = await _probe_accepts(oc.url + "/", OC_TOKEN, probe_ident)
                while client.stats.connects == connects or not client.connected.is_set():
                    await asyncio.sleep(0.005)
            connected = time.perf_counter()
            await starting
            stop.set()
            watcher.join(1)
            samples.append(max(0.0, connected - accepts))
            since_open.append(connected - opened[0])
    finally:
        await client.stop()
        await asyncio.wait_for(task, 15)
        await link.stop()
        ctx.__exit__(None, None, None)
    return {
        "reconnect": _summary(samples, "; 0 = in with the first accepted connect, 0.1 s probe"),
        "open": _summary(since_open),
        "archive": f"{rate:.1f} MB/s ({'byte-identical' if identical else 'MISMATCH'})",
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5, help="gateway restarts per peer")
    p.add_argument("--down", type=float, default=6.5, help="how long the embedded gateway stays down (s)")
    p.add_argument("--no-openclaw", dest="openclaw", action="store_false")
    args = p.parse_args()
    logging.basicConfig(level=logging.ERROR)
    embedded = asyncio.run(bench_embedded(args.runs, args.down))
    real = (
        asyncio.run(bench_openclaw(args.runs))
        if args.openclaw
        else {"reconnect": "not run", "archive": "not run", "open": "not run"}
    )
    print(
        f"\nclawnode reconnect (gateway accepts again -> node's hello-ok) and a {ARCHIVE_BYTES // 2**20} MiB "
        "archive read in 4 MiB pieces\n"
    )
    print_table(
        [
            ("reconnect after restart, embedded gateway", TARGETS["reconnect"], embedded["reconnect"]),
            ("reconnect after restart, OpenClaw 2026.9.6", TARGETS["reconnect"], real["reconnect"]),
            ("  (OpenClaw: from its port reopening, incl. its startup)", TARGETS["open"], real["open"]),
            ("archive throughput, embedded gateway", TARGETS["archive"], embedded["archive"]),
            ("archive throughput, OpenClaw 2026.9.6", TARGETS["archive"], real["archive"]),
        ]
    )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
