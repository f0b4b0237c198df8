"""Operators, their roles and tenant scope, and the channel identities that map to them.

An operator is who is allowed to talk to the team: ``owner`` administers,
``operator`` acts, ``viewer`` reads (the policy engine checks the role on every
operation).  A tenant-scoped operator sees only that tenant's fleet (rule 6).
Only an owner changes operators, and a tenant-scoped owner only within its own
tenant.  Every change is an audit entry.

A **channel identity** — a Telegram user id, a WhatsApp number, an SSH user —
maps one external id on one channel to one operator.  A message is believed
only if its ``(channel, external_id)`` pair is registered: a display name that
says "owner", or a WhatsApp number presented on Telegram, maps to nothing.
"""

from __future__ import annotations

import re
import secrets as _random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from engine import audit
from engine.errors import AuthenticationError, InputError, NotFound
from engine.policy import Caller, Role, require_role
from engine.store import ApiKey, ChannelIdentity, Operator, Store, Tenant, utcnow
from engine.trust._throttle import LoginThrottle, audit_burst, throttled

__all__ = [
    "CHANNELS",
    "IdentityView",
    "OperatorView",
    "add_operator",
    "caller_for_operator",
    "link_identity",
    "list_identities",
    "list_operators",
    "normalize_external_id",
    "refusal_auditor",
    "resolve_identity",
    "revoke_operator",
    "unlink_identity",
]

CHANNELS = ("telegram", "whatsapp", "ssh")
_NAME_RE = re.compile(r"[a-z][a-z0-9_.\-]{0,63}")
_SSH_RE = re.compile(r"[a-z_][a-z0-9_\-]{0,31}")


@dataclass(frozen=True, slots=True)
class OperatorView:
    id: str
    name: str
    role: str
    tenant_id: str | None
    created_at: datetime
    revoked_at: datetime | None
    keys: int = 0
    identities: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "tenant": self.tenant_id,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at and self.revoked_at.isoformat(),
            "active_keys": self.keys,
            "identities": list(self.identities),
        }


@dataclass(frozen=True, slots=True)
class IdentityView:
    channel: str
    external_id: str
    operator: str


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _view(s: Session, op: Operator) -> OperatorView:
    keys = s.exec(select(ApiKey.id).where(col(ApiKey.operator_id) == op.id, col(ApiKey.revoked_at).is_(None))).all()
    idents = s.exec(select(ChannelIdentity).where(col(ChannelIdentity.operator_id) == op.id)).all()
    created = _aware(op.created_at)
    assert created is not None
    return OperatorView(
        op.id,
        op.name,
        op.role,
        op.tenant_id,
        created,
        _aware(op.revoked_at),
        len(keys),
        tuple(sorted(f"{i.channel}:{i.external_id}" for i in idents)),
    )


def _require_admin(by: Caller, action: str, tenant_id: str | None) -> None:
    """Owners administer; a tenant-scoped owner only inside its own tenant."""
    require_role(by, Role.OWNER, action)
    if by.tenant_id is not None and tenant_id != by.tenant_id:
        from engine.errors import PolicyRefusal

        raise PolicyRefusal(
            "rule6_tenant_isolation",
            f"Refused by rule 6: {by.name} is scoped to tenant {by.tenant_id} and cannot manage operators outside it.",
        )


def _operator_by_name(s: Session, name: str) -> Operator:
    op = s.exec(select(Operator).where(col(Operator.name) == name)).first()
    if op is None:
        raise NotFound(f"No operator named '{name}'; `clawops operator list` shows them.")
    return op


def add_operator(store: Store, by: Caller, name: str, role: str, *, tenant_id: str | None = None) -> OperatorView:
    """Create an operator; names are lower-case handles people type in chat."""
    if not _NAME_RE.fullmatch(name or ""):
        raise InputError(
            f"'{name[:40]}' is not a valid operator name; use lower-case letters, digits, '.', '_' or '-'."
        )
    try:
        role_value = Role(role).value
    except ValueError:
        raise InputError(f"'{role}' is not a role; use owner, operator or viewer.") from None
    if by.tenant_id is not None and tenant_id is None:
        tenant_id = by.tenant_id  # a tenant's owner creates operators of that tenant
    _require_admin(by, "operator add", tenant_id)
    with store.session() as s:
        if tenant_id is not None and s.get(Tenant, tenant_id) is None:
            raise NotFound(f"No tenant {tenant_id} exists; check the tenant id.")
        if s.exec(select(Operator.id).where(col(Operator.name) == name)).first() is not None:
            raise InputError(f"An operator named '{name}' already exists; pick another name.")
        op = Operator(id=f"op-{_random.token_hex(4)}", name=name, role=role_value, tenant_id=tenant_id)
        s.add(op)
        s.flush()
        audit.append(
            s,
            actor=by.actor,
            channel=by.channel,
            action="operator.add",
            target=name,
            detail={"role": role_value, "tenant": tenant_id},
        )
        return _view(s, op)


