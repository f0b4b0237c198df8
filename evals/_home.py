"""A fresh home for each eval row, with its store's schema already in place.

Every scenario and session runs on its own engine in its own home, from the same start: a new store and the
demo fleet seeded on it (``Engine.open``).  Creating the store's schema is the same work every time (the Alembic
migrations, ~70 ms of CPU a row), so it is done once per process on a template and each row's home gets a copy
of that empty, fully migrated store.  The engine then opens it as it opens any store at the current revision,
and seeds the demo fleet itself, at the time the row starts — so rows stay independent and start alike.
"""

from __future__ import annotations

import functools
import sqlite3
import tempfile
from pathlib import Path

from engine.store import open_store

__all__ = ["STORE_FILE", "fresh_home"]

STORE_FILE = "clawops.db"
"""The store's file in a home (the default ``store_url`` of a home without a database URL)."""


@functools.cache
def _migrated_store() -> bytes:
    """An empty store at the current schema revision, as the bytes of its SQLite file."""
    with tempfile.TemporaryDirectory(prefix="clawops-evals-store-") as tmp:
        path = Path(tmp) / STORE_FILE
        open_store(f"sqlite:///{path}").dispose()
        copy = Path(tmp) / "copy.db"
        source, target = sqlite3.connect(path), sqlite3.connect(copy)
        try:
            source.backup(target)  # the whole database, whatever is still in the write-ahead log
        finally:
            source.close()
            target.close()
        return copy.read_bytes()


def fresh_home(home: Path) -> Path:
    """``home``, created, holding a new empty store at the current schema revision (a copy of the template).

    A home that already has a store keeps it (the engine reopens it, as it would without the template)."""
    home.mkdir(parents=True, exist_ok=True)
    store = home / STORE_FILE
    if not store.exists():
        store.write_bytes(_migrated_store())
    return home
