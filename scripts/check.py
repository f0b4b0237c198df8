"""Run every quality gate: ruff (lint, then format) first, then the whole pytest suite with mypy and import-linter beside it.

One command for developers and CI (``./dev test``); extra arguments go to pytest.
A failing ruff stops at once; otherwise every gate runs and the command fails if any of them did.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def run(title: str, args: list[str]) -> None:
    print(f"\n=== {title}: {' '.join(args)}", flush=True)
    started = time.monotonic()
    code = subprocess.call(args, cwd=ROOT)
    print(
        f"=== {title}: {'passed' if code == 0 else f'FAILED (exit {code})'} in {time.monotonic() - started:.0f} s",
        flush=True,
    )
    if code != 0:
        sys.exit(code)


class Background:
    """A gate run beside pytest: its output is kept and printed after pytest's, so the two never interleave.

    mypy and import-linter are CPU work of half a minute or so.  Beside pytest's workers they add their CPU to a
    run that keeps both cores of a 2-core machine busy, but no wait of their own: one after the other, mypy's
    single process would leave a core idle for as long as it runs.
    """

    def __init__(self, title: str, args: list[str]) -> None:
        self.title, self.args, self.started = title, args, time.monotonic()
        self.output = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=self.output, stderr=subprocess.STDOUT)
        self.took = 0.0
        self.waiter = threading.Thread(target=self._wait, daemon=True)
        self.waiter.start()

    def _wait(self) -> None:
        self.proc.wait()
        self.took = time.monotonic() - self.started

    def finish(self) -> int:
        self.waiter.join()
        self.output.seek(0)
        print(f"\n=== {self.title}: {' '.join(self.args)}", flush=True)
        sys.stdout.buffer.write(self.output.read())
        code = self.proc.returncode
        print(
            f"=== {self.title}: {'passed' if code == 0 else f'FAILED (exit {code})'} "
            f"in {self.took:.0f} s (beside pytest)",
            flush=True,
        )
        return code


def pytest_args(extra: list[str]) -> list[str]:
    """The suite runs on several workers (pytest-xdist), one test file per worker at a time.

    Most of the suite waits on sockets and subprocesses (daemons, emulators, browsers), so more workers than
    cores pays off; ``--dist loadfile`` keeps a file's module-scoped fixtures (a daemon, a loaded speech model)
    built once.  ``--no-loadscope-reorder`` keeps the collection order, longest files first (tests/conftest.py),
    instead of xdist's files-with-most-tests first.  ``CLAWOPS_TEST_WORKERS=0`` runs serially (for debugging); extra arguments go to pytest as-is.
    """
    workers = os.environ.get("CLAWOPS_TEST_WORKERS", str(max(4, 2 * (os.cpu_count() or 1))))
    if workers == "0" or any(arg == "-n" or arg.startswith(("-n", "--numprocesses")) for arg in extra):
        return extra
    return ["-n", workers, "--dist", "loadfile", "--no-loadscope-reorder", *extra]


def main() -> None:
    os.environ.setdefault("CLAWOPS_REQUIRE_POSTGRES", "1")
    started = time.monotonic()
    run("ruff", [PY, "-m", "ruff", "check", "."])
    run("ruff format", [PY, "-m", "ruff", "format", "--check", "."])
    beside = [
        Background("mypy", [PY, "-m", "mypy"]),
        Background("import-linter", [str(Path(PY).with_name("lint-imports"))]),
    ]
    print(f"\n=== pytest: {PY} -m pytest {' '.join(pytest_args(sys.argv[1:]))}", flush=True)
    tests = subprocess.call([PY, "-m", "pytest", *pytest_args(sys.argv[1:])], cwd=ROOT)
    failed = [gate.title for gate in beside if gate.finish() != 0] + (["pytest"] if tests != 0 else [])
    took = f"{time.monotonic() - started:.0f} s"
    if failed:
        print(f"\n=== FAILED: {', '.join(failed)} (all gates {took})", flush=True)
        sys.exit(tests or 1)
    print(f"\n=== all checks passed in {took} (install excluded)", flush=True)


if __name__ == "__main__":
    main()
