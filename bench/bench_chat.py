"""Chat benchmarks: first paint, a 5,000-message transcript, memory, and turns through the daemon.

Run:  .venv/bin/python bench/bench_chat.py
Prints a table: metric | target | measured.  Not a test: machines here are
shared and noisy, so numbers are reported, never asserted.

* first paint: ``ChatApp`` headless (``run_test``) from construction to its first
  screen, over an embedded DEMO engine (what ``clawops`` does locally);
* transcript: 5,000 messages posted (the transcript prunes to its high-water
  mark, as in a long session), then the time to append one more message and
  to scroll a page, each until the next refresh — target: no frame over 50 ms;
* memory: growth of the process's peak RSS while holding the 5,000-message session;
* API: a turn's round trip through the daemon over HTTP and over the WebSocket
  versus the embedded client, and two operators at once.
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _home() -> Path:
    home = Path(tempfile.mkdtemp(prefix="bench-chat-"))
    for key in [k for k in os.environ if k.startswith("CLAWOPS_")]:
        del os.environ[key]
    os.environ["CLAWOPS_HOME"] = str(home)
    os.environ["CLAWOPS_DEMO_PROVIDERS"] = "sim"
    return home


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def first_paint() -> float:
    from app.chat import ChatApp
    from engine.client import EmbeddedClient

    start = time.perf_counter()
    client = EmbeddedClient.open(channel="tui")
    app = ChatApp(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        elapsed = time.perf_counter() - start
    client.close()
    return elapsed


async def transcript(messages: int = 5000) -> dict[str, float]:
    from app.chat import AgentMessage, ChatApp, UserMessage
    from engine.client import EmbeddedClient

    client = EmbeddedClient.open(channel="tui")
    app = ChatApp(client)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result: dict[str, float] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        start = time.perf_counter()
        for base in range(0, messages, 100):  # posted in batches of 100, as a resumed history would be
            batch: list[Any] = []
            for n in range(base, min(base + 100, messages), 2):
                batch += [UserMessage(f"question {n}"),
                          AgentMessage(f"[CMD] answer {n}: **{n % 17}** instances DEGRADED on vultr.")]
            await app.transcript.post(*batch)
        await pilot.pause()
        result["fill_s"] = time.perf_counter() - start
        appends: list[float] = []
        for n in range(20):
            t0 = time.perf_counter()
            await app.transcript.post(AgentMessage(f"[Forge] Provisioning {n}/20 ACTIVE."))
            await pilot.pause()
            appends.append((time.perf_counter() - t0) * 1000)
        scrolls: list[float] = []
        for n in range(10):
            t0 = time.perf_counter()
            await pilot.press("shift+pageup" if n % 2 == 0 else "shift+pagedown")
            await pilot.pause()
            scrolls.append((time.perf_counter() - t0) * 1000)
        result["append_p50_ms"] = statistics.median(appends)
        result["append_max_ms"] = max(appends)
        result["scroll_p50_ms"] = statistics.median(scrolls)
        result["scroll_max_ms"] = max(scrolls)
    result["rss_growth_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    client.close()
    return result


async def api_turns(turns: int = 20) -> dict[str, float]:
    from engine.api import RemoteClient
    from engine.api._daemon import serve_api
    from engine.client import EmbeddedClient
    from engine.runtime import Engine
    from engine.trust import add_operator

    engine = Engine.open()
    owner = engine.caller("owner", "cli")
    add_operator(engine.store, owner, "bench2", "operator")
    key1 = engine.trust.issue_key(owner, "owner").key
    key2 = engine.trust.issue_key(owner, "bench2").key
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(serve_api(engine, "127.0.0.1", 0, stop=stop, ready=ready.set_result))
    url = await ready
    remote = await asyncio.to_thread(RemoteClient, url, key1)
    other = await asyncio.to_thread(RemoteClient, url, key2)
    embedded = EmbeddedClient(engine, operator="owner", channel="tui")
    out: dict[str, float] = {}

    async def timed(fn: Any) -> list[float]:
        samples = []
        for _ in range(turns):
            t0 = time.perf_counter()
            await fn()
            samples.append((time.perf_counter() - t0) * 1000)
        return samples

    async def via_ws() -> None:
        async for _ in remote.stream("fleet status", session="bench"):
            pass

    for name, fn in (("embedded", lambda: embedded.ask("fleet status", session="bench")),
                     ("http", lambda: remote.ask("fleet status", session="bench")),
                     ("ws", via_ws)):
        samples = await timed(fn)
        out[f"{name}_p50_ms"] = statistics.median(samples)
        out[f"{name}_p95_ms"] = _p(samples, 0.95)
    t0 = time.perf_counter()
    await asyncio.gather(*(c.ask("fleet status", session="pair") for c in (remote, other) for _ in range(turns)))
    out["two_operators_turns_per_s"] = 2 * turns / (time.perf_counter() - t0)
    stop.set()
    await server
    engine.close()
    return out


def main() -> None:
    _home()
    rows: list[tuple[str, str, str]] = []
    paint = asyncio.run(first_paint())
    rows.append(("first paint (embedded DEMO engine, headless)", "< 1.5 s", f"{paint:.2f} s"))
    tr = asyncio.run(transcript())
    rows += [
        ("fill 5,000 messages", "-", f"{tr['fill_s']:.1f} s"),
        ("append one message, p50 / max", "no frame > 50 ms", f"{tr['append_p50_ms']:.1f} / {tr['append_max_ms']:.1f} ms"),
        ("scroll a page, p50 / max", "no frame > 50 ms", f"{tr['scroll_p50_ms']:.1f} / {tr['scroll_max_ms']:.1f} ms"),
        ("peak RSS growth holding the session", "-", f"{tr['rss_growth_mb']:.0f} MB"),
    ]
    api = asyncio.run(api_turns())
    for name in ("embedded", "http", "ws"):
        rows.append((f"turn 'fleet status' via {name}, p50 / p95", "-",
                     f"{api[f'{name}_p50_ms']:.1f} / {api[f'{name}_p95_ms']:.1f} ms"))
    rows.append(("two operators at once (HTTP)", "-", f"{api['two_operators_turns_per_s']:.1f} turns/s"))
    width = max(len(r[0]) for r in rows)
    print(f"{'metric':<{width}} | {'target':<16} | measured")
    for metric, target, measured in rows:
        print(f"{metric:<{width}} | {target:<16} | {measured}")


if __name__ == "__main__":
    main()
