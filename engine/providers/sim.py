"""The in-process ``sim`` provider: a tiny deterministic stand-in for a cloud.

It exists so that the demo and the foundation tests can run a real
plan → confirm → job path without HTTP.  The full vendor emulators (real HTTP,
real paths, faults) live beside it and replace it in the demo.
"""

from __future__ import annotations

import itertools

from engine.domain import InstanceState
from engine.errors import ProviderError
from engine.providers._base import Capabilities, ProviderDriver, ServerInfo, ServerSpec


class SimDriver(ProviderDriver):
    """Servers live in a dict; every call succeeds at once unless the server is unknown."""

    name = "sim"
    capabilities = Capabilities()

    def __init__(self) -> None:
        self._servers: dict[str, ServerInfo] = {}
        self._ids = itertools.count(1)
        self._deleted: set[str] = set()
        self.reboots: list[str] = []
        self.creates: list[str] = []
        self.deletes: list[str] = []
        self.resizes: list[tuple[str, str]] = []

    async def create_server(self, spec: ServerSpec) -> ServerInfo:
        for info in self._servers.values():
            if info.instance_id == spec.instance_id:
                return info
        number = next(self._ids)
        server_id = f"sim-{number}"
        info = ServerInfo(
            server_id,
            spec.instance_id,
            InstanceState.ACTIVE,
            "running",
            plan_id=spec.plan_id,
            location=spec.region_location,
            ipv4=f"198.51.{number // 250 % 250}.{number % 250 + 1}",
        )
        self._servers[server_id] = info
        self.creates.append(spec.instance_id)
        return info

    async def get_server(self, server_id: str) -> ServerInfo:
        try:
            return self._servers[server_id]
        except KeyError:
            # The demo fleet is seeded straight into the store, so a server the sim has not seen
            # is adopted as running rather than reported missing.
            info = ServerInfo(server_id, None, InstanceState.ACTIVE, "running")
            self._servers[server_id] = info
            return info

    async def list_servers(self) -> list[ServerInfo]:
        return list(self._servers.values())

    async def delete_server(self, server_id: str) -> None:
        if server_id in self._deleted:
            raise ProviderError(f"sim has no server {server_id}; it was already deleted.")
        # Servers seeded straight into the store (the demo fleet) are adopted on first touch.
        self._servers.pop(server_id, None)
        self._deleted.add(server_id)
        self.deletes.append(server_id)

    async def resize_server(self, server_id: str, plan_id: str) -> None:
        await self.get_server(server_id)
        self.resizes.append((server_id, plan_id))

    async def reboot_server(self, server_id: str) -> None:
        await self.get_server(server_id)
        self.reboots.append(server_id)
