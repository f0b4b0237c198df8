"""Chat benchmarks: first paint, a 5,000-message transcript, memory, and turns through the daemon.

Run:  .venv/bin/python bench/bench_chat.py
Prints a table: metric | target | measured.  Not a test: machines here are
shared and noisy, so numbers are reported, never asserted.

What is timed is what the operator would see, not the test harness: a hook
on the screen's frame and paint (``FrameClock``) gives the time from an action
to the end of the first paint that shows its result, and the length of every
frame; a 1 ms ticker (``StallMonitor``) gives the longest time the event loop
was busy (a frame, a mount, a garbage collection).  ``Pilot.pause`` is avoided
on purpose: it waits on every widget's message queue, so it grows with the
transcript and measured the harness more than the chat.

* first paint: opening the embedded DEMO engine and starting ``ChatApp``
  headless (``run_test``) until its first paint;
* transcript: a session of 5,000 messages posted one by one (questions,
  Markdown replies, notes), with the transcript pruning as it does live; over
  the last 200: each append until painted on screen; then mouse-wheel steps and
  animated page steps until painted, and bringing back hidden history — target:
  no frame over 50 ms (p50 / p99 / max);
* memory: resident set growth for the session, messages mounted vs archived,
  and objects the garbage collector still walks (the second session runs in
  the same process and reuses memory the first returned to the allocator, so
  its RSS growth reads near 0: compare the first row);
* run twice: with ``ChatApp``'s own pruning marks, and with ``Transcript``'s defaults;
* frames and full garbage collections are also given in CPU time of the
  thread (``time.thread_time``): on a shared machine wall time includes
  waiting for a core, and the load average is printed first for that reason;
* API: a turn's round trip through the daemon over HTTP and over the WebSocket
  versus the embedded client, and two operators at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FRAME_TARGET = "no frame > 50 ms"
SIZE = (120, 40)


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


class FrameClock:
    """Times every frame the screen runs and tells a waiting benchmark when something is on screen.

    A frame is ``Screen._on_timer_update``: the layout (if one is due) and the
    paint of what changed.  The paint still runs headless (Textual computes the
    update; only the write to a terminal is skipped).  Hooked on the class,
    before the app starts, because the screen's update timer binds the method
    when it is created.  ``wait_for(predicate)`` resolves at the end of the
    first paint after which ``predicate()`` holds: what the operator would see.
    """

    def __init__(self) -> None:
        self.frames_ms: list[float] = []
        self.frames_cpu_ms: list[float] = []
        self.paints = 0
        self._waiting: tuple[Callable[[], bool], asyncio.Future[float]] | None = None
        self._saved: tuple[Any, Any] | None = None

    def __enter__(self) -> FrameClock:
        from textual.screen import Screen

        on_timer, refresh = Screen._on_timer_update, Screen._compositor_refresh
        clock = self

        def timed_frame(screen: Any) -> None:
            start, cpu = time.perf_counter(), time.thread_time()
            on_timer(screen)
            clock.frames_ms.append((time.perf_counter() - start) * 1000)
            clock.frames_cpu_ms.append((time.thread_time() - cpu) * 1000)

        def noted_paint(screen: Any) -> None:
            refresh(screen)
            clock.paints += 1
            if clock._waiting is not None:
                predicate, future = clock._waiting
                if not future.done() and predicate():
                    future.set_result(time.perf_counter())

        self._saved = (on_timer, refresh)
        # Wrapped on the class for the benchmark's duration (textual's generic self-typed methods: no match).
        Screen._on_timer_update = timed_frame  # type: ignore[method-assign, assignment]
        Screen._compositor_refresh = noted_paint  # type: ignore[method-assign, assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        from textual.screen import Screen

        assert self._saved is not None
        Screen._on_timer_update, Screen._compositor_refresh = self._saved  # type: ignore[method-assign]  # restored

    def arm(self, predicate: Callable[[], bool]) -> asyncio.Future[float]:
        """A future for the ``perf_counter`` time at which a paint ends with ``predicate()`` true.

        Armed *before* the action it waits on, so no paint can slip by unseen.
        """
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting = (predicate, future)
        return future


class StallMonitor:
    """The longest stretches the event loop was busy, i.e. could not have answered a key or painted.

    A task sleeps 1 ms at a time; whatever its wake-up is late by, the loop was
    blocked (a frame, a mount, a garbage collection...).  This catches long work
    that a frame timer alone would miss.
    """

    def __init__(self) -> None:
        self.stalls_ms: list[float] = []
        self.recording = False
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            late = (time.perf_counter() - start) * 1000 - 1.0
            if self.recording:
                self.stalls_ms.append(max(0.0, late))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class GcWatch:
    """Full (generation 2) garbage collections while recording: how many, and how long each took.

    The long frames of a long session were these, so the benchmark names them.
    """

    def __init__(self) -> None:
        self.full_ms: list[float] = []
        self.full_cpu_ms: list[float] = []
        self.recording = False
        self._start = self._cpu = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._start, self._cpu = time.perf_counter(), time.thread_time()
        elif self.recording:
            self.full_ms.append((time.perf_counter() - self._start) * 1000)
            self.full_cpu_ms.append((time.thread_time() - self._cpu) * 1000)

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


def _sample_message(n: int) -> Any:
    """The message mix of a working session: questions, Markdown replies from the team, the odd note."""
    from app.widgets import AgentMessage, ErrorNote, SystemNote, UserMessage

    if n % 50 == 49:
        return ErrorNote("The fleet store is not reachable.", "Nothing was changed. Try again, or /status.")
    if n % 25 == 24:
        return SystemNote(f"/jobs — job-{n:05d} restart: succeeded 12/12 done")
    if n % 2 == 0:
        return UserMessage(f"show acct-{n % 120:03d} and restart it if it is degraded")
    agent = ("CMD", "Guardian", "Forge", "Ledger")[n % 4 // 1 % 4]
    return AgentMessage(
        f"[{agent}] acct-{n % 120:03d}: **{n % 17}** instances DEGRADED on vultr.\n"
        f"- i-acct-{n % 120:03d}-p gateway restarted 2x in 10 min\n- i-acct-{n % 120:03d}-s ACTIVE\n"
        "Next: `restart i-acct-001-p` (needs your go)."
    )


def _rss_mb() -> float:
    """Current resident set size (not the peak), from /proc; 0 where there is no /proc."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * resource.getpagesize() / 2**20


