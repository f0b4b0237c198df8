"""The secret store: provider tokens, channel tokens and webhook secrets, encrypted at rest.

Each secret is sealed with AES-256-GCM (``cryptography``'s AESGCM, an AEAD)
under a versioned **key-encryption key** (KEK).  The associated data binds the
ciphertext to the secret's name and key version, so a row copied under another
name (say, a webhook secret pasted over a provider token) fails to decrypt
instead of silently swapping secrets.

Where the KEK comes from, first match wins:

* ``CLAWOPS_MASTER_KEY`` — base64 of 32 bytes, or several versions as
  ``"2:<b64>,1:<b64>"`` (the highest is current).  For deployments that keep
  keys in a secrets manager; rotation then means putting the new key first and
  running ``rotate`` (the process cannot write the environment);
* ``$CLAWOPS_HOME/master.key`` — a JSON key ring, mode 0600, created on first
  use.  A key file readable by group or others is refused, not silently used.

**Rotation** adds a new key version to the ring (written atomically, old
versions kept), then re-encrypts every row still under an older version, in
small committed batches.  Each row changes in one UPDATE guarded by its old
version, so a kill at any point leaves every row readable under *some* version
still in the ring; running ``rotate`` again finishes the job (it notices rows
under old versions and resumes instead of starting another version).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets as _random
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import bindparam, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from engine import audit
from engine.errors import ConfigError, InputError, NotFound
from engine.store import SecretRecord, Store, utcnow
from engine.text import Redactor, default_redactor

__all__ = [
    "KEY_FILE_NAME",
    "MASTER_KEY_ENV",
    "RESERVED_PREFIX",
    "KeyRing",
    "RotationReport",
    "SecretInfo",
    "SecretStore",
    "validate_secret_name",
]

MASTER_KEY_ENV = "CLAWOPS_MASTER_KEY"
KEY_FILE_NAME = "master.key"
_KEY_BYTES = 32
#: Secrets under this prefix are generated and owned by the engine.
RESERVED_PREFIX = "clawops/"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/\-]{0,199}")


def validate_secret_name(name: str) -> str:
    """Secret names are short, printable and safe to show (they are listed; values never are)."""
    if not _NAME_RE.fullmatch(name or ""):
        raise InputError(
            f"'{name[:60]}' is not a valid secret name; use letters, digits and . _ : / - (up to 200 characters)."
        )
    return name


def _decode_key(text: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip() + "=" * (-len(text.strip()) % 4), altchars=b"-_", validate=False)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _KEY_BYTES:
        raise ConfigError(f"{where} is not a base64-encoded 32-byte key; generate one with `openssl rand -base64 32`.")
    return raw


def _encode_key(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


class KeyRing:
    """Versioned key-encryption keys: ``current`` encrypts, every version still present decrypts."""

    def __init__(self, keys: Mapping[int, bytes], *, source: str, path: Path | None = None) -> None:
        if not keys:
            raise ConfigError("The key ring is empty; set CLAWOPS_MASTER_KEY or let ClawOps create its key file.")
        self._keys = dict(keys)
        self.source = source
        self.path = path

    @property
    def current(self) -> int:
        return max(self._keys)

    @property
    def versions(self) -> list[int]:
        return sorted(self._keys)

    @property
    def writable(self) -> bool:
        """Only a key file can grow a new version; an environment key is changed by whoever set it."""
        return self.path is not None

    def key(self, version: int) -> bytes:
        try:
            return self._keys[version]
        except KeyError:
            raise ConfigError(
                f"Key version {version} is not in the key ring ({self.source}); restore the key that encrypted it."
            ) from None

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, home: Path, *, environ: Mapping[str, str] | None = None, create: bool = True) -> KeyRing:
        """The key ring from ``CLAWOPS_MASTER_KEY`` or ``home/master.key`` (created 0600 if missing)."""
        env = os.environ if environ is None else environ
        value = env.get(MASTER_KEY_ENV, "").strip()
        if value:
            return cls(cls._parse_env(value), source=MASTER_KEY_ENV)
        path = home / KEY_FILE_NAME
        if not path.exists():
            if not create:
                raise ConfigError(
                    f"No master key at {path} and {MASTER_KEY_ENV} is unset, but the store holds encrypted secrets; "
                    "restore the key file or set the variable."
                )
            cls._write_file(path, {1: AESGCM.generate_key(bit_length=256)}, exclusive=True)
        return cls(cls._read_file(path), source=str(path), path=path)

    @staticmethod
    def _parse_env(value: str) -> dict[int, bytes]:
        keys: dict[int, bytes] = {}
        parts = [p for p in value.split(",") if p.strip()]
        for part in parts:
            version_text, sep, key_text = part.strip().partition(":")
            if not sep:
                version_text, key_text = "1", part
            if not version_text.isdigit() or int(version_text) < 1:
                raise ConfigError(f"{MASTER_KEY_ENV} must be a key or 'VERSION:KEY' pairs separated by commas.")
            keys[int(version_text)] = _decode_key(key_text, f"{MASTER_KEY_ENV} (version {version_text})")
        return keys

    @staticmethod
    def _read_file(path: Path) -> dict[int, bytes]:
        try:
            mode = path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigError(
                    f"The master key file {path} is readable by other users; run `chmod 600 {path}` and retry."
                )
            data = json.loads(path.read_text(encoding="utf-8"))
            return {int(v): _decode_key(k, f"Key version {v} in {path}") for v, k in data["keys"].items()}
        except ConfigError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"The master key file {path} cannot be read ({type(exc).__name__}); restore it."
            ) from None

    @staticmethod
    def _write_file(path: Path, keys: Mapping[int, bytes], *, exclusive: bool = False) -> None:
        """Write the ring atomically: a 0600 temp file, fsync, rename, fsync the folder."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        body = json.dumps(
            {"format": 1, "current": max(keys), "keys": {str(v): _encode_key(k) for v, k in sorted(keys.items())}},
            indent=1,
        ).encode()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        if exclusive:
            try:
                os.link(tmp, path)  # fails if another process created the key first: keep theirs
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        else:
            os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def retire_below(self, version: int) -> list[int]:
        """Drop key versions older than ``version`` from the key file (after a finished rotation)."""
        if self.path is None:
            return []
        old = [v for v in self._keys if v < version]
        if old:
            keys = {v: k for v, k in self._keys.items() if v >= version}
            self._write_file(self.path, keys)
            self._keys = keys
        return old

    def add_version(self) -> int:
        """Generate a new current key, persisted before any row uses it."""
        if self.path is None:
            raise ConfigError(
                f"The master key comes from {MASTER_KEY_ENV}; put the new key first as 'N:KEY,...' and run rotate again."
            )
        keys = dict(self._keys)
        new = max(keys) + 1
        keys[new] = AESGCM.generate_key(bit_length=256)
        self._write_file(self.path, keys)
        self._keys = keys
        return new


