"""The engine as one object: settings, store, operations, conversation.

``Engine.open()`` is all an embedded client (the CLI, the chat, tests) needs.
It opens or creates the store, makes sure the local owner exists and, on a
first run with demo mode on, seeds the clearly labelled DEMO fleet.  Nothing
heavy starts here (no emulators, no schedulers): a cold ``clawops ask`` must
stay under two seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import col, select

from engine.config import Settings, load_settings
from engine.conversation import Conversation, TurnResult
from engine.demo import seed_demo
from engine.domain import Provider
from engine.errors import ConfigError, InputError
from engine.operations import Operations, SimNodeCommands
from engine.policy import Caller, Role
from engine.providers import ProviderDriver, SimDriver
from engine.store import Operator, Store, Tenant, open_store

__all__ = ["Engine"]


class DemoDrivers:
    """In demo mode every provider name is served by the in-process simulator."""

    def __init__(self) -> None:
        self.sim = SimDriver()

    def __call__(self, provider: str) -> ProviderDriver:
        return self.sim


class ConfiguredDrivers:
    """Real drivers, configured per provider (tokens from the secret store or environment)."""

    def __call__(self, provider: str) -> ProviderDriver:
        raise ConfigError(
            f"Provider {provider} is not configured; set its API token (see README, 'Real providers')."
        )


class Engine:
    """One engine instance over one store."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        drivers: Any = DemoDrivers() if settings.demo else ConfiguredDrivers()
        self.drivers = drivers
        self.nodes = SimNodeCommands()
        self.ops = Operations(store, settings, drivers, self.nodes)
        self.conversation = Conversation(self.ops)

    @classmethod
    def open(cls, settings: Settings | None = None, *, config_file: Path | None = None, **overrides: Any) -> Engine:
        settings = settings or load_settings(config_file, **overrides)
        store = open_store(settings.store_url)
        engine = cls(settings, store)
        engine._first_run()
        return engine

    def _first_run(self) -> None:
        with self.store.session() as s:
            has_tenants = s.exec(select(Tenant.id).limit(1)).first() is not None
            if s.exec(select(Operator).where(col(Operator.name) == "owner")).first() is None:
                s.add(Operator(id="op-owner", name="owner", role=Role.OWNER.value))
        if not has_tenants and self.settings.demo:
            seed_demo(self.store, self.settings.demo_pairs, self.settings.demo_seed)

    def caller(self, operator: str | None = None, channel: str = "cli") -> Caller:
        """The identity a turn runs as; unknown or revoked operators are refused."""
        name = operator or self.settings.operator
        with self.store.session() as s:
            row = s.exec(select(Operator).where(col(Operator.name) == name)).first()
        if row is None or row.revoked_at is not None:
            raise InputError(f"No active operator named '{name}'; use an existing operator (e.g. owner).")
        return Caller(operator_id=row.id, name=row.name, role=Role(row.role), tenant_id=row.tenant_id,
                      channel=channel)

    async def ask(self, message: str, *, operator: str | None = None, channel: str = "cli",
                  session: str | None = None, dry_run: bool = False, yes: bool = False) -> TurnResult:
        return await self.conversation.turn(self.caller(operator, channel), message, session=session,
                                            dry_run=dry_run, yes=yes)

    def close(self) -> None:
        self.store.dispose()


def demo_providers() -> list[str]:
    return [p.value for p in Provider if p is not Provider.SIM]
