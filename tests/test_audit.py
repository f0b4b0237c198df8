"""The audit hash chain: verify passes when clean and names the first bad entry after any tampering."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from engine import audit
from engine.store import Store, open_store


def _store_with_entries(url: str, n: int = 6) -> Store:
    store = open_store(url)
    for i in range(1, n + 1):
        with store.session() as s:
            audit.append(s, actor="owner", action=f"op{i}", target=f"acct-{i:03d}", detail={"n": i})
    return store


def _exec(store: Store, sql: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(sql))


def test_clean_chain_verifies(store_url: str) -> None:
    store = _store_with_entries(store_url)
    report = audit.verify(store)
    assert report.ok and report.entries == 6
    store.dispose()


def test_empty_chain_verifies(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    assert audit.verify(store).ok
    store.dispose()


@pytest.mark.parametrize(
    ("tamper", "bad_seq", "words"),
    [
        ("UPDATE audit_entries SET target = 'acct-999' WHERE seq = 3", 3, "was edited"),
        ("UPDATE audit_entries SET detail = 'forged' WHERE seq = 4", 4, "was edited"),
        ("DELETE FROM audit_entries WHERE seq = 2", 2, "is missing"),
        ("UPDATE audit_entries SET actor = CASE seq WHEN 3 THEN 'owner2' ELSE actor END", 3, "was edited"),
    ],
)
def test_tampering_is_detected_and_named(store_url: str, tamper: str, bad_seq: int, words: str) -> None:
    store = _store_with_entries(store_url)
    _exec(store, tamper)
    report = audit.verify(store)
    assert not report.ok and report.problem is not None
    assert report.problem.seq == bad_seq
    assert words in report.problem.message and f"#{bad_seq}" in report.problem.message
    store.dispose()


def test_reordered_entries_are_detected(sqlite_url: str) -> None:
    store = _store_with_entries(sqlite_url)
    # Swap the contents (and hashes) of entries 2 and 3, keeping their sequence numbers.
    _exec(store, "UPDATE audit_entries SET seq = -2 WHERE seq = 2")
    _exec(store, "UPDATE audit_entries SET seq = 2 WHERE seq = 3")
    _exec(store, "UPDATE audit_entries SET seq = 3 WHERE seq = -2")
    report = audit.verify(store)
    assert report.problem is not None and report.problem.seq == 2
    store.dispose()


def test_inserted_entry_is_detected(sqlite_url: str) -> None:
    store = _store_with_entries(sqlite_url)
    # Make room at #4 and forge an entry there, copying a plausible hash from #3.
    for seq in range(6, 3, -1):
        _exec(store, f"UPDATE audit_entries SET seq = {seq + 1} WHERE seq = {seq}")
    _exec(
        store,
        "INSERT INTO audit_entries (seq, ts, actor, channel, action, target, outcome, detail, prev_hash, hash) "
        "SELECT 4, ts, 'mallory', channel, 'teardown', 'acct-001', 'ok', '{}', hash, hash FROM audit_entries "
        "WHERE seq = 3",
    )
    report = audit.verify(store)
    assert report.problem is not None and report.problem.seq == 4
    store.dispose()


def test_truncated_tail_is_detected_by_the_head(sqlite_url: str) -> None:
    store = _store_with_entries(sqlite_url)
    _exec(store, "DELETE FROM audit_entries WHERE seq >= 5")
    report = audit.verify(store)
    assert report.problem is not None and "after #4 are missing" in report.problem.message
    store.dispose()


def test_append_rolls_back_with_its_transaction(sqlite_url: str) -> None:
    store = _store_with_entries(sqlite_url, 2)
    with pytest.raises(RuntimeError), store.session() as s:
        audit.append(s, actor="owner", action="will-roll-back")
        raise RuntimeError("action failed")
    report = audit.verify(store)
    assert report.ok and report.entries == 2
    store.dispose()
