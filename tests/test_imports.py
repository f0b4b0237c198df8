"""The dependency rules of ARCHITECTURE §1, enforced beside the import-linter contracts of pyproject.toml.

The contracts (run by ``./dev test`` as ``lint-imports``) hold the layers, the absence of circles, private
modules and the independence of ``node``/``voice``/``app``.  Here, what they cannot say:

* ``app`` reaches the engine only through ``engine.client`` (one interface, embedded or over the daemon);
* no engine module names a UI toolkit, and importing the engine's client loads none.

The import graph comes from grimp (the parser behind import-linter), not from ``ast`` in this process:
CPython 3.11's AST constructor can fail spuriously when called deep in an xdist worker's stack.
"""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


@cache
def _graph() -> grimp.ImportGraph:
    return grimp.build_graph("engine", "app", "node", "voice", include_external_packages=True)


def _imports_of(package: str) -> set[tuple[str, str]]:
    graph = _graph()
    return {
        (module, imported)
        for module in graph.find_descendants(package) | {package}
        for imported in graph.find_modules_directly_imported_by(module)
    }


def test_app_uses_only_the_client_interface() -> None:
    offenders = sorted(
        f"{module} imports {imported}"
        for module, imported in _imports_of("app")
        if imported.split(".")[0] == "engine" and imported != "engine.client"
    )
    assert offenders == []


def test_engine_never_imports_a_ui_toolkit() -> None:
    """Statically: no engine module names Textual or Rich (httpx may pull Rich in for its own CLI; we do not)."""
    offenders = sorted(
        f"{module} imports {imported}"
        for module, imported in _imports_of("engine")
        if imported.split(".")[0] in ("textual", "rich")
    )
    assert offenders == []


def test_engine_client_loads_no_ui_toolkit() -> None:
    code = "import sys, engine.client, engine.runtime; print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'app')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