def _stats(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} / {_p(values, 0.99):.1f} / {max(values):.1f} ms"


async def first_paint() -> float:
    """Seconds from opening the engine to the chat's first paint."""
    from app.chat import ChatApp
    from engine.client import EmbeddedClient

    with FrameClock() as clock:
        start = time.perf_counter()
        painted = clock.arm(lambda: True)
        client = EmbeddedClient.open(channel="tui")
        app = ChatApp(client)
        async with app.run_test(size=SIZE):
            at = await asyncio.wait_for(painted, 30)
        client.close()
    return at - start


async def transcript(messages: int = 5000, measured: int = 200, marks: tuple[int, int] | None = None) -> dict[str, Any]:
    """One long session; ``marks`` = (high_water, low_water), or ``None`` for ``ChatApp``'s defaults."""
    from app.chat import ChatApp
    from engine.client import EmbeddedClient

    gc.collect()
    rss_before = _rss_mb()
    client = EmbeddedClient.open(channel="tui")
    app = ChatApp(client) if marks is None else ChatApp(client, high_water=marks[0], low_water=marks[1])
    out: dict[str, Any] = {}
    monitor = StallMonitor()
    with FrameClock() as clock, GcWatch() as gcw:
        async with app.run_test(size=SIZE):
            view = app.transcript
            out["marks"] = (view.high_water, view.low_water)
            monitor.start()

            def on_screen(widget: Any) -> bool:
                return bool(widget.is_mounted and widget.region.overlaps(view.region))

            def scrolled_to(y: float) -> bool:
                return abs(view.scroll_y - y) < 0.5

            def moved_from(y: float) -> bool:
                return view.scroll_y != y

            start = time.perf_counter()
            for n in range(messages - measured):
                await view.post(_sample_message(n))
                await asyncio.sleep(0)  # frames run between messages, as they would live
            out["fill_s"] = time.perf_counter() - start

            # Appends: one at a time, each until it is painted at the bottom of the view.
            await asyncio.sleep(0.2)
            clock.frames_ms.clear()
            clock.frames_cpu_ms.clear()
            monitor.recording = gcw.recording = True
            appends: list[float] = []
            for n in range(messages - measured, messages):
                widget = _sample_message(n)
                painted = clock.arm(partial(on_screen, widget))
                t0 = time.perf_counter()
                await view.post(widget)
                appends.append((await asyncio.wait_for(painted, 10) - t0) * 1000)
                await asyncio.sleep(0.02)  # a live session has seconds between messages; a little idle suffices
            monitor.recording = gcw.recording = False
            out["append"], out["append_frames"], out["append_stalls"] = (
                appends,
                clock.frames_ms[:],
                monitor.stalls_ms[:],
            )
            out["append_full_gc"], out["append_full_gc_cpu"] = gcw.full_ms[:], gcw.full_cpu_ms[:]
            out["append_frames_cpu"] = clock.frames_cpu_ms[:]
            out["follows"] = view.following and view.scroll_y == view.max_scroll_y

            # Scrolling: wheel notches (no animation), then animated page steps, each until painted.
            await asyncio.sleep(0.2)
            clock.frames_ms.clear()
            clock.frames_cpu_ms.clear()
            monitor.stalls_ms.clear()
            monitor.recording = True
            wheel: list[float] = []
            for _ in range(40):
                if view.scroll_y <= 0:  # a short transcript: nothing further up to scroll to
                    break
                target = max(0.0, view.scroll_y - app.scroll_sensitivity_y)
                painted = clock.arm(partial(scrolled_to, target))
                t0 = time.perf_counter()
                view.scroll_relative(y=-app.scroll_sensitivity_y, animate=False)
                wheel.append((await asyncio.wait_for(painted, 10) - t0) * 1000)
                await asyncio.sleep(0.01)
            pages: list[float] = []
            for step in [-1] * 8 + [1] * 8:
                before = view.scroll_y
                if (step < 0 and before <= 0) or (step > 0 and before >= view.max_scroll_y):
                    continue
                moved = clock.arm(partial(moved_from, before))
                t0 = time.perf_counter()
                app.action_scroll_transcript(step)
                pages.append((await asyncio.wait_for(moved, 10) - t0) * 1000)
                settled = clock.arm(lambda: view.scroll_y == view.scroll_target_y)
                await asyncio.wait_for(settled, 10)
            monitor.recording = False
            out["wheel"], out["page"] = wheel, pages
            out["scroll_frames"], out["scroll_stalls"] = clock.frames_ms[:], monitor.stalls_ms[:]
            out["scroll_frames_cpu"] = clock.frames_cpu_ms[:]
            out["follows_after_scroll"] = view.following

            # Hidden history: scroll to the top and bring back a batch, until the batch is painted.
            restores: list[float] = []
            clock.frames_ms.clear()
            clock.frames_cpu_ms.clear()
            monitor.stalls_ms.clear()
            monitor.recording = True
            for _ in range(3):
                if not view.archived:
                    break
                view.scroll_home(animate=False, immediate=True)
                await asyncio.sleep(0.05)
                newest_hidden = view.archived[-1].text
                oldest_shown = view.messages[0]

                def first_back(oldest: Any = oldest_shown) -> bool:
                    children = view.children
                    return len(children) > 1 and children[1] is not oldest and on_screen(children[1])

                painted = clock.arm(first_back)
                t0 = time.perf_counter()
                revived = await view.show_earlier()
                restores.append((await asyncio.wait_for(painted, 10) - t0) * 1000)
                assert str(getattr(revived[-1], "text", getattr(revived[-1], "reply", ""))) == newest_hidden
            monitor.recording = False
            out["restore_stalls"] = monitor.stalls_ms[:] or [0.0]
            out["restore"] = restores
            out["mounted"] = len(view.messages)
            out["archived"] = len(view.archived)
            out["history"] = len(view.history)
            out["gc_objects"] = len(gc.get_objects())
            out["rss_growth_mb"] = _rss_mb() - rss_before
        await monitor.stop()
    client.close()
    return out


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

    for name, fn in (
        ("embedded", lambda: embedded.ask("fleet status", session="bench")),
        ("http", lambda: remote.ask("fleet status", session="bench")),
        ("ws", via_ws),
    ):
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
    rows: list[tuple[str, str, str]] = [
        ("load average (1 min) at start, CPUs", "-", f"{os.getloadavg()[0]:.1f}, {os.cpu_count()}"),
    ]
    paint = asyncio.run(first_paint())
    rows.append(("first paint (open embedded DEMO engine, start app, headless)", "< 1.5 s", f"{paint:.2f} s"))
    from app.widgets.transcript import Transcript

    defaults = inspect.signature(Transcript.__init__).parameters
    for marks in (None, (defaults["high_water"].default, defaults["low_water"].default)):
        tr = asyncio.run(transcript(marks=marks))
        high, low = tr["marks"]
        label = f"marks {high}/{low}" + (" (ChatApp defaults)" if marks is None else " (Transcript defaults)")
        rows += [
            (f"[{label}] post 4,800 messages one by one", "-", f"{tr['fill_s']:.1f} s"),
            (f"[{label}] append -> painted, p50 / p99 / max", FRAME_TARGET, _stats(tr["append"])),
            (
                f"[{label}]   longest frame (wall / CPU) / loop stall while appending",
                FRAME_TARGET,
                f"{max(tr['append_frames']):.1f} / {max(tr['append_frames_cpu']):.1f}"
                f" / {max(tr['append_stalls']):.1f} ms",
            ),
            (
                f"[{label}]   full GC passes while appending: count, longest (wall / CPU)",
                "-",
                f"{len(tr['append_full_gc'])}, {max(tr['append_full_gc'], default=0.0):.1f}"
                f" / {max(tr['append_full_gc_cpu'], default=0.0):.1f} ms",
            ),
            (f"[{label}] wheel step -> painted, p50 / p99 / max", FRAME_TARGET, _stats(tr["wheel"])),
            (f"[{label}] page step -> first moved paint, p50 / p99 / max", FRAME_TARGET, _stats(tr["page"])),
            (
                f"[{label}]   longest frame (wall / CPU) / loop stall while scrolling",
                FRAME_TARGET,
                f"{max(tr['scroll_frames']):.1f} / {max(tr['scroll_frames_cpu']):.1f}"
                f" / {max(tr['scroll_stalls']):.1f} ms",
            ),
            (
                f"[{label}] show hidden messages: first painted, max / longest loop stall",
                FRAME_TARGET,
                f"{max(tr['restore']):.1f} / {max(tr['restore_stalls']):.1f} ms" if tr["restore"] else "n/a",
            ),
            (
                f"[{label}] still following after appends / after scrolling up",
                "yes / no",
                f"{'yes' if tr['follows'] else 'NO'} / {'yes' if tr['follows_after_scroll'] else 'no'}",
            ),
            (
                f"[{label}] messages mounted / archived / in history",
                "-",
                f"{tr['mounted']:,} / {tr['archived']:,} / {tr['history']:,}",
            ),
            (
                f"[{label}] RSS growth holding the session; objects the GC walks",
                "-",
                f"{tr['rss_growth_mb']:.0f} MB; {tr['gc_objects']:,}",
            ),
        ]
    api = asyncio.run(api_turns())
    for name in ("embedded", "http", "ws"):
        rows.append(
            (
                f"turn 'fleet status' via {name}, p50 / p95",
                "-",
                f"{api[f'{name}_p50_ms']:.1f} / {api[f'{name}_p95_ms']:.1f} ms",
            )
        )
    rows.append(("two operators at once (HTTP)", "-", f"{api['two_operators_turns_per_s']:.1f} turns/s"))
    from bench._table import print_table

    print_table(rows)


if __name__ == "__main__":
    main()
