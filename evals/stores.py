"""New, empty stores without building the schema again for each one: for eval rows and for tests.

Every eval scenario and session runs on its own engine in its own home, from the same start, and many tests want a
brand-new store too.  Creating a store's schema is the same work every time (~30 ms of CPU), so it is done once
per process on a template, and each new store is a copy of that empty store at the current schema revision.  The
engine opens it as it opens any store at the current revision and seeds the demo fleet itself when it opens, so
rows and tests stay independent and start alike.  Tests *about* creating or migrating a store do not use it.
"""

from __future__ import annotations

import functools
import sqlite3
import tempfile
from pathlib import Path

from engine.store import open_store

__all__ = ["STORE_FILE", "fresh_home", "fresh_store"]

STORE_FILE = "clawops.db"
"""The store's file in a home (the default ``store_url`` of a home without a database URL)."""


@functools.cache
def _template() -> bytes:
    """An empty store at the current schema revision, as the bytes of its SQLite file."""
    with tempfile.TemporaryDirectory(prefix="clawops-store-template-") as tmp:
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


def fresh_store(path: Path) -> Path:
    """Put a new, empty store at ``path`` (private, as the engine makes its own), replacing any there; returns
    ``path``."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for extra in ("-wal", "-shm"):
        path.with_name(path.name + extra).unlink(missing_ok=True)
    path.write_bytes(_template())
    path.chmod(0o600)
    return path


def fresh_home(home: Path) -> Path:
    """``home``, created, holding a new empty store (a copy of the template).

    A home that already has a store keeps it (the engine reopens it, as it would without the template)."""
    home.mkdir(parents=True, exist_ok=True)
    store = home / STORE_FILE
    if not store.exists():
        fresh_store(store)
    return home
