"""The dependency rules of ARCHITECTURE §1, enforced.

* ``engine`` never imports ``app`` (it runs headless);
* ``app`` reaches the engine only through ``engine.client``;
* ``node`` and ``voice`` import nothing from ``engine`` or ``app``.
Checked statically over every module, and dynamically: importing the engine's
client must not pull in Textual or Rich.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("engine", ("app",)), ("node", ("engine", "app")), ("voice", ("engine", "app"))],
)
def test_forbidden_imports(package: str, forbidden: tuple[str, ...]) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules(package)
        for name in _imports(path)
        if name.split(".")[0] in forbidden
    ]
    assert offenders == []


def test_app_uses_only_the_client_interface() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules("app")
        for name in _imports(path)
        if name.split(".")[0] == "engine" and name != "engine.client"
    ]
    assert offenders == []


def test_engine_never_imports_a_ui_toolkit() -> None:
    """Statically: no engine module names Textual or Rich (httpx may pull Rich in for its own CLI; we do not)."""
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules("engine")
        for name in _imports(path)
        if name.split(".")[0] in ("textual", "rich")
    ]
    assert offenders == []


def test_engine_client_loads_no_ui_toolkit() -> None:
    code = "import sys, engine.client, engine.runtime; print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'app')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
