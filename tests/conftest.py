"""Shared fixtures: stores on SQLite and on the local PostgreSQL, and small engines.

PostgreSQL is part of the test environment (it runs on every dev and CI
machine): when it is down, the PostgreSQL tests *fail* with a clear message —
they never skip, so a green run always means both backends were exercised.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text

# Property tests are deterministic (the same examples on every run and every machine) and never timed: a
# shared, busy CI machine must not turn a slow example into a failure. A test may still ask for more examples.
settings.register_profile("clawops", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("clawops")

PG_URL = os.environ.get("CLAWOPS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        pytest.fail(f"PostgreSQL is required for this test and is not reachable at {PG_URL}: {exc}", pytrace=False)
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}_apscheduler" CASCADE'))  # its scheduler's
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'clawops.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Run a test once on SQLite and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def clawops_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated CLAWOPS_HOME with no settings leaking in from the environment."""
    home = tmp_path / "home"
    home.mkdir()
    for key in list(os.environ):
        if key.startswith("CLAWOPS_") and key not in ("CLAWOPS_TEST_PG_URL", "CLAWOPS_REQUIRE_POSTGRES"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CLAWOPS_HOME", str(home))
    return home


# Longest files first. `./dev test` hands whole files to its workers (--dist loadfile) in collection order; left to
# itself xdist would put files with many tests first, so a one-test file that runs for a minute and a half (the LLM
# eval, a real OpenClaw gateway) started last and the run waited for it alone. Ordering by how long each file took
# last time (tests/file_durations.json, refreshed by scripts/file_durations.py) lets the short files fill in around
# the long ones. Only the order changes: every test still runs, and a file's tests keep their own order.
_FILE_DURATIONS = Path(__file__).with_name("file_durations.json")


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> None:
    """On an xdist worker of a whole-suite run, import the test modules starting with this worker's share.

    Every worker collects every test module, and in a fresh clone each one compiles them all with pytest's
    assert rewriting (~5.5 CPU-s per worker here) before any cache exists: four workers started together did
    the same work four times over.  Started at its own quarter of the sorted list, each worker compiles one
    quarter and, by the time it reaches the next, finds it compiled by the worker that started there.  The
    modules are imported as the collection itself imports them (same function, same names), so collecting
    then finds them imported; a module that fails to import is left for the collection to import and report.
    """
    worker, count = os.environ.get("PYTEST_XDIST_WORKER"), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    config = session.config
    if worker is None or count < 2 or config.args_source is not pytest.Config.ArgsSource.TESTPATHS:
        return
    from _pytest.pathlib import import_path

    modules = sorted(Path(__file__).parent.rglob("test_*.py"))
    start = len(modules) * int(worker.removeprefix("gw")) // count
    for path in modules[start:] + modules[:start]:
        try:
            import_path(
                path,
                mode=config.getoption("importmode"),
                root=config.rootpath,
                consider_namespace_packages=config.getini("consider_namespace_packages"),
            )
        except (Exception, pytest.skip.Exception):  # the collection imports it again and reports it
            continue


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    import json

    try:
        seconds: dict[str, float] = json.loads(_FILE_DURATIONS.read_text())
    except (OSError, ValueError):
        return
    root = Path(__file__).resolve().parent.parent

    def file_of(item: pytest.Item) -> str:
        return Path(item.fspath).resolve().relative_to(root).as_posix()

    position = {item.nodeid: index for index, item in enumerate(items)}
    items.sort(key=lambda item: (-seconds.get(file_of(item), 0.0), file_of(item), position[item.nodeid]))
