"""The pairing registry kept in the store: paired devices, their instances, single-use bootstrap tokens.

Why the store and not the gateway's memory: an engine restart must not forget paired nodes (each
would have to be re-provisioned to get a new bootstrap token), and several engines sharing one
PostgreSQL store must accept the same devices and let a bootstrap token pair exactly one of them.

Reads on the connect path come from memory (every paired device is loaded at start, so 10,000
reconnecting nodes cost no queries); a device the cache does not know is looked up once in the
store (another engine may have paired it).  Bootstrap tokens are authoritative in the store only:
consuming one is a ``DELETE`` whose row count says whether this engine won it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select

from engine.gateway._registry import (
    BOOTSTRAP_TTL_S,
    BootstrapGrant,
    DeviceRegistry,
    PairedDevice,
    new_token,
    token_hash,
)
from engine.store import NodeBootstrapToken, NodeDevice, Store, utcnow

__all__ = ["StoredDeviceRegistry"]

log = logging.getLogger("clawops.gateway")


def _ts(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


def _epoch(dt: datetime) -> float:
    return (dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)).timestamp()


def _device(row: NodeDevice) -> PairedDevice:
    return PairedDevice(
        device_id=row.device_id,
        public_key=row.public_key,
        token_hash=row.token_hash,
        paired_at_ms=int(_epoch(row.paired_at) * 1000),
        approved_via=row.approved_via,
        account_id=row.account_id,
        instance_id=row.instance_id,
        display_name=row.display_name,
    )


class StoredDeviceRegistry(DeviceRegistry):
    """A :class:`DeviceRegistry` whose state lives in ``node_devices`` / ``node_bootstrap_tokens``."""

    def __init__(
        self, store: Store, *, bootstrap_ttl_s: float = BOOTSTRAP_TTL_S, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(bootstrap_ttl_s=bootstrap_ttl_s, clock=clock)
        self.store = store
        self._loaded = False

    def reload(self) -> int:
        """(Re)load every paired device from the store; returns how many.

        The gateway calls this when it starts, so a fleet reconnecting after a restart is served from
        memory; an engine that only issues tokens or looks up one instance never loads the whole table.
        """
        with self.store.session() as s:
            rows = list(s.exec(select(NodeDevice)).all())
        self._paired = {row.device_id: _device(row) for row in rows}
        self._loaded = True
        return len(rows)

    def devices(self) -> list[PairedDevice]:
        if not self._loaded:
            self.reload()
        return super().devices()

    # --- devices --------------------------------------------------------------------------------------

    def get(self, device_id: str) -> PairedDevice | None:
        device = self._paired.get(device_id)
        if device is not None:
            return device
        with self.store.session() as s:
            row = s.get(NodeDevice, device_id)
        if row is None:
            return None
        device = self._paired[device_id] = _device(row)
        return device

    def device_for_instance(self, instance_id: str) -> PairedDevice | None:
        """From the store, so a binding another engine made (or made before a restart) is seen."""
        with self.store.session() as s:
            row = s.exec(
                select(NodeDevice)
                .where(col(NodeDevice.instance_id) == instance_id)
                .order_by(col(NodeDevice.paired_at).desc())
            ).first()
        if row is None:
            return None
        device = _device(row)
        cached = self._paired.get(device.device_id)
        if cached is not None:
            cached.instance_id, cached.account_id = device.instance_id, device.account_id
            return cached
        self._paired[device.device_id] = device
        return device

    def _saved(self, device: PairedDevice) -> None:
        with self.store.session() as s:
            if device.instance_id is not None:
                for other in s.exec(
                    select(NodeDevice).where(
                        col(NodeDevice.instance_id) == device.instance_id, col(NodeDevice.device_id) != device.device_id
                    )
                ).all():
                    other.instance_id = None
                    other.updated_at = utcnow()
                    s.add(other)
            row = s.get(NodeDevice, device.device_id) or NodeDevice(
                device_id=device.device_id,
                public_key=device.public_key,
                token_hash=device.token_hash,
                approved_via=device.approved_via,
            )
            row.public_key = device.public_key
            row.token_hash = device.token_hash
            row.approved_via = device.approved_via
            row.paired_at = _ts(device.paired_at_ms / 1000)
            row.account_id = device.account_id
            row.instance_id = device.instance_id
            row.display_name = (device.display_name or None) and device.display_name[:200]
            row.updated_at = utcnow()
            s.add(row)

    def _removed(self, device_id: str) -> None:
        with self.store.session() as s:
            s.execute(delete(NodeDevice).where(col(NodeDevice.device_id) == device_id))

    def revoke(self, device_id: str) -> bool:
        """Revoke in the store too, even when this engine's cache never saw the device."""
        found = super().revoke(device_id)
        if not found:
            with self.store.session() as s:
                result = s.execute(delete(NodeDevice).where(col(NodeDevice.device_id) == device_id))
                found = bool(getattr(result, "rowcount", 0))
        return found

    # --- bootstrap tokens -----------------------------------------------------------------------------

    def issue_bootstrap_token(self, instance_id: str, account_id: str, ttl_s: float | None = None) -> str:
        """A new single-use token for ``instance_id`` (its older unused ones are withdrawn); stored hashed."""
        now = self._clock()
        token = new_token()
        ttl = self._bootstrap_ttl_s if ttl_s is None else ttl_s
        with self.store.session() as s:
            s.execute(
                delete(NodeBootstrapToken).where(
                    (col(NodeBootstrapToken.instance_id) == instance_id)
                    | (col(NodeBootstrapToken.expires_at) <= _ts(now))
                )
            )
            s.add(
                NodeBootstrapToken(
                    token_hash=token_hash(token),
                    instance_id=instance_id,
                    account_id=account_id,
                    expires_at=_ts(now + ttl),
                    created_at=_ts(now),
                )
            )
        return token

    def _grant(self, token: str) -> tuple[str, BootstrapGrant] | None:
        digest = token_hash(token)
        with self.store.session() as s:
            row = s.get(NodeBootstrapToken, digest)
        if row is None:
            return None
        grant = BootstrapGrant(row.instance_id, row.account_id, _epoch(row.expires_at))
        if grant.expires_at <= self._clock():
            return None
        return digest, grant

    def peek_bootstrap(self, token: str) -> BootstrapGrant | None:
        found = self._grant(token)
        return found[1] if found else None

    def consume_bootstrap(self, token: str) -> BootstrapGrant | None:
        """Delete the token's row; only the engine whose DELETE removed it gets the grant."""
        found = self._grant(token)
        if found is None:
            return None
        digest, grant = found
        with self.store.session() as s:
            result = s.execute(delete(NodeBootstrapToken).where(col(NodeBootstrapToken.token_hash) == digest))
            won = getattr(result, "rowcount", 0) == 1
        return grant if won else None

    def withdraw_bootstrap(self, instance_id: str) -> int:
        """Delete every unused bootstrap token of ``instance_id``; returns how many."""
        with self.store.session() as s:
            result = s.execute(delete(NodeBootstrapToken).where(col(NodeBootstrapToken.instance_id) == instance_id))
            return int(getattr(result, "rowcount", 0) or 0)

    def bootstrap_pending(self, instance_id: str) -> bool:
        """True while an unused, unexpired bootstrap token exists for ``instance_id``."""
        with self.store.session() as s:
            row = s.exec(
                select(NodeBootstrapToken.token_hash).where(
                    col(NodeBootstrapToken.instance_id) == instance_id,
                    col(NodeBootstrapToken.expires_at) > _ts(self._clock()),
                )
            ).first()
        return row is not None

    # --- persistence seam kept for callers of the in-memory registry -------------------------------------

    def import_state(self, state: dict[str, Any]) -> None:
        super().import_state(state)
        for device in list(self._paired.values()):
            self._saved(device)
