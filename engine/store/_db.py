"""Opening the store: engine creation, pragmas, migrations, and clear errors.

SQLite is the default (WAL, foreign keys, a busy timeout so two local
processes wait for each other instead of failing); PostgreSQL by URL.  The
schema is owned by Alembic: :func:`open_store` upgrades an older store to head
and refuses one that is *newer* than this code, rather than guessing.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.exc import DatabaseError, DataError, IntegrityError, OperationalError, SQLAlchemyError
from sqlmodel import Session

from engine.errors import StoreError

log = logging.getLogger(__name__)

#: The Alembic revision this code expects; bump with every new migration.
HEAD_REVISION = "0004_briefing_preferences"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        user = creds.split(":", 1)[0]
        return f"{scheme}{sep}{user}@{host}"
    return url


class Store:
    """A handle on the database: ``with store.session() as s: ...`` commits or rolls back as a unit."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.audit_head: tuple[int, str] | None = None
        """The audit chain's last link (seq, hash) this process wrote through this store: a hint that saves
        ``engine.audit`` a read of the head row per append (a stale hint only costs that read)."""

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        session = Session(self.engine, expire_on_commit=False, info={"store": self})
        try:
            yield session
            session.commit()
        except (IntegrityError, DataError):
            session.rollback()
            raise  # the caller's own constraint, handled where it is expected
        except DatabaseError as exc:
            # Operational (locked, gone), programming (a dropped table) or a damaged file: one sentence.
            session.rollback()
            raise _store_error(exc, self.url) from None
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def _store_error(exc: SQLAlchemyError, url: str) -> StoreError:
    where = _redact(url)
    msg = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else type(exc).__name__
    low = msg.lower()
    if "database is locked" in low:
        return StoreError(f"The store {where} is locked by another process; wait for it or stop it, then retry.")
    if "file is not a database" in low or "malformed" in low:
        return StoreError(
            f"The store {where} is not a valid SQLite database (corrupt?); restore a backup or move it aside."
        )
    if "no such table" in low or "does not exist" in low and ("relation" in low or "table" in low):
        return StoreError(
            f"The store {where} is damaged: {msg}; restore a backup, or point CLAWOPS_DATABASE_URL at the right "
            "database."
        )
    if "no such column" in low or ("column" in low and "does not exist" in low):
        return StoreError(
            f"The store {where} does not match this ClawOps ({msg}): it was changed outside ClawOps; restore a backup."
        )
    if "unable to open" in low or "readonly" in low or "read-only" in low:
        return StoreError(f"The store {where} cannot be opened; check that its folder exists and is writable.")
    if "connection" in low or "could not" in low or "refused" in low or "timeout" in low:
        return StoreError(f"Cannot reach the database at {where} ({msg}); start it or fix CLAWOPS_DATABASE_URL.")
    return StoreError(f"The store {where} failed: {msg}.")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_store_engine(url: str) -> Engine:
    """An SQLAlchemy engine with the right settings for the dialect."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:" and not path.startswith("file:"):
            _private_sqlite_file(Path(path.split("?", 1)[0]))
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 5})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})


def _private_sqlite_file(path: Path) -> None:
    """The store's folder 0700 and its file 0600 from birth: fleet data, the audit log and secrets' ciphertext
    are nobody else's business on a shared machine.  (SQLite gives its -wal and -shm files the database's mode.)

    A folder this user owns is tightened even when it exists (a home created earlier with 0755); a shared one
    (sticky, like /tmp) or someone else's is left alone.
    """
    folder = path.parent
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
        if info.st_uid == os.getuid() and not info.st_mode & stat.S_ISVTX and info.st_mode & 0o077:
            folder.chmod(0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
            path.chmod(0o600)
    except PermissionError as exc:
        raise StoreError(
            f"The store {path} cannot be created or opened ({exc.strerror}); set CLAWOPS_HOME to a folder you own."
        ) from None
    except OSError as exc:
        raise StoreError(
            f"The store folder {folder} cannot be created ({exc.strerror}); set CLAWOPS_HOME to a writable folder."
        ) from None


def _check_tables(conn: Any, url: str, revision: str | None) -> None:
    """Refuse a database that is not (or no longer) a whole ClawOps store, with one sentence saying which."""
    from sqlmodel import SQLModel

    import engine.store._models  # noqa: F401  (the tables' metadata)

    present = set(inspect(conn).get_table_names())
    if revision is None:
        foreign = sorted(present - {"alembic_version"} - set(SQLModel.metadata.tables))
        if foreign:
            shown = ", ".join(foreign[:5]) + (", …" if len(foreign) > 5 else "")
            raise StoreError(
                f"The database {_redact(url)} holds tables that are not ClawOps' ({shown}) and no ClawOps schema "
                "version: it is some other program's; point CLAWOPS_DATABASE_URL at an empty or a ClawOps database."
            )
        return
    missing = sorted(set(SQLModel.metadata.tables) - present)
    if missing and revision == HEAD_REVISION:
        shown = ", ".join(missing[:5]) + (", …" if len(missing) > 5 else "")
        raise StoreError(
            f"The store {_redact(url)} is damaged: its table{'s' if len(missing) > 1 else ''} {shown} "
            f"{'are' if len(missing) > 1 else 'is'} missing; restore a backup (the audit log and fleet state live "
            "there) or point CLAWOPS_DATABASE_URL at the right database."
        )


def open_store(url: str) -> Store:
    """Open (and if needed create or upgrade) the store at ``url``: every start migrates, so there is no separate
    upgrade command to run."""
    try:
        engine = create_store_engine(url)
    except (SQLAlchemyError, ValueError) as exc:
        raise StoreError(f"The database URL {_redact(url)} is not usable ({exc}); fix CLAWOPS_DATABASE_URL.") from None
    except ImportError as exc:
        raise StoreError(f"The database driver for {_redact(url)} is not installed ({exc}).") from None
    store = Store(engine, url)
    try:
        with engine.connect() as conn:
            if store.is_sqlite:
                conn.execute(text("PRAGMA journal_mode=WAL"))
                conn.execute(text("PRAGMA quick_check(1)")).fetchone()
            revision = _current_revision(conn)
            _check_tables(conn, url, revision)
    except (OperationalError, DatabaseError) as exc:
        engine.dispose()
        raise _store_error(exc, url) from None
    except StoreError:
        engine.dispose()
        raise
    except sqlite3.DatabaseError as exc:  # pragma: no cover - wrapped by SQLAlchemy normally
        engine.dispose()
        raise StoreError(f"The store {_redact(url)} is unreadable ({exc}); restore a backup.") from None
    if revision == HEAD_REVISION:
        return store
    if revision is not None and revision not in _known_revisions():
        engine.dispose()
        raise StoreError(
            f"The store {_redact(url)} has schema revision {revision}, newer than this ClawOps knows; upgrade ClawOps."
        )
    if revision is None:
        create_fresh(store)
    else:
        upgrade(store)
    return store


def _current_revision(conn: Any) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    row = conn.execute(text("SELECT version_num FROM alembic_version")).fetchone()
    return str(row[0]) if row else None


def _known_revisions() -> set[str]:
    return {p.stem for p in (MIGRATIONS_DIR / "versions").glob("*.py") if not p.stem.startswith("_")}


def alembic_config(store: Store) -> Any:
    """The Alembic config for this store (imported lazily: Alembic costs ~100 ms to import)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = store.engine
    return cfg


