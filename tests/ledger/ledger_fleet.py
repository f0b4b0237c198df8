"""The Ledger's test fleet: findings known by construction (see KNOWN).  A module with its own name (not
conftest) so tests can import it from anywhere in a full run.

Prices are the catalog's unless a row says otherwise: Vultr and DigitalOcean in USD (converted at 0.92),
Hetzner and Contabo in EUR.  Two tenants, so scoping can be checked on money as well as on ids.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from engine.domain import PLANS, Provider, Tier
from engine.policy import Caller, Role
from engine.store import Account, Instance, Store, Tenant

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
OWNER = Caller("op-owner", "owner", Role.OWNER)
TENANT_A = Caller("op-a", "a-ops", Role.OPERATOR, tenant_id="t-a")
TENANT_B = Caller("op-b", "b-ops", Role.VIEWER, tenant_id="t-b")
RECENT = NOW - timedelta(days=1)

# account: tenant, last session, [(role, provider, region, tier, state, cpu, mem, price override, currency override)]
FLEET: dict[str, tuple[str, datetime | None, list[tuple[Any, ...]]]] = {
    "acct-idle1": (
        "t-a",
        NOW - timedelta(days=30),
        [
            ("primary", "hetzner", "eu-hetzner-nbg1", "standard", "ACTIVE", 3, 5),
            ("standby", "vultr", "eu-vultr-fra", "standard", "ACTIVE", 3, 5),
        ],
    ),
    "acct-idle2": (
        "t-b",
        NOW - timedelta(days=20),
        [
            ("primary", "contabo", "eu-contabo-nue", "nano", "ACTIVE", 40, 40),
            ("standby", "hetzner", "eu-hetzner-fsn1", "nano", "DEGRADED", 40, 40),
        ],
    ),
    "acct-over1": (
        "t-a",
        RECENT,
        [
            ("primary", "hetzner", "eu-hetzner-nbg1", "performance", "ACTIVE", 5, 8),
            ("standby", "digitalocean", "eu-digitalocean-fra1", "performance", "DEGRADED", 5, 8),
        ],
    ),
    "acct-overstd": (
        "t-a",
        RECENT,
        [
            ("primary", "hetzner", "eu-hetzner-hel1", "performance", "ACTIVE", 20, 20),
            ("standby", "contabo", "eu-contabo-nue", "performance", "ACTIVE", 5, 10),
        ],
    ),
    "acct-cheap1": (
        "t-b",
        RECENT,
        [
            ("primary", "vultr", "eu-vultr-ams", "standard", "ACTIVE", 60, 60),
            ("standby", "hetzner", "eu-hetzner-nbg1", "standard", "ACTIVE", 50, 50),
        ],
    ),
    "acct-term": (
        "t-b",
        RECENT,
        [
            ("primary", "contabo", "eu-contabo-nue", "standard", "ACTIVE", 60, 60),
            ("standby", "hetzner", "eu-hetzner-fsn1", "standard", "ACTIVE", 60, 60),
        ],
    ),
    "acct-cheapp": (
        "t-a",
        RECENT,
        [
            ("primary", "digitalocean", "us-digitalocean-nyc3", "nano", "ACTIVE", 60, 60),
            ("standby", "hetzner", "us-hetzner-ash", "nano", "ACTIVE", 60, 60),
        ],
    ),
    "acct-pex": (
        "t-a",
        RECENT,
        [  # the only cheaper provider for the primary is its partner's: not flagged
            ("primary", "hetzner", "eu-hetzner-nbg1", "standard", "ACTIVE", 60, 60, 7.00, "EUR"),
            ("standby", "contabo", "eu-contabo-nue", "standard", "ACTIVE", 60, 60),
        ],
    ),
    "acct-nousage": (
        "t-a",
        RECENT,
        [
            ("primary", "hetzner", "eu-hetzner-nbg1", "performance", "ACTIVE", None, None),
            ("standby", "contabo", "eu-contabo-nue", "performance", "ACTIVE", 50, None),
        ],
    ),
    "acct-noprice": (
        "t-b",
        RECENT,
        [
            ("primary", "hetzner", "eu-hetzner-nbg1", "performance", "ACTIVE", 5, 5, 0.0, "EUR"),
            ("standby", "digitalocean", "eu-digitalocean-ams3", "performance", "ACTIVE", 5, 5, 40.0, "GBP"),
        ],
    ),
    "acct-nosess": (
        "t-a",
        None,
        [
            ("primary", "hetzner", "us-hetzner-hil", "nano", "ACTIVE", 50, 50),
            ("standby", "vultr", "us-vultr-ewr", "nano", "ACTIVE", 50, 50),
        ],
    ),
    "acct-normal": (
        "t-b",
        RECENT,
        [
            ("primary", "hetzner", "eu-hetzner-nbg1", "nano", "ACTIVE", 50, 50),
            ("standby", "contabo", "eu-contabo-nue", "performance", "FAILED", 50, 50),
            ("standby", "vultr", "eu-vultr-fra", "performance", "DELETED", 1, 1),
        ],
    ),
}

KNOWN = {
    "idle": {"i-acct-idle1-p", "i-acct-idle1-s", "i-acct-idle2-p", "i-acct-idle2-s"},
    "oversized": {"i-acct-over1-p", "i-acct-over1-s"},
    "cheaper_elsewhere": {"i-acct-cheap1-p", "i-acct-term-p", "i-acct-cheapp-p", "i-acct-pex-s", "i-acct-nosess-s"},
}
"""What each finding must cover, worked out by hand from the catalog and the rules in engine/ledger/_model.py."""


def price(provider: str, tier: str) -> tuple[float, str]:
    plan = PLANS[(Provider(provider), Tier(tier))]
    return plan.monthly, plan.currency


def build_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    tenants = [{"id": t, "name": t.upper(), "is_demo": False, "created_at": NOW} for t in ("t-a", "t-b")]
    accounts, instances = [], []
    for acct, (tenant, last, members) in FLEET.items():
        accounts.append(
            {
                "id": acct,
                "tenant_id": tenant,
                "label": acct,
                "last_session_at": last,
                "created_at": NOW - timedelta(days=100),
            }
        )
        for n, (role, prov, region, tier, state, cpu, mem, *override) in enumerate(members):
            monthly, currency = override if override else price(prov, tier)
            suffix = "p" if role == "primary" else ("s" if n == 1 else "x")
            instances.append(
                {
                    "id": f"i-{acct}-{suffix}",
                    "account_id": acct,
                    "tenant_id": tenant,
                    "role": role,
                    "provider": prov,
                    "region": region,
                    "tier": tier,
                    "state": state,
                    "monthly_price": monthly,
                    "currency": currency,
                    "cpu_p95": cpu,
                    "mem_p95": mem,
                    "created_at": NOW - timedelta(days=100 - n),
                    "updated_at": NOW,
                    "health_score": 95,
                }
            )
    return tenants, accounts, instances


def seed(store: Store) -> None:
    tenants, accounts, instances = build_rows()
    with store.session() as s:
        s.execute(insert(Tenant), tenants)
        s.execute(insert(Account), accounts)
        s.execute(insert(Instance), instances)
