"""The engine as one object: settings, store, operations, conversation.

``Engine.open()`` is all an embedded client (the CLI, the chat, tests) needs.
It opens or creates the store, makes sure the local owner exists and, on a
first run with demo mode on, seeds the clearly labelled DEMO fleet.  Nothing
heavy starts here (no emulators, no schedulers): a cold ``clawops ask`` must
stay under two seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from engine.brain import llm_brain_for
from engine.config import Settings, load_settings
from engine.conversation import Conversation, TurnResult
from engine.demo import DemoDrivers, SimNodeCommands, seed_demo, stored_symptom
from engine.domain import Provider
from engine.errors import ConfigError, InputError, PolicyRefusal
from engine.events import Hub, JobProgress
from engine.nodes import BootstrapOptions, GatewayNodeCommands, optional_secret
from engine.operations import Operations
from engine.policy import Caller, Role
from engine.providers import ProviderDriver, RateLimiters
from engine.scheduler import Scheduler
from engine.store import Operator, Store, Tenant, open_store
from engine.trust import Trust

if TYPE_CHECKING:
    from engine.channels import ChannelHub

__all__ = ["Engine"]


class ConfiguredDrivers:
    """Real drivers, configured per provider from the settings' ``<provider>_*`` fields (see README, 'Real providers').

    Drivers hold an ``httpx.AsyncClient``, which belongs to one event loop, so
    they are built per running loop.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.time_scale = settings.provider_time_scale
        """Emulated seconds per real second (``provider_time_scale``; 1 with real providers)."""
        self._loop_id: int | None = None
        self._drivers: dict[str, ProviderDriver] = {}
        self._client: Any = None
        self.limiters = RateLimiters()
        """This engine's rate-limit books: one budget per vendor token, kept across event loops."""

    def __call__(self, provider: str) -> ProviderDriver:
        import asyncio

        import httpx

        from engine.providers.registry import DRIVERS, driver_from_settings

        if provider not in DRIVERS:
            raise ConfigError(f"Provider {provider} has no driver; use one of {', '.join(DRIVERS)}.")
        loop_id = id(asyncio.get_running_loop())
        if loop_id != self._loop_id:
            self._loop_id, self._drivers, self._client = loop_id, {}, httpx.AsyncClient(timeout=30.0)
        if provider not in self._drivers:
            # provider_time_scale is for emulators only: it shrinks retry and polling waits.
            self._drivers[provider] = driver_from_settings(
                provider, self._client, self.settings, time_scale=self.time_scale, limiters=self.limiters
            )
        return self._drivers[provider]


