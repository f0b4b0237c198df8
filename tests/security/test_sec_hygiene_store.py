"""Where the audit anchor lives: outside the store by default, where the operator says when configured, and an
anchor an older version kept beside the store is carried over (its history is not lost)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import audit
from engine.store import Store, open_store
from engine.trust import Trust, default_anchor_path, record_anchor, verify_anchored


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def _store(home: Path) -> Store:
    store = open_store(f"sqlite:///{home / 'clawops.db'}")
    with store.session() as s:
        audit.append(s, actor="owner", action="x", target="y")
    return store


def test_the_default_anchor_is_outside_the_store_folder_and_per_store(tmp_path: Path, state: Path) -> None:
    home = tmp_path / "home"
    store = _store(home)
    path = Trust(store, home, environ={}).anchor_path
    assert state in path.parents and home not in path.parents
    assert default_anchor_path(f"sqlite:///{tmp_path / 'other' / 'clawops.db'}") != path
    assert verify_anchored(store, path).ok and path.exists()  # first use anchors
    assert (path.stat().st_mode & 0o777) == 0o600 and (path.parent.stat().st_mode & 0o777) == 0o700


def test_a_configured_anchor_is_used_and_checked(tmp_path: Path, state: Path) -> None:
    home, chosen = tmp_path / "home", tmp_path / "worm" / "clawops.anchor"
    store = _store(home)
    trust = Trust(store, home, environ={}, anchor=chosen)
    assert trust.anchor_path == chosen
    record_anchor(store, chosen)
    assert verify_anchored(store, chosen).ok
    chosen.unlink()
    report = verify_anchored(store, chosen)
    assert not report.ok and report.problem is not None and "missing" in report.problem.message


def test_an_anchor_kept_beside_the_store_by_an_older_version_is_carried_over(tmp_path: Path, state: Path) -> None:
    home = tmp_path / "home"
    store = _store(home)
    legacy = home / "audit.anchor"
    record_anchor(store, legacy)
    path = Trust(store, home, environ={}).anchor_path
    assert path != legacy and path.read_bytes() == legacy.read_bytes()
    assert verify_anchored(store, path).ok
