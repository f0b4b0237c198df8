"""A fresh, empty SQLite store without running the migrations again for every test.

Creating a store runs every Alembic migration (~25 tables and their indexes, SQLite's batch rebuilds): ~50 ms of
CPU, more than many tests' own work.  :func:`fresh_sqlite_store` migrates one store per test process the normal
way (``open_store``), then copies that file wherever a test wants a brand-new store.  The copy is the migrated
store byte for byte (schema, revision, WAL mode), empty as a new one is; the engine opening it sees a store at
the head revision, as it would after its own first start.  Tests *about* creating or migrating a store do not
use it.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from sqlalchemy import text

from engine.store import open_store

__all__ = ["fresh_sqlite_store"]

_template: Path | None = None


def _migrated_template() -> Path:
    global _template
    if _template is None:
        folder = Path(tempfile.mkdtemp(prefix="clawops-store-template-"))
        atexit.register(shutil.rmtree, folder, True)
        path = folder / "clawops.db"
        store = open_store(f"sqlite:///{path}")
        with store.engine.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))  # everything in the main file, nothing in -wal
        store.dispose()
        _template = path
    return _template


def fresh_sqlite_store(path: Path) -> Path:
    """Put a new, empty store at ``path`` (a migrated copy, private like the engine's own); returns ``path``."""
    template = _migrated_template()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for extra in ("-wal", "-shm"):
        path.with_name(path.name + extra).unlink(missing_ok=True)
    shutil.copyfile(template, path)
    path.chmod(0o600)
    return path
