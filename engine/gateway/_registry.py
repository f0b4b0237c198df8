"""Who may connect: paired devices, pending pairing requests, single-use bootstrap tokens.

:class:`DeviceRegistry` keeps this in memory (tests, the bench, a throwaway gateway); the engine
uses :class:`engine.gateway.StoredDeviceRegistry`, which overrides the ``_saved``/``_removed``
hooks and the bootstrap-token methods so pairings survive a restart and are shared by every
engine on one store.  Tokens are kept only as SHA-256 hashes, so a dump of this registry never
hands out credentials.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Approval", "BootstrapGrant", "DeviceRegistry", "PairedDevice", "PairingRequest", "token_hash"]

BOOTSTRAP_TTL_S = 600.0
"""Single-use bootstrap tokens are valid 10 minutes, as OpenClaw's setup codes."""
PENDING_TTL_S = 300.0
"""Pending pairing requests expire 5 minutes after the node's last retry."""


def new_token() -> str:
    """A fresh 256-bit URL-safe token that never starts with "-".

    Operators paste tokens after ``--token`` and ``--bootstrap-token`` (``clawnode install``, the install script);
    argparse, like most command lines, reads a word starting with "-" as an option, so one token in 64 from
    ``secrets.token_urlsafe`` made ``clawnode install`` fail with "expected one argument".  Drawing again for those
    costs under a bit of the 256.
    """
    while True:
        token = secrets.token_urlsafe(32)
        if not token.startswith("-"):
            return token


def token_hash(token: str) -> str:
    """SHA-256 hex of a token: what registries keep instead of the token itself."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


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
        """A fresh single-use token binding the first device that uses it to ``instance_id``/``account_id``.

        Issuing a new token for an instance withdraws its older unused ones: only the cloud-init
        of the latest create attempt can pair, so a leaked earlier user data is worthless.
        """
        now = self._clock()
        self._bootstrap = {
            h: g for h, g in self._bootstrap.items() if g.expires_at > now and g.instance_id != instance_id
        }
        token = new_token()
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

    def device_for_instance(self, instance_id: str) -> PairedDevice | None:
        """The device that serves ``instance_id`` (the most recently paired one, if several ever did)."""
        found = [d for d in self._paired.values() if d.instance_id == instance_id]
        return max(found, key=lambda d: d.paired_at_ms) if found else None

    def bind(self, device_id: str, *, instance_id: str, account_id: str | None) -> PairedDevice:
        """Record that a paired device serves ``instance_id`` (learned from its config when it reported).

        One instance has one node: a device previously bound to the same instance (the VPS was
        rebuilt and its node has a new identity) loses the binding.
        """
        device = self.get(device_id)
        if device is None:
            raise KeyError(device_id)
        self._unbind_others(device_id, instance_id)
        device.instance_id = instance_id
        if account_id is not None:
            device.account_id = account_id
        self._saved(device)
        return device

    def _unbind_others(self, device_id: str, instance_id: str | None) -> None:
        if instance_id is None:
            return
        for other in self._paired.values():
            if other.device_id != device_id and other.instance_id == instance_id:
                other.instance_id = None
                self._saved(other)

    # --- persistence hooks (no-ops here; StoredDeviceRegistry writes them to the store) ------------------

    def _saved(self, device: PairedDevice) -> None:
        """A device was paired, re-bound or got a new token."""

    def _removed(self, device_id: str) -> None:
        """A device was revoked."""

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
        token = new_token()
        previous = self.get(device_id)
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
        self._unbind_others(device_id, device.instance_id)
        self._paired[device_id] = device
        self._pending = {k: r for k, r in self._pending.items() if r.device_id != device_id}
        self._saved(device)
        return device, token

    def rotate_token(self, device_id: str) -> str:
        device = self.get(device_id)
        if device is None:
            raise KeyError(device_id)
        token = new_token()
        device.token_hash = _hash(token)
        self._saved(device)
        return token

    def check_device_token(self, device_id: str, token: str) -> bool:
        device = self.get(device_id)
        return device is not None and hmac.compare_digest(device.token_hash, _hash(token))

    def revoke(self, device_id: str) -> bool:
        found = self._paired.pop(device_id, None) is not None
        if found:
            self._removed(device_id)
        return found

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