def list_operators(store: Store, by: Caller, *, include_revoked: bool = True) -> list[OperatorView]:
    """Operators the caller may see: everyone for an unscoped caller, its tenant's otherwise."""
    require_role(by, Role.OWNER, "operator list")  # names and phone numbers are an owner's business
    with store.session() as s:
        stmt = select(Operator).order_by(col(Operator.name))
        if by.tenant_id is not None:
            stmt = stmt.where(col(Operator.tenant_id) == by.tenant_id)
        if not include_revoked:
            stmt = stmt.where(col(Operator.revoked_at).is_(None))
        return [_view(s, op) for op in s.exec(stmt).all()]


def revoke_operator(store: Store, by: Caller, name: str) -> OperatorView:
    """Revoke an operator, all its API keys and its channel identities, in one transaction."""
    with store.session() as s:
        op = _operator_by_name(s, name)
        _require_admin(by, "operator revoke", op.tenant_id)
        if op.id == by.operator_id:
            raise InputError("You cannot revoke yourself; ask another owner.")
        if op.role == Role.OWNER.value and op.revoked_at is None:
            owners = s.exec(
                select(Operator.id).where(col(Operator.role) == Role.OWNER.value, col(Operator.revoked_at).is_(None))
            ).all()
            if len(owners) <= 1:
                raise InputError(f"'{name}' is the last active owner; add another owner before revoking it.")
        now = utcnow()
        if op.revoked_at is None:
            op.revoked_at = now
            s.add(op)
        live = s.exec(select(ApiKey).where(col(ApiKey.operator_id) == op.id, col(ApiKey.revoked_at).is_(None))).all()
        for key in live:
            key.revoked_at = now
            s.add(key)
        keys = len(live)
        idents = s.exec(select(ChannelIdentity).where(col(ChannelIdentity.operator_id) == op.id)).all()
        for ident in idents:
            s.delete(ident)
        audit.append(
            s,
            actor=by.actor,
            channel=by.channel,
            action="operator.revoke",
            target=name,
            detail={"keys_revoked": keys, "identities_removed": len(idents)},
        )
        s.flush()
        return _view(s, op)


def normalize_external_id(channel: str, external_id: str) -> str:
    """One spelling per identity, so ``+49 170 1234567`` and ``491701234567`` are the same number.

    Strict on purpose: an id that does not look like its channel's ids is
    rejected, rather than stored in a form that a forged message might match.
    """
    value = (external_id or "").strip()
    if channel == "telegram":
        if not value.isdigit() or len(value) > 20:
            raise InputError(f"'{value[:30]}' is not a Telegram user id; use the numeric id (e.g. 123456789).")
        return str(int(value))
    if channel == "whatsapp":
        digits = re.sub(r"[\s\-().]", "", value).removeprefix("+")
        if not digits.isdigit() or not 7 <= len(digits) <= 15:
            raise InputError(
                f"'{value[:30]}' is not a WhatsApp number; use the international form, e.g. +491701234567."
            )
        return digits
    if channel == "ssh":
        if not _SSH_RE.fullmatch(value):
            raise InputError(f"'{value[:30]}' is not an SSH user name.")
        return value
    raise InputError(f"'{channel[:20]}' is not a channel with identities; use {', '.join(CHANNELS)}.")


def link_identity(store: Store, by: Caller, name: str, channel: str, external_id: str) -> IdentityView:
    """Map ``(channel, external_id)`` to operator ``name``; an id already mapped elsewhere is refused."""
    ext = normalize_external_id(channel, external_id)
    with store.session() as s:
        op = _operator_by_name(s, name)
        _require_admin(by, "operator link", op.tenant_id)
        if op.revoked_at is not None:
            raise InputError(f"Operator '{name}' is revoked; add a new operator instead.")
        existing = s.get(ChannelIdentity, (channel, ext))
        if existing is not None:
            if existing.operator_id == op.id:
                return IdentityView(channel, ext, name)
            raise InputError(f"That {channel} identity already belongs to another operator; unlink it first.")
        s.add(ChannelIdentity(channel=channel, external_id=ext, operator_id=op.id))
        audit.append(
            s,
            actor=by.actor,
            channel=by.channel,
            action="operator.link",
            target=name,
            detail={"channel": channel, "external_id": ext},
        )
    return IdentityView(channel, ext, name)