class AgentAllowances:
    """The lock on what each agent may call (its agent.toml), injected into the operation layer.

    The agents' content sits above the operation layer, so the runtime hands it this check
    (``Operations.agent_allowance``).  The content is read on the first agent call, not at start: a cold
    ``clawops ask`` whose brain is offline never loads it.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._agents: dict[str, Any] | None = None

    def __call__(self, agent: str, tool: str) -> None:
        from engine.agents import authorize, code_values, load_agents  # local: content loads on first agent call

        if self._agents is None:
            self._agents = load_agents(values=code_values(self.settings))
        spec = self._agents.get(agent)
        if spec is None:
            raise PolicyRefusal("agent_allowance", f"Refused: there is no agent called {agent}.")
        authorize(spec, tool)


class Engine:
    """One engine instance over one store."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        drivers: Any
        if not settings.demo:
            drivers = ConfiguredDrivers(settings)
        elif settings.demo_providers == "sim":
            drivers = DemoDrivers()
        else:
            from engine.demo_providers import EmulatedDrivers

            drivers = EmulatedDrivers(store, time_scale=settings.demo_time_scale)
        self.drivers = drivers
        self.nodes: SimNodeCommands | GatewayNodeCommands
        if settings.demo or settings.node_commands == "simulated":
            # The demo's simulated nodes (or a drill against emulators); diagnostics show each instance's
            # stored symptom.
            self.nodes = SimNodeCommands(condition=stored_symptom(store))
        else:
            # Real servers, real nodes: commands go through the node gateway (attached when the daemon
            # starts it) to the clawnode paired for each instance; new servers get a bootstrap cloud-init.
            self.nodes = GatewayNodeCommands(
                store, BootstrapOptions.from_settings(settings), secret=lambda name: optional_secret(self, name)
            )
        self.ops = Operations(store, settings, drivers, self.nodes)
        # What the operation layer needs from the layers above it is injected here, never imported there.
        self.ops.agent_allowance = AgentAllowances(settings)
        self.ops.briefings = self._briefing_tool
        self.conversation = Conversation(self.ops, llm=llm_brain_for(settings))
        self.trust = Trust(store, settings.home, anchor=settings.audit_anchor)
        self.scheduler = Scheduler(self)
        """This engine's recurring work and what it keeps between runs (started by the daemon)."""
        self.feed = Hub(follow=self._publish_job_progress)
        """This engine's shared feed: every front's finished turns and, once anyone follows it, job progress."""

    @cached_property
    def channel_hub(self) -> ChannelHub:
        """This engine's messaging channels (empty until the daemon starts them) and the one way to reach an
        operator on them (``send_to_operator``).  Made on first use: the channels package (aiohttp, the
        emulators) loads only for an engine that talks on a channel."""
        from engine.channels import ChannelHub

        return ChannelHub(self.store)

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
        return Caller(operator_id=row.id, name=row.name, role=Role(row.role), tenant_id=row.tenant_id, channel=channel)

    def caller_for_key(self, key: str, channel: str = "api") -> Caller:
        """The caller an API key stands for; wrong or revoked keys raise AuthenticationError (audited)."""
        return self.trust.authenticate(key, channel=channel)

    def caller_for_identity(self, channel: str, external_id: str) -> Caller:
        """The caller behind a chat identity (Telegram id, WhatsApp number, SSH user) the transport reported."""
        from engine.trust import resolve_identity

        return resolve_identity(self.store, channel, external_id, throttle=self.trust.throttle)

    async def ask(
        self,
        message: str,
        *,
        operator: str | None = None,
        channel: str = "cli",
        session: str | None = None,
        dry_run: bool = False,
        yes: bool = False,
        on_delta: Callable[[str, str], None] | None = None,
    ) -> TurnResult:
        """One turn; ``on_delta(agent, text)`` gets the model's reply as it streams (LLM brain only)."""
        return await self.conversation.turn(
            self.caller(operator, channel), message, session=session, dry_run=dry_run, yes=yes, on_delta=on_delta
        )

    async def ask_tool(
        self, tool: str, args: dict[str, Any], *, operator: str | None = None, channel: str = "cli", yes: bool = False
    ) -> Any:
        """One tool call as an operator would make it (scripts and tests); ``yes`` is the operator's go."""
        return await self.ops.call(self.caller(operator, channel), tool, args, confirmed=yes)

    async def _briefing_tool(
        self, caller: Caller, tool: str, args: dict[str, Any], *, dry_run: bool = False
    ) -> dict[str, Any]:
        """``briefing`` / ``briefing_schedule`` for the operation layer (``Operations.briefings``)."""
        from engine.briefer import briefing_tool  # local: the briefer loads when a briefing is asked for

        return await briefing_tool(
            self.ops, caller, tool, args, dry_run=dry_run, on_prefs_changed=self.scheduler.prefs_changed
        )

    def _publish_job_progress(self, feed: Hub) -> None:
        """Job progress onto the feed; job errors can quote a provider's answer, so they pass the trust redactor
        before anyone sees them."""
        redactor = self.trust.redactor

        def publish(progress: JobProgress) -> None:
            if progress.job.error:
                progress = redactor.scrub_value(progress)
            feed.publish(progress)

        self.ops.add_progress_listener(publish)

    def close(self) -> None:
        self.store.dispose()


def demo_providers() -> list[str]:
    return [p.value for p in Provider if p is not Provider.SIM]
