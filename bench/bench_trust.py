"""Trust benchmarks: audit append rate, audit verify time, secret rotation.

Run:  .venv/bin/python bench/bench_trust.py [--verify-entries N] [--full] [--pg URL]
Prints a table: metric | target | measured.  Not a test: machines here are
shared and noisy, so numbers are reported, never asserted.

* audit append — ``engine.audit.append`` one entry per transaction (how the
  operation layer writes: each action commits with its entry; this is the row
  the >= 5,000/s target is about), the same with the cached head dropped before
  every append (what a second engine appending in between costs), the same
  function with many entries per transaction, and ``engine.trust.append_many``
  (one head move and one bulk INSERT per batch).  Each append row shows the
  wall-clock rate and the CPU rate (entries per CPU-second of this process):
  the machine is shared, and the wall rate drops with whatever else runs.
* audit verify — ``engine.audit.verify`` over 200,000 entries by default,
  extrapolated linearly to 1,000,000 (``--full`` builds and walks the million).
* rotation — 10,000 secrets re-encrypted under a new key version.
"""

from __future__ import annotations

import argparse
import base64
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import audit  # noqa: E402
from engine.store import SecretRecord, Store, open_store  # noqa: E402
from engine.trust import AuditDraft, KeyRing, Redactor, SecretStore, append_many  # noqa: E402


def _store(tmp: Path, name: str) -> Store:
    return open_store(f"sqlite:///{tmp / name}")


Rate = tuple[float, float]
"""(entries per wall-clock second, entries per CPU-second)."""


def _timed(n: int, body: Callable[[], None]) -> Rate:
    start, cpu = time.perf_counter(), time.process_time()
    body()
    return n / (time.perf_counter() - start), n / max(time.process_time() - cpu, 1e-9)


def append_single_txn(tmp: Path, n: int = 5000, *, cold: bool = False) -> Rate:
    """One ``engine.audit.append`` per committed transaction, as operations write (``cold``: no cached head)."""
    store = _store(tmp, f"append1{'-cold' if cold else ''}.db")
    with store.session() as s:
        audit.append(s, actor="owner", action="setup")

    def run() -> None:
        for i in range(n):
            if cold:
                audit.forget_head(store)
            with store.session() as s:
                audit.append(s, actor="owner", action="restart", target=f"i-{i}", detail={"n": i})

    rate = _timed(n, run)
    assert audit.verify(store).ok
    store.dispose()
    return rate


def append_single_pg(url: str, n: int = 3000, *, cold: bool = False) -> Rate:
    """The single-entry path on PostgreSQL (a round trip per statement: the cached head saves one)."""
    from sqlalchemy import create_engine, text

    schema = f"bench_{secrets.token_hex(4)}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        store = open_store(f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}")
        with store.session() as s:
            audit.append(s, actor="owner", action="setup")

        def run() -> None:
            for i in range(n):
                if cold:
                    audit.forget_head(store)
                with store.session() as s:
                    audit.append(s, actor="owner", action="restart", target=f"i-{i}", detail={"n": i})

        rate = _timed(n, run)
        assert audit.verify(store).ok
        store.dispose()
        return rate
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def append_one_txn(tmp: Path, n: int = 20_000) -> Rate:
    store = _store(tmp, "append2.db")

    def run() -> None:
        with store.session() as s:
            for i in range(n):
                audit.append(s, actor="guardian", action="heal.restart", target=f"i-{i}", detail={"n": i})

    rate = _timed(n, run)
    store.dispose()
    return rate


def append_batched(tmp: Path, n: int = 50_000, batch: int = 1000) -> Rate:
    store = _store(tmp, "append3.db")

    def run() -> None:
        for base in range(0, n, batch):
            with store.session() as s:
                append_many(
                    s,
                    (
                        AuditDraft(actor="guardian", action="heal.restart", target=f"i-{i}", detail={"n": i})
                        for i in range(base, base + batch)
                    ),
                )

    rate = _timed(n, run)
    assert audit.verify(store).ok
    store.dispose()
    return rate


