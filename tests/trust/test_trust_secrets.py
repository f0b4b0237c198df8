"""The secret store: AEAD at rest, key file hygiene, environment keys, and rotation that survives a kill."""

from __future__ import annotations

import base64
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from engine import audit
from engine.errors import ConfigError, InputError, NotFound
from engine.store import Store, open_store
from engine.trust import KEY_FILE_NAME, MASTER_KEY_ENV, KeyRing, Redactor, SecretStore

ROOT = Path(__file__).resolve().parents[2]


def _secrets(url: str, home: Path, environ: dict[str, str] | None = None) -> tuple[Store, SecretStore]:
    store = open_store(url)
    return store, SecretStore(store, KeyRing.load(home, environ=environ or {}), redactor=Redactor())


def test_round_trip_and_nothing_plain_at_rest(store_url: str, tmp_path: Path) -> None:
    store, vault = _secrets(store_url, tmp_path)
    vault.set("hetzner/token", "hz-tok-7f3a9c1e5b2d")
    vault.set("telegram/bot", "123456:AAbbCCddEEff")
    assert vault.get("hetzner/token") == "hz-tok-7f3a9c1e5b2d"
    with store.engine.connect() as conn:
        dump = " ".join(str(v) for row in conn.execute(text("SELECT * FROM secrets")) for v in row)
        chain = " ".join(str(v) for row in conn.execute(text("SELECT * FROM audit_entries")) for v in row)
    assert "hz-tok" not in dump and "AAbbCC" not in dump
    assert "hz-tok" not in chain and "secret.create" in chain  # audited, without the value
    assert [i.name for i in vault.list()] == ["hetzner/token", "telegram/bot"]
    assert all(i.key_version == 1 and i.age_days() < 1 for i in vault.list())
    store.dispose()


def test_key_file_is_created_0600_and_a_loose_one_is_refused(tmp_path: Path) -> None:
    ring = KeyRing.load(tmp_path, environ={})
    path = tmp_path / KEY_FILE_NAME
    assert path.stat().st_mode & 0o777 == 0o600 and ring.current == 1
    assert KeyRing.load(tmp_path, environ={}).key(1) == ring.key(1)  # same key on the next load
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        KeyRing.load(tmp_path, environ={})


def test_environment_key_wins_and_bad_ones_are_one_sentence(tmp_path: Path) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    ring = KeyRing.load(tmp_path, environ={MASTER_KEY_ENV: key})
    assert ring.source == MASTER_KEY_ENV and not (tmp_path / KEY_FILE_NAME).exists()
    multi = KeyRing.load(tmp_path, environ={MASTER_KEY_ENV: f"2:{key},1:{base64.b64encode(os.urandom(32)).decode()}"})
    assert multi.current == 2 and multi.versions == [1, 2]
    with pytest.raises(ConfigError) as err:
        KeyRing.load(tmp_path, environ={MASTER_KEY_ENV: "c2hvcnQ="})
    assert "32-byte" in str(err.value) and "c2hvcnQ" not in str(err.value)
    with pytest.raises(ConfigError, match="put the new key first"):
        ring.add_version()


def test_wrong_master_key_and_swapped_rows_fail_closed(sqlite_url: str, tmp_path: Path) -> None:
    store, vault = _secrets(sqlite_url, tmp_path)
    vault.set("hetzner/token", "hz-tok-7f3a9c1e5b2d")
    vault.set("webhook/secret", "wh-sec-11223344")
    other = SecretStore(store, KeyRing.load(tmp_path / "elsewhere", environ={}), redactor=Redactor())
    with pytest.raises(ConfigError, match="cannot be decrypted") as err:
        other.get("hetzner/token")
    assert "hz-tok" not in str(err.value)
    # Copy the webhook secret's ciphertext over the provider token: the name is bound in (AEAD associated data).
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE secrets SET nonce = (SELECT nonce FROM secrets WHERE name='webhook/secret'), "
                "ciphertext = (SELECT ciphertext FROM secrets WHERE name='webhook/secret') "
                "WHERE name='hetzner/token'"
            )
        )
    with pytest.raises(ConfigError, match="tampered"):
        vault.get("hetzner/token")
    store.dispose()


def test_bad_names_empty_values_and_unknown_secrets(sqlite_url: str, tmp_path: Path) -> None:
    store, vault = _secrets(sqlite_url, tmp_path)
    with pytest.raises(InputError):
        vault.set("../etc/passwd", "value-123456")
    with pytest.raises(InputError):
        vault.set("ok-name", "")
    with pytest.raises(NotFound):
        vault.get("nope")
    store.dispose()


def test_rotation_re_encrypts_everything_and_keeps_values(store_url: str, tmp_path: Path) -> None:
    store, vault = _secrets(store_url, tmp_path)
    values = {f"s{i:03d}": f"value-{i}-{os.urandom(6).hex()}" for i in range(40)}
    for name, value in values.items():
        vault.set(name, value)
    report = vault.rotate(batch=7)
    assert (report.key_version, report.rotated, report.resumed, report.remaining) == (2, 40, False, 0)
    assert {i.key_version for i in vault.list()} == {2} and all(i.rotated_at for i in vault.list())
    fresh = SecretStore(store, KeyRing.load(tmp_path, environ={}), redactor=Redactor())
    assert {n: fresh.get(n) for n in values} == values
    assert audit.verify(store).ok
    store.dispose()


class Crash(Exception):
    pass