def unlink_identity(store: Store, by: Caller, channel: str, external_id: str) -> None:
    ext = normalize_external_id(channel, external_id)
    with store.session() as s:
        ident = s.get(ChannelIdentity, (channel, ext))
        if ident is None:
            raise NotFound(f"No operator is linked to that {channel} identity.")
        op = s.get(Operator, ident.operator_id)
        _require_admin(by, "operator unlink", op.tenant_id if op else None)
        s.delete(ident)
        audit.append(
            s,
            actor=by.actor,
            channel=by.channel,
            action="operator.unlink",
            target=op.name if op else ident.operator_id,
            detail={"channel": channel, "external_id": ext},
        )


def list_identities(store: Store) -> list[IdentityView]:
    with store.session() as s:
        rows = s.exec(
            select(ChannelIdentity, Operator.name).join(Operator, col(Operator.id) == col(ChannelIdentity.operator_id))
        ).all()
    return sorted(
        (IdentityView(i.channel, i.external_id, n) for i, n in rows), key=lambda v: (v.channel, v.external_id)
    )


def _caller(op: Operator, channel: str, role: Role | None = None) -> Caller:
    return Caller(operator_id=op.id, name=op.name, role=role or Role(op.role), tenant_id=op.tenant_id, channel=channel)


def caller_for_operator(store: Store, name: str, channel: str = "cli") -> Caller:
    """The caller for a named, active operator (local CLI use, where the OS user is the credential)."""
    with store.session() as s:
        op = s.exec(select(Operator).where(col(Operator.name) == name)).first()
    if op is None or op.revoked_at is not None:
        raise AuthenticationError(f"No active operator named '{name}'; use an existing operator (e.g. owner).")
    return _caller(op, channel)


def resolve_identity(store: Store, channel: str, external_id: str, *, throttle: LoginThrottle) -> Caller:
    """Who a chat message is from, or :class:`AuthenticationError` (audited as a failed login).

    Only the ``(channel, external_id)`` the transport itself reports counts —
    never a name or number written in the message.  Repeated failures are
    throttled (``engine.trust._throttle``): one claimed identity that keeps
    failing is refused unchecked for a while, and a flood across a whole
    channel stops writing an audit entry per message (linked operators still
    get through); either way :class:`TooManyAttempts`, audited once per burst.
    """
    try:
        ext = normalize_external_id(channel, external_id)
    except InputError:
        ext = None
    who = f"{channel}:{(ext or str(external_id))[:64]}"
    burst = throttle.check("hard", who)
    if burst is not None:
        raise throttled(store, burst, channel, f"from {channel} sender {who.partition(':')[2]}")
    with store.session() as s:
        ident = s.get(ChannelIdentity, (channel, ext)) if ext is not None else None
        op = s.get(Operator, ident.operator_id) if ident is not None else None
        failed = op is None or op.revoked_at is not None
        if failed:
            burst = throttle.check("channel", channel) if throttle.empty("channel", channel) else None
            if burst is None:
                reason = "unknown identity" if op is None else "revoked operator"
                audit.append(
                    s,
                    actor=op.name if op else "unknown",
                    channel=channel,
                    action="login.failed",
                    target=who,
                    outcome="refused",
                    detail={"reason": reason},
                )
    if failed or op is None:
        throttle.failed("hard", who)
        if burst is not None:
            raise throttled(store, burst, channel, f"on {channel} from unknown senders")
        throttle.failed("channel", channel)
        raise AuthenticationError(
            f"This {channel} identity is not linked to an active operator; ask an owner to run `clawops operator link`."
        )
    return _caller(op, channel)


def refusal_auditor(store: Store, *, throttle: LoginThrottle) -> Callable[[Any], None]:
    """An audit hook for the Telegram and WhatsApp adapters' refusals (``engine.channels.Refusal``).

    The adapters drop messages from senders they do not know (and WhatsApp webhooks with a bad
    signature) before any turn runs; this hook writes each one as ``login.failed`` — throttled like
    :func:`resolve_identity`, so one sender (or a whole channel) forging identities again and again
    fills the chain with one ``login.throttled`` entry per burst, not one entry per message.
    """
    from engine.text import default_redactor

    def hook(refusal: Any) -> None:
        channel = str(refusal.channel)
        who = f"{channel}:{str(refusal.sender_id)[:64]}"
        burst = throttle.check("hard", who)
        if burst is None and throttle.empty("channel", channel):
            burst = throttle.check("channel", channel)
        if burst is not None:
            if burst.first:
                audit_burst(store, burst, channel)
            return
        throttle.failed("hard", who)
        throttle.failed("channel", channel)
        with store.session() as s:
            audit.append(
                s,
                actor="unknown",
                channel=channel,
                action="login.failed",
                target=who,
                outcome="refused",
                detail={"reason": str(refusal.reason), "message": default_redactor().scrub(str(refusal.detail)[:200])},
            )

    return hook