def _version_table() -> Table:
    """Alembic's version table exactly as Alembic makes it (``DefaultImpl.version_table_impl``: name, column,
    primary key name), so that Alembic reads and upgrades a store this code stamped."""
    return Table(
        "alembic_version",
        MetaData(),
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
    )


def create_fresh(store: Store) -> None:
    """A new store: the tables straight from the models, stamped at the head revision.

    Alembic's own recipe for building an up-to-date database from scratch.  Replaying every migration on an
    empty database builds the same schema (``tests/test_store.py`` proves it on SQLite and PostgreSQL) at twice
    the CPU (~60 ms against ~28), and every first start and every new test store paid that.  A store that has a revision
    is always migrated step by step (:func:`upgrade`).  ``create_all`` skips tables that exist, so a first start
    interrupted between the tables and the stamp completes on the next one.

    The stamp is the row Alembic's ``stamp head`` writes, written here: importing Alembic for it cost every first
    start (a new daemon, a new test store in a fresh process) ~0.12 s of CPU.  ``HEAD_REVISION`` is the migration
    scripts' head (``tests/test_store.py`` checks it).
    """
    from sqlmodel import SQLModel

    import engine.store._models  # noqa: F401  (the tables' metadata)

    version = _version_table()
    try:
        with store.engine.begin() as conn:
            SQLModel.metadata.create_all(conn)
            version.create(conn, checkfirst=True)
            conn.execute(version.insert().values(version_num=HEAD_REVISION))
    except OperationalError as exc:
        raise _store_error(exc, store.url) from None
    log.info("store %s created at %s", _redact(store.url), HEAD_REVISION)


def upgrade(store: Store) -> None:
    """Run Alembic migrations up to head, in one transaction per migration."""
    from alembic import command

    try:
        command.upgrade(alembic_config(store), "head")
    except OperationalError as exc:
        raise _store_error(exc, store.url) from None
    log.info("store %s migrated to %s", _redact(store.url), HEAD_REVISION)
