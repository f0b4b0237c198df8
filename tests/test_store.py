"""The store, on SQLite and on PostgreSQL: migrations, transactions, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel, col, select

from engine.demo import build_demo_fleet, seed_demo
from engine.errors import StoreError
from engine.store import HEAD_REVISION, Account, Instance, Tenant, open_store, upgrade

TABLES = {
    "tenants",
    "accounts",
    "instances",
    "plans",
    "jobs",
    "job_steps",
    "operators",
    "audit_entries",
    "audit_head",
    "sessions",
    "alembic_version",
    "silences",
    "incidents",
    "health_reports",
    "cost_snapshots",
    "secrets",
    "api_keys",
    "channel_identities",
    "webhook_deliveries",
    "memories",
    "chat_messages",
}


def test_a_new_store_has_every_table_of_the_models_at_the_head_revision(store_url: str) -> None:
    """A first start builds the tables from the models (``create_fresh``) and stamps the head revision."""
    store = open_store(store_url)
    try:
        assert TABLES <= set(inspect(store.engine).get_table_names())
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn)
            assert context.get_current_revision() == HEAD_REVISION
            diff = compare_metadata(context, SQLModel.metadata)
        assert diff == [], f"a new store and the models disagree: {diff}"
    finally:
        store.dispose()


def test_every_migration_from_an_empty_database_builds_the_models_schema(store_url: str) -> None:
    """The migrations, replayed from nothing, end at exactly the schema a new store is created with: so a store
    created fresh and one upgraded release by release are the same store."""
    from engine.store._db import Store, create_store_engine

    store = Store(create_store_engine(store_url), store_url)
    try:
        upgrade(store)
        assert TABLES <= set(inspect(store.engine).get_table_names())
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
    finally:
        store.dispose()


def test_a_first_start_cut_off_before_its_stamp_completes_on_the_next_start(sqlite_url: str) -> None:
    """The tables were created, the process died before the head revision was written: the next open finishes."""
    from engine.store._db import Store, create_store_engine

    half = Store(create_store_engine(sqlite_url), sqlite_url)
    with half.engine.begin() as conn:
        SQLModel.metadata.tables["tenants"].create(conn)
    half.dispose()
    store = open_store(sqlite_url)
    try:
        with store.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == HEAD_REVISION
        assert TABLES <= set(inspect(store.engine).get_table_names())
    finally:
        store.dispose()


def test_reopening_is_idempotent_and_keeps_data(store_url: str) -> None:
    store = open_store(store_url)
    seed_demo(store, pairs=20, seed=7)
    store.dispose()
    again = open_store(store_url)
    try:
        with again.session() as s:
            assert len(s.exec(select(Instance)).all()) == 40
            assert s.get(Account, "acct-007") is not None
    finally:
        again.dispose()


def test_a_failed_transaction_writes_nothing(store_url: str) -> None:
    store = open_store(store_url)
    try:
        with pytest.raises(RuntimeError), store.session() as s:
            s.add(Tenant(id="t-half", name="half written"))
            s.flush()
            raise RuntimeError("crash mid-transaction")
        with store.session() as s:
            assert s.get(Tenant, "t-half") is None
    finally:
        store.dispose()


def test_demo_seed_is_all_or_nothing(store_url: str) -> None:
    store = open_store(store_url)
    try:
        seed_demo(store, pairs=10, seed=1)
        with pytest.raises(Exception):  # noqa: B017 - duplicate keys: the second seed must fail as a whole
            seed_demo(store, pairs=30, seed=2)
        with store.session() as s:
            assert len(s.exec(select(Account)).all()) == 10
    finally:
        store.dispose()


def test_selector_style_queries_agree_between_backends(store_url: str) -> None:
    store = open_store(store_url)
    try:
        seed_demo(store, pairs=200, seed=3)
        _, _, rows = build_demo_fleet(200, 3)
        expected = sum(1 for r in rows if r["provider"] == "vultr" and r["region"].startswith("eu-"))
        with store.session() as s:
            got = s.exec(
                select(Instance).where(col(Instance.provider) == "vultr", col(Instance.region).like("eu-%"))
            ).all()
        assert len(got) == expected > 0
    finally:
        store.dispose()


def test_newer_schema_is_refused(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_future'")
    store.dispose()
    with pytest.raises(StoreError, match="newer than this ClawOps knows"):
        open_store(sqlite_url)


def test_corrupt_sqlite_file_is_one_clear_sentence(tmp_path: Path) -> None:
    path = tmp_path / "clawops.db"
    path.write_bytes(b"this is not a database, it is a shopping list\n" * 200)
    with pytest.raises(StoreError, match="not a valid SQLite database") as info:
        open_store(f"sqlite:///{path}")
    assert "\n" not in str(info.value)
    assert path.read_bytes().startswith(b"this is not a database")  # nothing overwritten


def test_unreachable_postgres_names_the_host_not_the_password() -> None:
    with pytest.raises(StoreError, match="Cannot reach the database") as info:
        open_store("postgresql+psycopg://ops:hunter2@127.0.0.1:1/clawops")
    assert "hunter2" not in str(info.value)


def test_unwritable_sqlite_location(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError):
        open_store(f"sqlite:///{blocker}/sub/clawops.db")


def test_schema_head_constant_matches_the_migration_files() -> None:
    """A new store is stamped with HEAD_REVISION itself (no Alembic at a first start): it must be the scripts' head."""
    from alembic.script import ScriptDirectory

    from engine.store._db import MIGRATIONS_DIR

    versions = Path(__file__).resolve().parents[1] / "engine" / "store" / "migrations" / "versions"
    assert (versions / f"{HEAD_REVISION}.py").exists()
    assert ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head() == HEAD_REVISION


def test_a_baseline_store_is_upgraded_in_place(sqlite_url: str) -> None:
    """A store created by the first release gains the new tables on open and keeps its data."""
    from alembic import command

    from engine.store._db import Store, alembic_config, create_store_engine

    old = Store(create_store_engine(sqlite_url), sqlite_url)
    command.upgrade(alembic_config(old), "0001_baseline")
    with old.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO tenants (id, name, is_demo, created_at) VALUES ('t1', 'T', 0, '2026-01-01')")
    old.dispose()
    store = open_store(sqlite_url)
    try:
        assert "silences" in inspect(store.engine).get_table_names()
        with store.session() as s:
            assert s.get(Tenant, "t1") is not None
    finally:
        store.dispose()
