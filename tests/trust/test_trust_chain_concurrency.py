"""The audit head cache never forks the chain: several engines (processes, stores, threads) append into one chain.

``engine.audit.append`` remembers the head it wrote last and moves the head row with a compare-and-set;
these tests make that hint wrong in every way we know (another engine appended, the caller's transaction
rolled back, the table was edited) and check that the chain still verifies with every entry in it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from engine import audit
from engine.store import Store, open_store
from engine.trust import AuditDraft, append_many
from evals.stores import fresh_store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A new empty SQLite store (migrated once per process and copied: evals/stores.py)."""
    return f"sqlite:///{fresh_store(tmp_path / 'clawops.db')}"


WRITER = """
import sys
from engine import audit
from engine.store import open_store
store = open_store(sys.argv[1])
name, count = sys.argv[2], int(sys.argv[3])
for i in range(count):
    with store.session() as s:
        audit.append(s, actor=name, action="concurrent", target=f"{name}-{i}", detail={"i": i})
store.dispose()
print("ok", flush=True)
"""


def _count(store: Store, action: str) -> int:
    with store.engine.connect() as conn:
        return int(
            conn.execute(text("SELECT count(*) FROM audit_entries WHERE action = :a"), {"a": action}).scalar_one()
        )


def test_processes_appending_at_once_make_one_valid_chain(store_url: str) -> None:
    store = open_store(store_url)  # migrated once, before the writers race
    with store.session() as s:
        audit.append(s, actor="owner", action="start")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAWOPS_")}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, store_url, f"engine{n}", "150"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    # This process appends meanwhile too, through its own (soon stale) cached head.
    for i in range(100):
        with store.session() as s:
            audit.append(s, actor="main", action="concurrent", target=f"main-{i}")
    outputs = [w.communicate(timeout=180) for w in writers]
    assert [w.returncode for w in writers] == [0, 0, 0], [err[-1500:] for _, err in outputs]
    report = audit.verify(store)
    assert report.ok, report.problem
    assert report.entries == 1 + 3 * 150 + 100 and _count(store, "concurrent") == 3 * 150 + 100
    store.dispose()


def test_two_stores_in_one_process_interleave(store_url: str) -> None:
    first = open_store(store_url)
    second = open_store(store_url)  # a second engine: its own connection pool, its own cached head
    for i in range(20):
        for store in (first, second, second) if i % 2 else (first,):
            with store.session() as s:
                audit.append(s, actor="x", action="interleaved", target=str(i))
    with second.session() as s:
        append_many(s, [AuditDraft(actor="bulk", action="interleaved", target=str(n)) for n in range(5)])
    with first.session() as s:
        audit.append(s, actor="x", action="interleaved", target="last")
    report = audit.verify(first)
    assert report.ok, report.problem
    assert report.entries == 10 + 10 * 3 + 5 + 1
    first.dispose()
    second.dispose()


def test_threads_sharing_one_store(store_url: str) -> None:
    store = open_store(store_url)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            for i in range(60):
                with store.session() as s:
                    audit.append(s, actor=name, action="threaded", target=str(i))
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(f"t{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = audit.verify(store)
    assert report.ok and report.entries == 240, report.problem
    store.dispose()


def test_a_rolled_back_append_leaves_no_trace_in_the_next_one(store_url: str) -> None:
    store = open_store(store_url)
    with store.session() as s:
        audit.append(s, actor="owner", action="kept")
    with pytest.raises(RuntimeError), store.session() as s:
        audit.append(s, actor="owner", action="rolled-back")  # the cache now names a head that never committed
        raise RuntimeError
    with store.session() as s:
        after = audit.append(s, actor="owner", action="after")
    assert after.seq == 2
    report = audit.verify(store)
    assert report.ok and report.entries == 2 and _count(store, "rolled-back") == 0
    store.dispose()


def test_a_head_moved_behind_the_cache_is_followed(sqlite_url: str) -> None:
    """Someone cut the last entry and rewound the head: the next append links to the real head, not the cache."""
    store = open_store(sqlite_url)
    for n in range(3):
        with store.session() as s:
            audit.append(s, actor="owner", action=f"a{n}")
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE seq = 3"))
        conn.execute(text("UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_entries WHERE seq = 2)"))
    with store.session() as s:
        again = audit.append(s, actor="owner", action="a3")
    assert again.seq == 3
    assert audit.verify(store).ok
    store.dispose()


def test_the_slow_path_alone_makes_the_same_chain(sqlite_url: str) -> None:
    """With the cache dropped before every append (every append reads the head), the chain is the same shape."""
    store = open_store(sqlite_url)
    for n in range(5):
        audit.forget_head(store)
        with store.session() as s:
            audit.append(s, actor="owner", action=f"slow{n}")
    report = audit.verify(store)
    assert report.ok and report.entries == 5
    store.dispose()
