"""API keys: generated once, shown once, stored only as a keyed hash.

Format: ``cok_<prefix>_<secret>`` — ``prefix`` is 8 hex digits that find the
row (and are safe to show in lists and audit entries), ``secret`` is 32 random
bytes (``secrets.token_urlsafe``).  The store keeps
``hmac-sha256:<hex>`` = HMAC-SHA256(pepper, whole key).

Why HMAC with a pepper rather than a slow KDF (Argon2/scrypt/PBKDF2): a slow
KDF protects *low-entropy* passwords from guessing.  These keys carry 256
random bits, so guessing is hopeless whatever the hash; a KDF would only add
~50–100 ms of CPU to every API call and chat turn on a small box.  The pepper
is a random 32-byte value kept in the *encrypted* secret store (under the
master key, not in the ``api_keys`` row), so a stolen database dump alone does
not even let someone test a candidate key offline.  Comparison is
:func:`hmac.compare_digest` (constant time), and an unknown prefix still
computes an HMAC so timing does not reveal which prefixes exist.

Scopes cap what a key may do, on top of its operator's role: ``read``
(viewer), ``operate`` (operator), ``admin`` (owner).  The caller a key
authenticates as carries the *lower* of the two, so the policy engine's role
check — run on every operation — enforces the scope too.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets as _random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from engine import audit
from engine.errors import AuthenticationError, InputError, NotFound
from engine.policy import Caller, Role, require_role
from engine.store import ApiKey, Operator, Store, utcnow
from engine.trust._operators import _require_admin
from engine.trust._throttle import Burst, LoginThrottle, throttled

__all__ = [
    "KEY_PREFIX",
    "LOGIN_AUDIT_GAP",
    "SCOPES",
    "IssuedKey",
    "KeyView",
    "authenticate",
    "hash_key",
    "issue_key",
    "list_keys",
    "revoke_key",
]

KEY_PREFIX = "cok"
SCOPES: dict[str, Role] = {"read": Role.VIEWER, "operate": Role.OPERATOR, "admin": Role.OWNER}
_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.OWNER: 2}
_ROLE_SCOPES = {Role.VIEWER: ["read"], Role.OPERATOR: ["read", "operate"], Role.OWNER: ["read", "operate", "admin"]}
_KEY_RE = re.compile(r"cok_([0-9a-f]{8})_([A-Za-z0-9_\-]{32,64})")
#: A successful login is audited when the key was idle this long (one entry per "session", not per request).
LOGIN_AUDIT_GAP = timedelta(minutes=15)
#: ``last_used_at`` is written at most this often per key (no write per request).
_TOUCH_EVERY = timedelta(seconds=60)
_BAD_KEY = "That API key is wrong or revoked; ask an owner for a new key with `clawops operator key`."


def hash_key(key: str, pepper: bytes) -> str:
    """The stored form of a key."""
    return "hmac-sha256:" + hmac.new(pepper, key.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key.  ``key`` exists only here: show it once, then let it go."""

    id: str
    operator: str
    prefix: str
    scopes: tuple[str, ...]
    key: str

    def __repr__(self) -> str:  # never in a log or traceback by accident
        return f"IssuedKey(id={self.id!r}, operator={self.operator!r}, scopes={self.scopes!r}, key=[REDACTED])"


@dataclass(frozen=True, slots=True)
class KeyView:
    id: str
    operator: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "operator": self.operator,
            "prefix": self.prefix,
            "scopes": list(self.scopes),
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at and self.last_used_at.isoformat(),
            "revoked_at": self.revoked_at and self.revoked_at.isoformat(),
        }


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _scopes_for(role: Role, scopes: list[str] | None) -> list[str]:
    if not scopes:
        return list(_ROLE_SCOPES[role])
    wanted = sorted(set(scopes), key=lambda sc: _RANK[SCOPES[sc]] if sc in SCOPES else -1)
    for scope in wanted:
        if scope not in SCOPES:
            raise InputError(f"'{scope[:20]}' is not a key scope; use read, operate or admin.")
        if _RANK[SCOPES[scope]] > _RANK[role]:
            raise InputError(f"A {role} cannot hold a key with the {scope} scope; pick a narrower scope.")
    return wanted


def issue_key(store: Store, by: Caller, operator: str, pepper: bytes, *, scopes: list[str] | None = None) -> IssuedKey:
    """Create a key for ``operator`` (default scopes: everything its role allows)."""
    with store.session() as s:
        op = s.exec(select(Operator).where(col(Operator.name) == operator)).first()
        if op is None:
            raise NotFound(f"No operator named '{operator}'; `clawops operator list` shows them.")
        _require_admin(by, "operator key", op.tenant_id)
        if op.revoked_at is not None:
            raise InputError(f"Operator '{operator}' is revoked; keys cannot be issued to it.")
        granted = _scopes_for(Role(op.role), scopes)
        prefix = _random.token_hex(4)
        while s.exec(select(ApiKey.id).where(col(ApiKey.prefix) == prefix)).first() is not None:
            prefix = _random.token_hex(4)  # pragma: no cover - 1 in 4 billion
        key = f"{KEY_PREFIX}_{prefix}_{_random.token_urlsafe(32)}"
        row = ApiKey(id=f"key-{prefix}", operator_id=op.id, prefix=prefix, hash=hash_key(key, pepper), scopes=granted)
        s.add(row)
        audit.append(
            s,
            actor=by.actor,
            channel=by.channel,
            action="key.issue",
            target=operator,
            detail={"key": row.id, "scopes": granted},
        )
    return IssuedKey(row.id, operator, prefix, tuple(granted), key)