@dataclass(frozen=True, slots=True)
class SecretInfo:
    """What ``secrets list`` may show: never the value."""

    name: str
    key_version: int
    created_at: datetime
    rotated_at: datetime | None

    def age_days(self, now: datetime | None = None) -> float:
        """Days since the value or its encryption last changed."""
        since = _aware(self.rotated_at or self.created_at)
        return ((now or utcnow()) - since).total_seconds() / 86400


@dataclass(frozen=True, slots=True)
class RotationReport:
    key_version: int
    rotated: int
    resumed: bool
    remaining: int


def _aware(dt: datetime) -> datetime:
    from datetime import UTC

    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _aad(name: str, version: int) -> bytes:
    return f"clawops-secret/v1|{name}|{version}".encode()


class SecretStore:
    """Encrypted secrets in the store's ``secrets`` table, under a :class:`KeyRing`."""

    def __init__(self, store: Store, keyring: KeyRing, *, redactor: Redactor | None = None) -> None:
        self.store = store
        self.keyring = keyring
        self.redactor = redactor if redactor is not None else default_redactor()
        self._aeads: dict[int, tuple[bytes, AESGCM]] = {}

    # ------------------------------------------------------------------ sealing
    def _aead(self, version: int) -> AESGCM:
        key = self.keyring.key(version)
        cached = self._aeads.get(version)
        if cached is None or cached[0] != key:
            cached = (key, AESGCM(key))
            self._aeads[version] = cached
        return cached[1]

    def _seal(self, name: str, value: str, version: int) -> tuple[str, str]:
        nonce = _random.token_bytes(12)
        sealed = self._aead(version).encrypt(nonce, value.encode(), _aad(name, version))
        return base64.b64encode(nonce).decode(), base64.b64encode(sealed).decode()

    def _open(self, name: str, version: int, nonce: str, ciphertext: str) -> str:
        aead = self._aead(version)
        try:
            plain = aead.decrypt(base64.b64decode(nonce), base64.b64decode(ciphertext), _aad(name, version))
        except (InvalidTag, binascii.Error, ValueError):
            raise ConfigError(
                f"Secret {name} cannot be decrypted with key version {version} (wrong master key, or the row was "
                "tampered with); restore the right master key or set the secret again."
            ) from None
        value = plain.decode()
        self.redactor.add(value)
        return value

    # ------------------------------------------------------------------ API
    def set(
        self,
        name: str,
        value: str,
        *,
        actor: str = "system",
        channel: str = "engine",
        only_if_absent: bool = False,
        internal: bool = False,
    ) -> SecretInfo:
        """Store (or replace) a secret under the current key; audited without its value.

        ``only_if_absent`` keeps an existing value (used for secrets the engine generates itself).
        Names under ``clawops/`` belong to the engine (``internal``): replacing the API-key
        pepper from the command line would silently invalidate every key.
        """
        validate_secret_name(name)
        if name.startswith(RESERVED_PREFIX) and not internal:
            raise InputError(
                f"Secret names starting with {RESERVED_PREFIX} belong to ClawOps itself; pick another name."
            )
        if not value:
            raise InputError(f"The value for secret {name} is empty; pass a non-empty value on standard input.")
        self.redactor.add(value)
        version = self.keyring.current
        nonce, ciphertext = self._seal(name, value, version)
        now = utcnow()
        with self.store.session() as s:
            row = s.get(SecretRecord, name)
            if row is not None and only_if_absent:
                return SecretInfo(
                    row.name, row.key_version, _aware(row.created_at), row.rotated_at and _aware(row.rotated_at)
                )
            action = "secret.update" if row is not None else "secret.create"
            if row is None:
                row = SecretRecord(name=name, key_version=version, nonce=nonce, ciphertext=ciphertext, created_at=now)
            else:
                row.key_version, row.nonce, row.ciphertext = version, nonce, ciphertext
                row.created_at, row.rotated_at = now, None
            s.add(row)
            audit.append(s, actor=actor, channel=channel, action=action, target=name, detail={"key_version": version})
        return SecretInfo(name, version, now, None)

    def get(self, name: str) -> str:
        """The plaintext of one secret (registered with the redactor before it is returned)."""
        with self.store.session() as s:
            row = s.get(SecretRecord, name)
        if row is None:
            raise NotFound(f"No secret named {name}; set it with `clawops secrets set {name}`.")
        return self._open(row.name, row.key_version, row.nonce, row.ciphertext)

    def get_or_create(self, name: str, factory: Callable[[], str]) -> str:
        """A secret that the engine generates itself on first use (e.g. the API-key pepper)."""
        try:
            return self.get(name)
        except NotFound:
            pass
        try:  # two processes may race here: the first insert wins, the other reads it back
            self.set(name, factory(), actor="system", channel="engine", only_if_absent=True, internal=True)
        except IntegrityError:
            pass
        return self.get(name)

    def delete(self, name: str, *, actor: str = "system", channel: str = "engine") -> None:
        with self.store.session() as s:
            row = s.get(SecretRecord, name)
            if row is None:
                raise NotFound(f"No secret named {name}; `clawops secrets list` shows the names.")
            s.delete(row)
            audit.append(s, actor=actor, channel=channel, action="secret.delete", target=name)

    def list(self) -> list[SecretInfo]:
        with self.store.session() as s:
            rows = s.exec(select(SecretRecord).order_by(col(SecretRecord.name))).all()
        return [
            SecretInfo(r.name, r.key_version, _aware(r.created_at), r.rotated_at and _aware(r.rotated_at)) for r in rows
        ]

    def values(self) -> Iterator[tuple[str, str]]:
        """Every (name, plaintext): feeds the redactor at start-up.  Undecryptable rows are skipped."""
        for info in self.list():
            try:
                yield info.name, self.get(info.name)
            except ConfigError:
                continue

    def load_into_redactor(self) -> int:
        """Teach the redactor every stored value; returns how many secrets it knows."""
        return sum(1 for _ in self.values())

    def pending_rotation(self) -> int:
        """Rows not yet under the current key version (non-zero after an interrupted rotation)."""
        with self.store.session() as s:
            rows = s.exec(select(SecretRecord.name).where(col(SecretRecord.key_version) != self.keyring.current)).all()
        return len(rows)

    def rotate(
        self,
        *,
        actor: str = "system",
        channel: str = "engine",
        batch: int = 200,
        progress: Callable[[int], None] | None = None,
        retire: bool = False,
    ) -> RotationReport:
        """Re-encrypt every secret under a new key version; resumes an interrupted rotation.

        ``progress(n)`` is called after each row is re-encrypted (inside its
        batch's transaction) — the UI's progress bar, and the tests' crash point.
        ``retire`` drops the older key versions from the key file once no row uses
        them (a stolen old backup plus the current key file then opens nothing).
        """
        resumed = self.pending_rotation() > 0
        if not resumed and self.keyring.writable:
            self.keyring.add_version()  # with an environment key, the newest env version is the target
        target = self.keyring.current
        with self.store.session() as s:
            audit.append(
                s,
                actor=actor,
                channel=channel,
                action="secret.rotate.start",
                target=f"v{target}",
                detail={"resumed": resumed},
            )
        done = 0
        last = ""
        guarded = (
            update(SecretRecord)
            .where(
                col(SecretRecord.name) == bindparam("b_name"), col(SecretRecord.key_version) == bindparam("b_version")
            )
            .values(
                key_version=bindparam("v_version"),
                nonce=bindparam("v_nonce"),
                ciphertext=bindparam("v_ciphertext"),
                rotated_at=bindparam("v_at"),
            )
        )
        while True:
            with self.store.session() as s:
                rows = s.execute(
                    select(SecretRecord.name, SecretRecord.key_version, SecretRecord.nonce, SecretRecord.ciphertext)
                    .where(col(SecretRecord.key_version) != target, col(SecretRecord.name) > last)
                    .order_by(col(SecretRecord.name))
                    .limit(batch)
                ).all()
                if not rows:
                    break
                now = utcnow()
                params = []
                for name, version, old_nonce, old_ciphertext in rows:
                    value = self._open(name, version, old_nonce, old_ciphertext)
                    nonce, ciphertext = self._seal(name, value, target)
                    params.append(
                        {
                            "b_name": name,
                            "b_version": version,
                            "v_version": target,
                            "v_nonce": nonce,
                            "v_ciphertext": ciphertext,
                            "v_at": now,
                        }
                    )
                    done += 1
                    last = name
                    if progress is not None:
                        progress(done)
                # One executemany per batch; each row is guarded by the version it was read under.
                s.connection().execute(guarded, params)
        remaining = self.pending_rotation()
        retired = self.keyring.retire_below(target) if retire and remaining == 0 else []
        with self.store.session() as s:
            audit.append(
                s,
                actor=actor,
                channel=channel,
                action="secret.rotate",
                target=f"v{target}",
                outcome="ok" if remaining == 0 else "partial",
                detail={"rotated": done, "resumed": resumed, "remaining": remaining, "retired": retired},
            )
        return RotationReport(target, done, resumed, remaining)
