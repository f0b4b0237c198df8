"""Who may connect: paired devices, pending pairing requests, single-use bootstrap tokens.

Kept in memory and behind this one class on purpose: the lead owns the store, so persistence is a
later swap (``export_state``/``import_state`` give the seam).  Tokens are kept only as SHA-256
hashes, so a dump of this registry never hands out credentials.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Approval", "BootstrapGrant", "DeviceRegistry", "PairedDevice", "PairingRequest"]

BOOTSTRAP_TTL_S = 600.0
"""Single-use bootstrap tokens are valid 10 minutes, as OpenClaw's setup codes."""
PENDING_TTL_S = 300.0
"""Pending pairing requests expire 5 minutes after the node's last retry."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class PairedDevice:
    device_id: str
    public_key: str
    token_hash: str
    paired_at_ms: int
    approved_via: str
    account_id: str | None = None
    instance_id: str | None = None
    display_name: str | None = None


@dataclass
class PairingRequest:
    """A device that presented valid proof of its key but is not paired yet."""

    request_id: str
    device_id: str
    public_key: str
    display_name: str | None
    client_instance_id: str | None
    remote_addr: str | None
    commands: list[str]
    ts_ms: int
    last_seen: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Approval:
    """An operator's (or policy's) yes to a pairing request, optionally binding the device to an account."""

    account_id: str | None = None
    instance_id: str | None = None


@dataclass(frozen=True)
class BootstrapGrant:
    instance_id: str
    account_id: str
    expires_at: float


class DeviceRegistry:
    """In-memory pairing state of one gateway."""

    def __init__(self, *, bootstrap_ttl_s: float = BOOTSTRAP_TTL_S, clock: Any = time.time) -> None:
        self._paired: dict[str, PairedDevice] = {}
        self._pending: dict[str, PairingRequest] = {}
        self._bootstrap: dict[str, BootstrapGrant] = {}
        self._bootstrap_ttl_s = bootstrap_ttl_s
        self._clock = clock

    # --- bootstrap tokens ---------------------------------------------------------------------------

    def issue_bootstrap_token(self, instance_id: str, account_id: str, ttl_s: float | None = None) -> str:
        """A fresh single-use token binding the first device that uses it to ``instance_id``/``account_id``."""
        now = self._clock()
        self._bootstrap = {h: g for h, g in self._bootstrap.items() if g.expires_at > now}
        token = secrets.token_urlsafe(32)
        ttl = self._bootstrap_ttl_s if ttl_s is None else ttl_s
        self._bootstrap[_hash(token)] = BootstrapGrant(instance_id, account_id, now + ttl)
        return token

    def peek_bootstrap(self, token: str) -> BootstrapGrant | None:
        grant = self._bootstrap.get(_hash(token))
        if grant is None or grant.expires_at <= self._clock():
            return None
        return grant

    def consume_bootstrap(self, token: str) -> BootstrapGrant | None:
        """Return the grant and delete it, so a second use (a replay) finds nothing."""
        grant = self._bootstrap.pop(_hash(token), None)
        if grant is None or grant.expires_at <= self._clock():
            return None
        return grant

    # --- devices -------------------------------------------------------------------------------------

    def get(self, device_id: str) -> PairedDevice | None:
        return self._paired.get(device_id)

    def devices(self) -> list[PairedDevice]:
        return list(self._paired.values())

    def pair(
        self,
        device_id: str,
        public_key: str,
        *,
        approved_via: str,
        account_id: str | None = None,
        instance_id: str | None = None,
        display_name: str | None = None,
    ) -> tuple[PairedDevice, str]:
        """Pair (or re-pair) a device; returns it and its new device token (shown once, stored hashed)."""
        token = secrets.token_urlsafe(32)
        previous = self._paired.get(device_id)
        device = PairedDevice(
            device_id=device_id,
            public_key=public_key,
            token_hash=_hash(token),
            paired_at_ms=int(self._clock() * 1000),
            approved_via=approved_via,
            account_id=account_id if account_id is not None else (previous.account_id if previous else None),
            instance_id=instance_id if instance_id is not None else (previous.instance_id if previous else None),
            display_name=display_name,
        )
        self._paired[device_id] = device
        self._pending = {k: r for k, r in self._pending.items() if r.device_id != device_id}
        return device, token

    def rotate_token(self, device_id: str) -> str:
        device = self._paired[device_id]
        token = secrets.token_urlsafe(32)
        device.token_hash = _hash(token)
        return token

    def check_device_token(self, device_id: str, token: str) -> bool:
        device = self._paired.get(device_id)
        return device is not None and hmac.compare_digest(device.token_hash, _hash(token))

    def revoke(self, device_id: str) -> bool:
        return self._paired.pop(device_id, None) is not None

    # --- pending requests -----------------------------------------------------------------------------

    def request_pairing(
        self,
        device_id: str,
        public_key: str,
        *,
        display_name: str | None,
        client_instance_id: str | None,
        remote_addr: str | None,
        commands: list[str],
    ) -> PairingRequest:
        """Create the pending request for this device, or refresh the one it already has."""
        now = time.monotonic()
        self._pending = {k: r for k, r in self._pending.items() if now - r.last_seen < PENDING_TTL_S}
        for req in self._pending.values():
            if req.device_id == device_id and req.public_key == public_key:
                req.last_seen = now
                return req
        req = PairingRequest(
            request_id=str(uuid.uuid4()),
            device_id=device_id,
            public_key=public_key,
            display_name=display_name,
            client_instance_id=client_instance_id,
            remote_addr=remote_addr,
            commands=list(commands),
            ts_ms=int(self._clock() * 1000),
        )
        self._pending[req.request_id] = req
        return req

    def pending(self) -> list[PairingRequest]:
        return list(self._pending.values())

    def take_pending(self, request_id: str) -> PairingRequest | None:
        return self._pending.pop(request_id, None)

    # --- persistence seam -----------------------------------------------------------------------------

    def export_state(self) -> dict[str, Any]:
        """Paired devices (token hashes only) for a persistent store to save."""
        return {"paired": [asdict(d) for d in self._paired.values()]}

    def import_state(self, state: dict[str, Any]) -> None:
        for row in state.get("paired", []):
            device = PairedDevice(**row)
            self._paired[device.device_id] = device
