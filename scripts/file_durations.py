"""Write tests/file_durations.json: how long each test file took, from a pytest JUnit XML report.

The suite's workers take the longest files first (tests/conftest.py); refresh the figures after a test file
grows or shrinks much:

    .venv/bin/python -m pytest -n 4 --dist loadfile --no-loadscope-reorder --junitxml=/tmp/junit.xml
    .venv/bin/python scripts/file_durations.py /tmp/junit.xml
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "file_durations.json"


def file_durations(report: Path) -> dict[str, float]:
    """Seconds per test file (setup, call and teardown of its tests), longest first."""
    seconds: dict[str, float] = defaultdict(float)
    for case in ET.parse(report).getroot().iter("testcase"):
        module = case.get("classname", "")
        # classname is the dotted module, plus the class for tests in a class: keep the part that is a file.
        parts = module.split(".")
        while parts and not (ROOT / Path(*parts)).with_suffix(".py").is_file():
            parts.pop()
        if parts:
            seconds[Path(*parts).with_suffix(".py").as_posix()] += float(case.get("time", "0"))
    return {name: round(took, 1) for name, took in sorted(seconds.items(), key=lambda item: -item[1])}


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: scripts/file_durations.py JUNIT_XML")
    durations = file_durations(Path(sys.argv[1]))
    OUT.write_text(json.dumps(durations, indent=0) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(durations)} files, {sum(durations.values()):.0f} s in all")


if __name__ == "__main__":
    main()
