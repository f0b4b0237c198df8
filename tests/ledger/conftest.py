"""Fixtures for the Ledger's tests: the known fleet (ledger_fleet.py) on SQLite and PostgreSQL, and settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.config import Settings
from engine.store import Store, open_store
from tests.ledger.ledger_fleet import seed


@pytest.fixture
def fleet(store_url: str) -> Iterator[Store]:
    """The known fleet, once on SQLite and once on PostgreSQL."""
    store = open_store(store_url)
    seed(store)
    yield store
    store.dispose()


@pytest.fixture
def sqlite_fleet(sqlite_url: str) -> Iterator[Store]:
    store = open_store(sqlite_url)
    seed(store)
    yield store
    store.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, usd_to_eur=0.92)
