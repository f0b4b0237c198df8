"""Signed webhooks to the COMPANION (e.g. "pair ACTIVE"), with retries and a delivery log.

Each event is first written to ``webhook_deliveries`` (so nothing is lost if
the engine dies), then POSTed with an ``X-ClawOps-Signature: sha256=<hex>``
header: HMAC-SHA256 of the exact body under the shared secret, plus a
timestamp header the receiver can use to refuse replays.  Failed deliveries
are retried with exponential backoff by :func:`deliver_pending` (the scheduler
calls it every minute) until they succeed or run out of attempts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update
from sqlmodel import col, select

from engine.retry import Backoff
from engine.store import Store, WebhookDelivery, utcnow

__all__ = ["MAX_ATTEMPTS", "WEBHOOK_RETRY", "deliver_pending", "enqueue", "sign", "verify_signature"]

WEBHOOK_RETRY = Backoff(initial=30.0, maximum=4 * 3600.0, attempts=8, retry_on=(httpx.HTTPError,))
"""Delivery n+1 is due ``30 · 2ⁿ⁻¹`` s after the event was recorded; 8 tries, then the delivery is failed.
The schedule is kept in the store (``attempts``), so it survives restarts; non-2xx answers retry too."""
MAX_ATTEMPTS = WEBHOOK_RETRY.attempts or 1


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(secret: str, timestamp: str, body: bytes, header: str, *, max_age_s: float = 300.0) -> bool:
    """What a receiver does: constant-time compare, and refuse anything older than ``max_age_s``."""
    try:
        age = abs(time.time() - float(timestamp))
    except ValueError:
        return False
    return age <= max_age_s and hmac.compare_digest(sign(secret, timestamp, body), header)


def enqueue(store: Store, url: str, event: str, payload: dict[str, Any], *, key: str | None = None) -> str:
    """Record a delivery to make (committed before any attempt, so a crash cannot lose it).

    ``key`` makes the event idempotent: a job step that runs again after a crash
    enqueues the same delivery id, which already exists, so the COMPANION is
    told once.
    """
    delivery_id = f"wh-{key}" if key else f"wh-{secrets.token_hex(6)}"
    with store.session() as s:
        if s.get(WebhookDelivery, delivery_id) is None:
            s.add(WebhookDelivery(id=delivery_id, url=url, event=event, payload=payload))
    return delivery_id


def _due(row: WebhookDelivery) -> bool:
    if row.attempts == 0:
        return True
    wait = timedelta(seconds=WEBHOOK_RETRY.wait(row.attempts))
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=utcnow().tzinfo)
    return utcnow() >= created + wait


def _claim(store: Store, row: WebhookDelivery) -> bool:
    """Count the attempt atomically, so two workers never send the same delivery at once."""
    with store.session() as s:
        result = s.execute(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.id) == row.id,
                col(WebhookDelivery.status) == "pending",
                col(WebhookDelivery.attempts) == row.attempts,
            )
            .values(attempts=row.attempts + 1)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


async def deliver_pending(
    store: Store, secret: str, client: httpx.AsyncClient, *, force: bool = False, ids: list[str] | None = None
) -> int:
    """Try every pending delivery (or just ``ids``) whose backoff has elapsed; returns how many were delivered."""
    with store.session() as s:
        stmt = select(WebhookDelivery).where(col(WebhookDelivery.status) == "pending")
        if ids is not None:
            stmt = stmt.where(col(WebhookDelivery.id).in_(ids))
        rows = list(s.exec(stmt.order_by(col(WebhookDelivery.created_at))).all())
    delivered = 0
    for row in rows:
        if not force and not _due(row):
            continue
        if not _claim(store, row):
            continue
        body = json.dumps({"id": row.id, "event": row.event, "data": row.payload}, sort_keys=True).encode()
        stamp = str(int(time.time()))
        error: str | None = None
        try:
            resp = await client.post(
                row.url,
                content=body,
                timeout=10.0,
                headers={
                    "Content-Type": "application/json",
                    "X-ClawOps-Event": row.event,
                    "X-ClawOps-Delivery": row.id,
                    "X-ClawOps-Timestamp": stamp,
                    "X-ClawOps-Signature": sign(secret, stamp, body),
                },
            )
            if resp.status_code >= 300:
                error = f"HTTP {resp.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        with store.session() as s:
            current = s.get(WebhookDelivery, row.id)
            if current is None:
                continue
            current.last_error = error
            if error is None:
                current.status, current.delivered_at = "delivered", utcnow()
                delivered += 1
            elif current.attempts >= MAX_ATTEMPTS:
                current.status = "failed"
            s.add(current)
    return delivered
