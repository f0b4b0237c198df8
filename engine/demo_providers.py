"""Provider drivers for the DEMO: the real HTTP drivers against loopback emulators.

The demo must behave like production, so its provider calls go through the
same drivers, rate limiters and HTTP code a real account uses — only the far
end is a local emulator of each vendor's API.  Emulators start lazily, the
first time an operation touches a provider (a cold ``clawops ask "fleet
status"`` never starts one), and run time-scaled so a server that takes a
minute to boot at Hetzner takes a fraction of a second here.

A fresh emulator knows none of the demo fleet's servers, so on start it is
given every instance the store tracks for that provider (labelled with our
instance id, exactly as a real create would label it), and the store learns
the emulator's server ids.  Reconciliation therefore sees a consistent world;
anything planted behind our back shows up as an orphan, as it would for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
from sqlalchemy import Table, bindparam, update
from sqlalchemy import select as sa_select

from engine.domain import InstanceState
from engine.providers import ProviderDriver, RateLimiters
from engine.store import Instance, Store

log = logging.getLogger(__name__)

#: Emulated time runs this much faster than real time in the demo.
DEMO_TIME_SCALE = 600.0
EMULATED = ("hetzner", "digitalocean", "vultr", "contabo", "hostinger")


@dataclass(slots=True)
class _LoopWorld:
    """The emulators and drivers living in one event loop (each ``asyncio.run`` gets its own)."""

    client: httpx.AsyncClient
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    emulators: dict[str, Any] = field(default_factory=dict)
    drivers: dict[str, ProviderDriver] = field(default_factory=dict)


class EmulatedDrivers:
    """Driver registry for the demo: ``drivers("hetzner")`` → a HetznerDriver on a local emulator."""

    def __init__(self, store: Store, *, time_scale: float = DEMO_TIME_SCALE) -> None:
        self.store = store
        self.time_scale = time_scale
        self._worlds: dict[int, _LoopWorld] = {}
        self.limiters = RateLimiters()
        """This engine's rate-limit books (each emulator's budget, across event loops)."""

    def __call__(self, provider: str) -> ProviderDriver:
        """A driver for ``provider``; its emulator starts on the first awaited call, not before."""
        return cast(ProviderDriver, _LazyDriver(self, provider))

    def _world(self) -> _LoopWorld:
        loop = asyncio.get_running_loop()
        world = self._worlds.get(id(loop))
        if world is None:
            world = _LoopWorld(httpx.AsyncClient(timeout=30.0))
            self._worlds = {id(loop): world}  # worlds of finished loops are gone with their loops
        return world

    async def ensure(self, provider: str) -> ProviderDriver:
        """Start ``provider``'s emulator in this loop if needed, seeded with the store's servers."""
        from engine.providers.emulators import start_emulator
        from engine.providers.registry import emulator_driver

        world = self._world()
        if provider in world.drivers:
            return world.drivers[provider]
        async with world.lock:  # concurrent job steps must share one emulator, not start one each
            if provider not in world.drivers:
                emu = await start_emulator(provider, time_scale=self.time_scale)
                world.emulators[provider] = emu
                self._seed(provider, emu)
                world.drivers[provider] = emulator_driver(emu, world.client, limiters=self.limiters)
        return world.drivers[provider]

    def status_url(self, provider: str) -> str | None:
        emu = self._world().emulators.get(provider)
        return str(emu.status_url) if emu is not None else None

    @property
    def client(self) -> httpx.AsyncClient:
        return self._world().client

    def emulator(self, provider: str) -> Any:
        """The running emulator of ``provider`` in this loop (tests plant faults and orphans through it)."""
        return self._world().emulators[provider]

    def _seed(self, provider: str, emu: Any) -> None:
        from engine.providers import OWNER_LABEL, owner_tag
        from engine.providers.contabo import REGIONS as CONTABO_REGIONS

        # Two plain statements, not ORM records: an emulator starts on the first touch of its provider (in the
        # chat's DEMO too), and loading then flushing a few hundred instances as ORM records cost ten times
        # planting their servers.
        table: Table = Instance.__table__  # type: ignore[attr-defined]
        with self.store.session() as s:
            rows = s.execute(
                sa_select(table.c.id, table.c.region).where(
                    table.c.provider == provider,
                    table.c.state != InstanceState.DELETED.value,
                    table.c.provider_server_id.is_not(None),
                )
            ).all()
            planted: list[dict[str, str]] = []
            for inst_id, region in rows:
                location = region.split("-", 2)[2]
                kw: dict[str, Any] = {"name": inst_id}
                if provider == "hetzner":
                    kw["labels"] = {OWNER_LABEL: inst_id}
                elif provider in ("digitalocean", "vultr"):
                    kw["tags"] = [owner_tag(inst_id)]
                elif provider == "contabo":
                    location = CONTABO_REGIONS.get(location, "EU")
                try:
                    server = emu.plant(location=location, **kw)
                except (KeyError, StopIteration, ValueError):
                    server = emu.plant(**kw)  # a location the emulator lacks: use its default
                planted.append({"instance_id": inst_id, "server_id": str(server.id)})
            if planted:
                s.execute(
                    update(table)
                    .where(table.c.id == bindparam("instance_id"))
                    .values(provider_server_id=bindparam("server_id")),
                    planted,
                )
        log.debug("seeded %d %s servers into the emulator", len(rows), provider)

    async def aclose(self) -> None:
        for world in list(self._worlds.values()):
            for emu in world.emulators.values():
                with contextlib.suppress(Exception):
                    await emu.runner.cleanup()
            await world.client.aclose()
        self._worlds.clear()


class _LazyDriver:
    """Stands in for a driver until it is used: capabilities at once, the emulator on first call.

    Planning only needs capability flags (class attributes), so a dry run never
    starts an emulator; the first real provider call does.
    """

    def __init__(self, registry: EmulatedDrivers, provider: str) -> None:
        from engine.providers.registry import DRIVERS

        self._registry = registry
        self.name = provider
        self.capabilities = DRIVERS[provider].capabilities

    def __getattr__(self, method: str) -> Callable[..., Awaitable[Any]]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            driver = await self._registry.ensure(self.name)
            return await getattr(driver, method)(*args, **kwargs)

        return call
