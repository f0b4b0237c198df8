"""Local HTTP emulators of the five vendor APIs (the demo's providers and the drivers' test peers).

Each speaks its vendor's paths, field names, status codes, error bodies, pagination
and rate-limit headers for the operations ClawOps uses, with time-driven lifecycles
and fault injection (see :class:`~engine.providers.emulators._core.Faults`).

In-process, for tests::

    async with running_emulator("hetzner", time_scale=100) as emu:
        emu.base_url      # http://127.0.0.1:PORT/v1
        emu.state         # the world: plant servers, break regions, read the request log

In the foreground, for ``clawops emulate PROVIDER``: :func:`serve_forever`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from engine.providers.emulators._core import EmulatorState, EmuServer, Faults, Incident, Vendor, make_app

PROVIDERS = ("hetzner", "digitalocean", "vultr", "contabo", "hostinger")


def vendor_for(provider: str, state: EmulatorState) -> Vendor:
    import importlib

    classes = {
        "hetzner": "Hetzner",
        "digitalocean": "DigitalOcean",
        "vultr": "Vultr",
        "contabo": "Contabo",
        "hostinger": "Hostinger",
    }
    if provider not in classes:
        raise ValueError(f"No emulator for '{provider}'; emulated providers are {', '.join(PROVIDERS)}.")
    module = importlib.import_module(f"engine.providers.emulators.{provider}")
    cls: type[Vendor] = getattr(module, classes[provider])
    return cls(state)


@dataclass
class Emulator:
    """A running emulator: where it listens and the world behind it."""

    provider: str
    state: EmulatorState
    vendor: Vendor
    root_url: str
    runner: web.AppRunner

    @property
    def base_url(self) -> str:
        """The API base URL with the vendor's path prefix (what a driver's ``base_url`` takes)."""
        return self.root_url + self.vendor.prefix

    @property
    def status_url(self) -> str:
        """Base URL of the emulated status page (feed paths as the vendor's status page has them)."""
        return self.root_url + "/status"

    @property
    def auth_url(self) -> str:
        """Contabo only: the emulated OAuth2 token endpoint."""
        return self.root_url + "/auth/realms/contabo/protocol/openid-connect/token"

    def plant(self, **kw: object) -> EmuServer:
        """Create a server directly in the world (e.g. an orphan ClawOps never asked for)."""
        return self.vendor.plant(**kw)  # type: ignore[attr-defined, no-any-return]


async def start_emulator(provider: str, *, port: int = 0, host: str = "127.0.0.1", time_scale: float = 1.0) -> Emulator:
    state = EmulatorState(provider, time_scale=time_scale)
    vendor = vendor_for(provider, state)
    runner = web.AppRunner(make_app(vendor), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server: Any = site._server
    sockets = server.sockets if server is not None else []
    actual_port = sockets[0].getsockname()[1] if sockets else port
    return Emulator(provider, state, vendor, f"http://{host}:{actual_port}", runner)


@contextlib.asynccontextmanager
async def running_emulator(
    provider: str, *, port: int = 0, host: str = "127.0.0.1", time_scale: float = 1.0
) -> AsyncIterator[Emulator]:
    """Run one vendor emulator in this event loop for the duration of the block."""
    emu = await start_emulator(provider, port=port, host=host, time_scale=time_scale)
    try:
        yield emu
    finally:
        await emu.runner.cleanup()


def serve_forever(provider: str, port: int = 0, host: str = "127.0.0.1", *, time_scale: float = 1.0) -> None:
    """Serve one emulator in the foreground; the first line printed is its base URL.  Ctrl-C stops it."""

    async def main() -> None:
        emu = await start_emulator(provider, port=port, host=host, time_scale=time_scale)
        print(emu.base_url, flush=True)
        print(
            f"{provider} emulator: any bearer token is accepted; status feed at {emu.status_url}",
            file=sys.stderr,
            flush=True,
        )
        try:
            await asyncio.Event().wait()
        finally:
            await emu.runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


__all__ = [
    "PROVIDERS",
    "Emulator",
    "EmulatorState",
    "Faults",
    "Incident",
    "running_emulator",
    "serve_forever",
    "start_emulator",
]
