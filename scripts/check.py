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


def main() -> None:
    os.environ.setdefault("CLAWOPS_REQUIRE_POSTGRES", "1")
    run("ruff", [PY, "-m", "ruff", "check", "."])
    run("mypy", [PY, "-m", "mypy"])
    run("pytest", [PY, "-m", "pytest", *sys.argv[1:]])
    print("\n=== all checks passed", flush=True)


if __name__ == "__main__":
    main()