def _view(k: ApiKey, operator: str) -> KeyView:
    created = _aware(k.created_at)
    assert created is not None
    return KeyView(k.id, operator, k.prefix, tuple(k.scopes), created, _aware(k.last_used_at), _aware(k.revoked_at))


def list_keys(store: Store, by: Caller, *, operator: str | None = None) -> list[KeyView]:
    """Keys the caller may see (never their secrets: those are not stored)."""
    require_role(by, Role.OWNER, "key list")
    with store.session() as s:
        stmt = select(ApiKey, Operator).join(Operator, col(Operator.id) == col(ApiKey.operator_id))
        if operator is not None:
            stmt = stmt.where(col(Operator.name) == operator)
        if by.tenant_id is not None:
            stmt = stmt.where(col(Operator.tenant_id) == by.tenant_id)
        rows = s.exec(stmt.order_by(col(ApiKey.created_at))).all()
    return [_view(k, op.name) for k, op in rows]


def revoke_key(store: Store, by: Caller, key_id: str) -> KeyView:
    """Revoke one key by id (``key-<prefix>``) or prefix."""
    prefix = key_id.removeprefix("key-")
    with store.session() as s:
        row = s.exec(select(ApiKey).where(col(ApiKey.prefix) == prefix)).first()
        op = s.get(Operator, row.operator_id) if row is not None else None
        if row is None or op is None:
            raise NotFound(f"No API key {key_id[:20]}; `clawops operator list` shows operators and their keys.")
        _require_admin(by, "key revoke", op.tenant_id)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            s.add(row)
            audit.append(
                s, actor=by.actor, channel=by.channel, action="key.revoke", target=op.name, detail={"key": row.id}
            )
        return _view(row, op.name)


def _fail(s: Session, channel: str, actor: str, target: str, reason: str, source: str | None) -> None:
    detail = {"reason": reason} if source is None else {"reason": reason, "source": source[:80]}
    audit.append(
        s, actor=actor, channel=channel, action="login.failed", target=target, outcome="refused", detail=detail
    )


def authenticate(
    store: Store,
    key: str,
    pepper: bytes,
    *,
    channel: str = "api",
    now: datetime | None = None,
    source: str | None = None,
    throttle: LoginThrottle,
) -> Caller:
    """The caller an API key stands for, or :class:`AuthenticationError` (audited as a failed login).

    The message is the same for every failure, and never repeats the key.  Failures are throttled per client
    (``source``, the peer address) and per key id (its prefix), see ``engine.trust._throttle``: too many raise
    :class:`TooManyAttempts` - but only for a *wrong* key.  A right key always gets in, whatever was tried
    before from the same address or against the same prefix: a flood of bad keys from loopback (or a guess at
    a prefix shown in a key list) must never lock the owner's valid key out.  Guessing a 256-bit key is
    hopeless at any rate; the throttle keeps failures from becoming a flood of audit entries and work.
    """
    now = now or utcnow()
    source_bucket = f"{channel}:{source}" if source else None
    burst: Burst | None = None
    burst_what = ""
    match = _KEY_RE.fullmatch((key or "").strip())
    prefix = match.group(1) if match else None
    key_bucket = prefix or "malformed"
    digest = hash_key((key or "").strip(), pepper)
    failure: str | None = None
    with store.session() as s:
        row = s.exec(select(ApiKey).where(col(ApiKey.prefix) == prefix)).first() if prefix else None
        stored = row.hash if row is not None else hash_key("absent", pepper)
        same = hmac.compare_digest(digest.encode(), stored.encode())
        op = s.get(Operator, row.operator_id) if row is not None else None
        target = f"key-{prefix}" if prefix else "key:malformed"
        if row is None or op is None or not same:
            failure = "unknown key" if row is None else "wrong secret"
            actor = "unknown"
        elif row.revoked_at is not None or op.revoked_at is not None:
            failure = "revoked key" if row.revoked_at is not None else "revoked operator"
            actor = op.name
        if failure is not None:
            if source_bucket is not None and throttle.empty("hard", source_bucket):
                burst, burst_what = throttle.check("hard", source_bucket), "from this address"
            elif throttle.empty("soft", key_bucket):
                burst, burst_what = throttle.check("soft", key_bucket), f"with key prefix {key_bucket}"
            if burst is None:
                _fail(s, channel, actor, target, failure, source)
        else:
            assert row is not None and op is not None
            last = _aware(row.last_used_at)
            if last is None or now - last >= LOGIN_AUDIT_GAP:
                detail: dict[str, object] = {"scopes": list(row.scopes)}
                if source:
                    detail["source"] = source[:80]
                audit.append(s, actor=op.name, channel=channel, action="login", target=row.id, detail=detail)
            if last is None or now - last >= _TOUCH_EVERY:
                row.last_used_at = now
                s.add(row)
            cap = max((SCOPES[sc] for sc in row.scopes if sc in SCOPES), key=_RANK.__getitem__, default=Role.VIEWER)
            role = min(Role(op.role), cap, key=_RANK.__getitem__)
            caller = Caller(operator_id=op.id, name=op.name, role=role, tenant_id=op.tenant_id, channel=channel)
    if failure is not None:
        if source_bucket is not None:
            throttle.failed("hard", source_bucket)
        throttle.failed("soft", key_bucket)
        if burst is not None:
            raise throttled(store, burst, channel, burst_what)
        raise AuthenticationError(_BAD_KEY)
    return caller
