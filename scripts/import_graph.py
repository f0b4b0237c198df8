"""Print the engine's package import graph (Mermaid), as grimp — import-linter's graph library — sees it.

    .venv/bin/python scripts/import_graph.py            # Mermaid, for docs/architecture.md
    .venv/bin/python scripts/import_graph.py --dot      # Graphviz DOT

Nodes are the engine's top-level packages and modules, ranked by the layers of the import-linter contract in
pyproject.toml (highest first; a module the contract does not list counts as the lowest layer). A solid arrow
points down the layers; a dotted ``peer`` arrow joins two packages of one layer; a dotted ``up`` arrow points up
the layers: the debt the contract still ignores. Imports under ``if TYPE_CHECKING:`` are not counted, as in the
contract.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent


def layers() -> list[list[str]]:
    """The engine's layers from the import-linter contract, highest first."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for contract in config["tool"]["importlinter"]["contracts"]:
        if contract.get("type") == "layers" and contract.get("containers") == ["engine"]:
            return [[name.strip() for name in layer.split(":")] for layer in contract["layers"]]
    raise SystemExit("pyproject.toml has no layers contract for the engine")


def edges() -> set[tuple[str, str]]:
    """(importer, imported) between the engine's top-level packages/modules, run-time imports only."""
    sys.path.insert(0, str(ROOT))
    graph = grimp.build_graph("engine", include_external_packages=False, exclude_type_checking_imports=True)
    top = sorted(m for m in graph.modules if m.count(".") == 1)
    for name in top:
        if graph.find_children(name):
            graph.squash_module(name)
    found: set[tuple[str, str]] = set()
    for importer in top:
        for imported in graph.find_modules_directly_imported_by(importer):
            if imported in top and imported != importer:
                found.add((importer.removeprefix("engine."), imported.removeprefix("engine.")))
    return found


def main(argv: list[str]) -> int:
    stack = layers()
    ranks = {name: i for i, layer in enumerate(stack) for name in layer}
    arrows = edges()
    names = sorted({n for e in arrows for n in e} | set(ranks), key=lambda n: (ranks.get(n, len(stack)), n))
    ranks = {n: ranks.get(n, len(stack)) for n in names}
    down = sorted((a, b) for a, b in arrows if ranks[a] < ranks[b])
    peer = sorted((a, b) for a, b in arrows if ranks[a] == ranks[b])
    up = sorted((a, b) for a, b in arrows if ranks[a] > ranks[b])
    if "--dot" in argv:
        print("digraph engine {\n  rankdir=TB;\n  node [shape=box];")
        for rank in range(len(stack) + 1):
            same = " ".join(f'"{n}";' for n in names if ranks.get(n) == rank)
            print(f"  {{ rank=same; {same} }}")
        for a, b in down:
            print(f'  "{a}" -> "{b}";')
        for a, b in peer:
            print(f'  "{a}" -> "{b}" [style=dotted, label="peer"];')
        for a, b in up:
            print(f'  "{a}" -> "{b}" [style=dashed, color=red, label="up"];')
        print("}")
    else:
        print("graph TD")
        for a, b in down:
            print(f"  {a} --> {b}")
        for a, b in peer:
            print(f"  {a} -. peer .-> {b}")
        for a, b in up:
            print(f"  {a} -. up .-> {b}")
    print(
        f"{'//' if '--dot' in argv else '%%'} {len(arrows)} arrows between {len(names)} packages; "
        f"{len(peer)} within a layer, {len(up)} up",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