def test_interrupted_rotation_resumes_without_loss(sqlite_url: str, tmp_path: Path) -> None:
    store, vault = _secrets(sqlite_url, tmp_path)
    values = {f"s{i:03d}": f"value-{i}-{os.urandom(6).hex()}" for i in range(50)}
    for name, value in values.items():
        vault.set(name, value)

    def crash_after_23(n: int) -> None:
        if n == 23:
            raise Crash

    with pytest.raises(Crash):
        vault.rotate(batch=10, progress=crash_after_23)
    versions = [i.key_version for i in vault.list()]
    assert versions.count(2) == 20 and versions.count(1) == 30  # two whole batches committed, the third rolled back
    # A new process (new key ring object) reads every secret, under either version.
    reloaded = SecretStore(store, KeyRing.load(tmp_path, environ={}), redactor=Redactor())
    assert {n: reloaded.get(n) for n in values} == values
    report = reloaded.rotate(batch=10)
    assert report.resumed and report.key_version == 2 and report.rotated == 30 and report.remaining == 0
    assert {n: reloaded.get(n) for n in values} == values
    assert reloaded.keyring.versions == [1, 2]  # resuming did not start a third version
    store.dispose()


_KILLER = """
import os, signal, sys
from pathlib import Path
from engine.store import open_store
from engine.trust import KeyRing, Redactor, SecretStore
store = open_store(sys.argv[1])
vault = SecretStore(store, KeyRing.load(Path(sys.argv[2]), environ={}), redactor=Redactor())
def die(n):
    if n == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)
vault.rotate(batch=25, progress=die)
"""


def test_rotation_killed_with_sigkill_then_resumed(sqlite_url: str, tmp_path: Path) -> None:
    store, vault = _secrets(sqlite_url, tmp_path)
    values = {f"prov/{i:03d}": f"tok-{i}-{os.urandom(8).hex()}" for i in range(120)}
    for name, value in values.items():
        vault.set(name, value)
    store.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAWOPS_")}
    proc = subprocess.run(
        [sys.executable, "-c", _KILLER, sqlite_url, str(tmp_path), "63"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    db = sqlite3.connect(sqlite_url.split("///", 1)[1])
    counts = dict(db.execute("SELECT key_version, count(*) FROM secrets GROUP BY key_version").fetchall())
    db.close()
    assert counts == {1: 70, 2: 50}  # killed inside the third batch of 25
    store, vault = _secrets(sqlite_url, tmp_path)
    assert {n: vault.get(n) for n in values} == values
    report = vault.rotate()
    assert report.resumed and report.rotated == 70 and report.remaining == 0
    assert {n: vault.get(n) for n in values} == values and {i.key_version for i in vault.list()} == {2}
    assert audit.verify(store).ok
    store.dispose()


def test_rotation_with_environment_keys(sqlite_url: str, tmp_path: Path) -> None:
    k1, k2 = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    store, vault = _secrets(sqlite_url, tmp_path, {MASTER_KEY_ENV: k1})
    vault.set("a/b", "value-one-1234")
    assert vault.rotate().rotated == 0  # nothing newer to move to
    store.dispose()
    store, vault = _secrets(sqlite_url, tmp_path, {MASTER_KEY_ENV: f"2:{k2},1:{k1}"})
    assert vault.pending_rotation() == 1
    report = vault.rotate()
    assert report.key_version == 2 and report.rotated == 1 and vault.get("a/b") == "value-one-1234"
    store.dispose()


def test_retire_drops_old_key_versions_only_after_a_full_rotation(sqlite_url: str, tmp_path: Path) -> None:
    store, vault = _secrets(sqlite_url, tmp_path)
    vault.set("a", "value-a-123456")
    vault.rotate()
    assert vault.keyring.versions == [1, 2]
    report = vault.rotate(retire=True)
    assert report.key_version == 3 and vault.keyring.versions == [3]
    assert KeyRing.load(tmp_path, environ={}).versions == [3]
    assert SecretStore(store, KeyRing.load(tmp_path, environ={}), redactor=Redactor()).get("a") == "value-a-123456"
    store.dispose()


def test_generated_secrets_are_created_once(sqlite_url: str, tmp_path: Path) -> None:
    store, vault = _secrets(sqlite_url, tmp_path)
    first = vault.get_or_create("engine/pepper", lambda: "generated-one-123456")
    other = SecretStore(store, vault.keyring, redactor=Redactor())
    # Another process that raced past its NotFound still keeps the first value.
    other.set("engine/pepper", "generated-two-123456", only_if_absent=True)
    assert first == other.get_or_create("engine/pepper", lambda: "generated-three-123456") == "generated-one-123456"
    store.dispose()


def test_engine_owned_names_are_reserved(sqlite_url: str, tmp_path: Path) -> None:
    store, vault = _secrets(sqlite_url, tmp_path)
    with pytest.raises(InputError, match="belong to ClawOps"):
        vault.set("clawops/api-key-pepper", "attacker-chosen-pepper")
    store.dispose()


def test_a_lost_key_file_is_reported_not_replaced(sqlite_url: str, tmp_path: Path) -> None:
    from engine.trust import Trust

    store = open_store(sqlite_url)
    Trust(store, tmp_path, environ={}).secrets.set("a/b", "value-a-b-123456")
    (tmp_path / KEY_FILE_NAME).unlink()
    trust = Trust(store, tmp_path, environ={})
    with pytest.raises(ConfigError, match="restore the key file"):
        trust.secrets.get("a/b")
    assert not (tmp_path / KEY_FILE_NAME).exists()
    assert trust.prime_redactor() == 0  # other commands keep working; secret commands say what is wrong
    store.dispose()
