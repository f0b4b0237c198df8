"""SQLModel tables: the store's schema (Alembic migrations mirror it exactly).

Ids are short readable strings (``acct-042``, ``i-acct-042-p``, ``pl-…``) because
operators type them in chat.  JSON columns hold small structured values
(plan steps, policy notes); anything queried by the sweep or by selectors is a
real indexed column.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Now, timezone-aware: the store keeps every timestamp in UTC."""
    return datetime.now(UTC)


class Tenant(SQLModel, table=True):
    """A COMPANION customer or org; the unit of isolation (policy rule 6)."""

    __tablename__ = "tenants"
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    is_demo: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class Account(SQLModel, table=True):
    """One user; owns a pair of instances."""

    __tablename__ = "accounts"
    id: str = Field(primary_key=True, max_length=64)
    tenant_id: str = Field(foreign_key="tenants.id", index=True, max_length=64)
    label: str = Field(default="", max_length=200)
    last_session_at: datetime | None = None
    """When the user last had a gateway session (Ledger's idle finding); None = unknown."""
    created_at: datetime = Field(default_factory=utcnow)


class Instance(SQLModel, table=True):
    """One VPS, primary or standby of an account's pair."""

    __tablename__ = "instances"
    id: str = Field(primary_key=True, max_length=80)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=64)
    tenant_id: str = Field(foreign_key="tenants.id", index=True, max_length=64)
    role: str = Field(max_length=16)
    provider: str = Field(index=True, max_length=32)
    region: str = Field(index=True, max_length=64)
    tier: str = Field(max_length=32)
    state: str = Field(index=True, max_length=32)
    provider_server_id: str | None = Field(default=None, max_length=128)
    ipv4: str | None = Field(default=None, max_length=64)
    ipv6: str | None = Field(default=None, max_length=64)
    monthly_price: float = 0.0
    currency: str = Field(default="EUR", max_length=3)
    health_score: int | None = None
    health_reason: str = Field(default="", max_length=500)
    last_report_at: datetime | None = None
    cpu_p95: float | None = None
    """95th-percentile CPU use over the last 14 days, 0–100 (Ledger's oversized finding); None = unknown."""
    mem_p95: float | None = None
    """95th-percentile memory use over the last 14 days, 0–100; None = unknown."""
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Operator(SQLModel, table=True):
    """A person (or service) allowed to talk to the team; optionally scoped to one tenant."""

    __tablename__ = "operators"
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(unique=True, max_length=100)
    role: str = Field(max_length=16)
    tenant_id: str | None = Field(default=None, foreign_key="tenants.id", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class PlanRecord(SQLModel, table=True):
    """A mutating tool call, planned and waiting for (or past) the operator's decision."""

    __tablename__ = "plans"
    id: str = Field(primary_key=True, max_length=40)
    session_key: str = Field(index=True, max_length=200)
    operator_id: str = Field(max_length=64)
    tool: str = Field(max_length=40)
    args: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    summary: str = Field(sa_column=Column(Text, nullable=False))
    targets: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    steps: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    affected_users: int = 0
    monthly_cost_delta: float = 0.0
    reversible: bool = True
    policy: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    requires_confirmation: bool = False
    status: str = Field(default="pending", index=True, max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None
    decided_by: str | None = Field(default=None, max_length=64)
    decided_channel: str | None = Field(default=None, max_length=32)


class JobRecord(SQLModel, table=True):
    """A confirmed plan being carried out; survives restarts and resumes idempotently."""

    __tablename__ = "jobs"
    id: str = Field(primary_key=True, max_length=40)
    plan_id: str = Field(foreign_key="plans.id", index=True, max_length=40)
    tool: str = Field(max_length=40)
    status: str = Field(default="queued", index=True, max_length=16)
    total: int = 0
    done: int = 0
    failed: int = 0
    started_by: str = Field(max_length=64)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class JobStep(SQLModel, table=True):
    """One unit of a job (usually one instance); ``(job_id, seq)`` is its idempotency key."""

    __tablename__ = "job_steps"
    __table_args__ = (UniqueConstraint("job_id", "seq", name="uq_job_steps_job_seq"),)
    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(foreign_key="jobs.id", index=True, max_length=40)
    seq: int
    instance_id: str = Field(max_length=80)
    action: str = Field(max_length=40)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


class ConversationSession(SQLModel, table=True):
    """A named conversation of one operator: what "go" and "the 18" refer to."""

    __tablename__ = "sessions"
    key: str = Field(primary_key=True, max_length=200)
    operator_id: str = Field(max_length=64)
    name: str = Field(max_length=100)
    pending_plan_id: str | None = Field(default=None, max_length=40)
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


class AuditEntry(SQLModel, table=True):
    """One link of the SHA-256 hash chain: every operation, plan, decision and refusal."""

    __tablename__ = "audit_entries"
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    ts: str = Field(max_length=40)
    actor: str = Field(max_length=100)
    channel: str = Field(max_length=32)
    action: str = Field(index=True, max_length=60)
    target: str = Field(sa_column=Column(Text, nullable=False))
    outcome: str = Field(max_length=20)
    detail: str = Field(sa_column=Column(Text, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The chain's latest link, one row: lets verify detect a truncated tail and serializes appends."""

    __tablename__ = "audit_head"
    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    hash: str = Field(default="0" * 64, max_length=64)


# --------------------------------------------------------------------------- revision 0002
# Tables for the capabilities built on the foundation: alerts, cost history, trust, channels,
# webhooks, agent memory, chat history, node health.  One migration so parallel work never forks
# Alembic's history.


class Silence(SQLModel, table=True):
    """Alerts for matching instances are muted until ``until`` (``silence_alerts``, maintenance windows)."""

    __tablename__ = "silences"
    id: str = Field(primary_key=True, max_length=40)
    selector: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    until: datetime
    reason: str = Field(default="", max_length=500)
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow)


class Incident(SQLModel, table=True):
    """One grouped incident (a provider region outage is one incident, not 94 alerts)."""

    __tablename__ = "incidents"
    id: str = Field(primary_key=True, max_length=40)
    key: str = Field(index=True, max_length=200)
    provider: str | None = Field(default=None, max_length=32)
    region: str | None = Field(default=None, max_length=64)
    status: str = Field(default="open", index=True, max_length=16)
    title: str = Field(default="", max_length=300)
    opened_at: datetime = Field(default_factory=utcnow)
    closed_at: datetime | None = None
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class HealthReportRecord(SQLModel, table=True):
    """The latest health report of each instance's node (what the Guardian sweep scores)."""

    __tablename__ = "health_reports"
    instance_id: str = Field(primary_key=True, max_length=80)
    received_at: datetime = Field(default_factory=utcnow)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class CostSnapshot(SQLModel, table=True):
    """Daily spend per provider/region/tier/tenant, so the Ledger has trends."""

    __tablename__ = "cost_snapshots"
    day: str = Field(primary_key=True, max_length=10)
    provider: str = Field(primary_key=True, max_length=32)
    region: str = Field(primary_key=True, max_length=64)
    tier: str = Field(primary_key=True, max_length=32)
    tenant_id: str = Field(primary_key=True, max_length=64)
    instances: int = 0
    monthly_eur: float = 0.0
    daily_eur: float = 0.0


class SecretRecord(SQLModel, table=True):
    """A secret encrypted at rest (AEAD) under a key-encryption key of ``key_version``."""

    __tablename__ = "secrets"
    name: str = Field(primary_key=True, max_length=200)
    key_version: int = 1
    nonce: str = Field(max_length=64)
    ciphertext: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    rotated_at: datetime | None = None


class ApiKey(SQLModel, table=True):
    """An operator's API key: shown once, stored only as a hash."""

    __tablename__ = "api_keys"
    id: str = Field(primary_key=True, max_length=40)
    operator_id: str = Field(foreign_key="operators.id", index=True, max_length=64)
    prefix: str = Field(index=True, max_length=24)
    hash: str = Field(max_length=128)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class ChannelIdentity(SQLModel, table=True):
    """A Telegram user id, WhatsApp number or SSH user mapped to an operator."""

    __tablename__ = "channel_identities"
    channel: str = Field(primary_key=True, max_length=32)
    external_id: str = Field(primary_key=True, max_length=200)
    operator_id: str = Field(foreign_key="operators.id", index=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class WebhookDelivery(SQLModel, table=True):
    """One signed webhook (e.g. pair ACTIVE → COMPANION), with retries and a delivery log."""

    __tablename__ = "webhook_deliveries"
    id: str = Field(primary_key=True, max_length=40)
    url: str = Field(sa_column=Column(Text, nullable=False))
    event: str = Field(max_length=60)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", index=True, max_length=16)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None


class Memory(SQLModel, table=True):
    """Something the team learned about an operator ("leave Contabo alone", "brief me at 06:30")."""

    __tablename__ = "memories"
    id: str = Field(primary_key=True, max_length=40)
    operator_id: str = Field(index=True, max_length=64)
    kind: str = Field(max_length=32)
    text: str = Field(sa_column=Column(Text, nullable=False))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    forgotten_at: datetime | None = None


class BriefingPreference(SQLModel, table=True):
    """When and where an operator wants the briefing: the one place a briefing time lives (the scheduler reads it).

    ``at`` is "HH:MM" in ``timezone`` (an IANA name, e.g. "Europe/Berlin"); ``days`` are weekday numbers
    (0 = Monday) on which the daily briefing goes out; ``channels`` name where it is sent ("telegram",
    "whatsapp"; empty = every channel the operator is linked on, else the reports folder only);
    ``weekly_day`` is the weekday of the weekly report (None = no weekly report).
    """

    __tablename__ = "briefing_preferences"
    operator_id: str = Field(primary_key=True, foreign_key="operators.id", max_length=64)
    at: str = Field(default="07:00", max_length=5)
    timezone: str = Field(default="UTC", max_length=64)
    days: list[int] = Field(default_factory=lambda: list(range(7)), sa_column=Column(JSON, nullable=False))
    channels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    weekly_day: int | None = None
    enabled: bool = True
    updated_at: datetime = Field(default_factory=utcnow)


class ChatMessage(SQLModel, table=True):
    """One message of a conversation, so chats resume after a restart and can be searched."""

    __tablename__ = "chat_messages"
    id: int | None = Field(default=None, primary_key=True)
    operator_id: str = Field(index=True, max_length=64)
    session: str = Field(index=True, max_length=100)
    role: str = Field(max_length=16)
    agent: str | None = Field(default=None, max_length=32)
    channel: str = Field(default="cli", max_length=32)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class NodeDevice(SQLModel, table=True):
    """A clawnode device paired with the node gateway, and the instance it serves.

    Kept in the store (not only in the gateway's memory) so an engine restart does not forget
    paired nodes, and so every engine sharing a PostgreSQL store accepts the same devices.  Only
    the SHA-256 of the device token is kept: a dump of this table hands out no credential.
    """

    __tablename__ = "node_devices"
    device_id: str = Field(primary_key=True, max_length=64)
    public_key: str = Field(sa_column=Column(Text, nullable=False))
    token_hash: str = Field(max_length=64)
    approved_via: str = Field(max_length=32)
    paired_at: datetime = Field(default_factory=utcnow)
    account_id: str | None = Field(default=None, index=True, max_length=64)
    instance_id: str | None = Field(default=None, index=True, max_length=80)
    display_name: str | None = Field(default=None, max_length=200)
    updated_at: datetime = Field(default_factory=utcnow)


class NodeBootstrapToken(SQLModel, table=True):
    """A single-use bootstrap token (by hash) issued for one instance's cloud-init.

    Consumed by deleting the row, so across engines sharing the store a token still pairs
    exactly one device.
    """

    __tablename__ = "node_bootstrap_tokens"
    token_hash: str = Field(primary_key=True, max_length=64)
    instance_id: str = Field(index=True, max_length=80)
    account_id: str = Field(max_length=64)
    expires_at: datetime
    created_at: datetime = Field(default_factory=utcnow)
