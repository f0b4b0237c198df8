"""The one output format of every benchmark: a ``metric | target | measured`` table on stdout."""

from __future__ import annotations

from collections.abc import Sequence


def print_table(rows: Sequence[tuple[str, str, str]]) -> None:
    """Print ``rows`` as an aligned table, the target column as wide as its longest entry."""
    width = max(len(r[0]) for r in rows)
    target_width = max(6, *(len(r[1]) for r in rows))
    print(f"{'metric':<{width}} | {'target':<{target_width}} | measured")
    print(f"{'-' * width}-|-{'-' * target_width}-|---------")
    for metric, target, measured in rows:
        print(f"{metric:<{width}} | {target:<{target_width}} | {measured}")