def _rate(rate: Rate) -> str:
    return f"{rate[0]:,.0f}/s wall, {rate[1]:,.0f}/s CPU"


def verify_time(tmp: Path, n: int) -> tuple[float, float]:
    """Wall and CPU seconds (CPU shows the cost on a quiet machine; this one is shared)."""
    store = _store(tmp, "verify.db")
    batch = 10_000
    for base in range(0, n, batch):
        with store.session() as s:
            append_many(
                s,
                (
                    AuditDraft(
                        actor="owner",
                        action="plan.restart",
                        target=f"acct-{i % 850:03d}",
                        channel="cli",
                        detail={"plan": f"pl-{i:08x}", "affected": i % 40},
                    )
                    for i in range(base, min(n, base + batch))
                ),
            )
    start, cpu = time.perf_counter(), time.process_time()
    report = audit.verify(store)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert report.ok and report.entries == n, report.problem
    store.dispose()
    return elapsed, cpu


def rotation_time(tmp: Path, n: int = 10_000) -> tuple[float, int]:
    store = _store(tmp, "rotate.db")
    vault = SecretStore(store, KeyRing.load(tmp / "keys", environ={}), redactor=Redactor())
    with store.session() as s:  # bulk setup: sealed exactly as set() seals, without 10,000 audit entries
        for i in range(n):
            name = f"provider/{i:05d}"
            nonce, ciphertext = vault._seal(name, base64.b64encode(i.to_bytes(4, "big") * 6).decode(), 1)
            s.add(SecretRecord(name=name, key_version=1, nonce=nonce, ciphertext=ciphertext))
    start = time.perf_counter()
    report = vault.rotate()
    elapsed = time.perf_counter() - start
    assert report.rotated == n and report.remaining == 0
    store.dispose()
    return elapsed, report.rotated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verify-entries", type=int, default=200_000)
    parser.add_argument("--full", action="store_true", help="verify a real 1,000,000-entry chain")
    parser.add_argument(
        "--pg",
        metavar="URL",
        help="also time single-entry appends on this PostgreSQL database "
        "(a scratch schema is made and dropped), e.g. postgresql://postgres@127.0.0.1:5432/test",
    )
    args = parser.parse_args()
    n_verify = 1_000_000 if args.full else args.verify_entries
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        rows.append(
            ("audit append, 1 entry per transaction (engine.audit.append)", ">= 5,000/s", _rate(append_single_txn(tmp)))
        )
        rows.append(
            ("audit append, 1 per transaction, head re-read every time", "-", _rate(append_single_txn(tmp, cold=True)))
        )
        if args.pg:
            rows.append(("audit append, 1 per transaction, PostgreSQL", "-", _rate(append_single_pg(args.pg))))
            rows.append(
                (
                    "audit append, 1 per transaction, PostgreSQL, head re-read",
                    "-",
                    _rate(append_single_pg(args.pg, cold=True)),
                )
            )
        rows.append(
            ("audit append, many per transaction (engine.audit.append)", ">= 5,000/s", _rate(append_one_txn(tmp)))
        )
        rows.append(
            ("audit append, batches of 1,000 (engine.trust.append_many)", ">= 5,000/s", _rate(append_batched(tmp)))
        )
        elapsed, cpu = verify_time(tmp, n_verify)
        scale = 1_000_000 / n_verify
        rows.append(
            (
                f"audit verify, {n_verify:,} entries",
                "< 10 s" if scale == 1 else "-",
                f"{elapsed:.2f} s wall, {cpu:.2f} s CPU",
            )
        )
        if n_verify != 1_000_000:
            rows.append(
                (
                    "audit verify, 1,000,000 entries (extrapolated)",
                    "< 10 s",
                    f"{elapsed * scale:.2f} s wall, {cpu * scale:.2f} s CPU",
                )
            )
        seconds, count = rotation_time(tmp)
        rows.append((f"rotate {count:,} secrets (AES-256-GCM, batches of 200)", "< 30 s", f"{seconds:.2f} s"))
    from bench._table import print_table

    print_table(rows)


if __name__ == "__main__":
    main()
