"""Run every quality gate in order: ruff, mypy, then the whole pytest suite.

One command for developers and CI (``./dev test``); extra arguments go to pytest.
Stops at the first failing gate and exits with its code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def run(title: str, args: list[str]) -> None:
    print(f"\n=== {title}: {' '.join(args)}", flush=True)
    code = subprocess.call(args, cwd=ROOT)
    if code != 0:
        print(f"=== {title} FAILED (exit {code})", flush=True)
        sys.exit(code)


def pytest_args(extra: list[str]) -> list[str]:
    """The suite runs on several workers (pytest-xdist), one test file per worker at a time.

    Most of the suite waits on sockets and subprocesses (daemons, emulators, browsers), so more workers than
    cores pays off; ``--dist loadfile`` keeps a file's module-scoped fixtures (a daemon, a loaded speech model)
    built once.  ``CLAWOPS_TEST_WORKERS=0`` runs serially (for debugging); extra arguments go to pytest as-is.
    """
    workers = os.environ.get("CLAWOPS_TEST_WORKERS", str(max(4, 2 * (os.cpu_count() or 1))))
    if workers == "0" or any(arg == "-n" or arg.startswith(("-n", "--numprocesses")) for arg in extra):
        return extra
    return ["-n", workers, "--dist", "loadfile", *extra]


def main() -> None:
    os.environ.setdefault("CLAWOPS_REQUIRE_POSTGRES", "1")
    run("ruff", [PY, "-m", "ruff", "check", "."])
    run("mypy", [PY, "-m", "mypy"])
    run("import-linter", [str(Path(PY).with_name("lint-imports"))])
    run("pytest", [PY, "-m", "pytest", *pytest_args(sys.argv[1:])])
    print("\n=== all checks passed", flush=True)


if __name__ == "__main__":
    main()
