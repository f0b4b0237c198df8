"""Many simulated nodes in one process, for the provider emulators, the demo, tests and the bench.

Each simulated VPS is a real :class:`NodeClient` (same handshake, pairing, commands and health
reports as production) driven by a :class:`SimulatedSystem` whose fault knobs the caller flips.
Nothing here is special-cased in the gateway: a simulated node is just a node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from node.client import NodeClient
from node.config import NodeConfig
from node.errors import FatalConnectError
from node.identity import DeviceIdentity
from node.system import SimulatedSystem

__all__ = ["SimulatedFleet", "SimulatedNode"]

log = logging.getLogger("clawnode.sim")


@dataclass
class SimulatedNode:
    config: NodeConfig
    system: SimulatedSystem
    client: NodeClient
    task: asyncio.Task[None] | None = None

    @property
    def device_id(self) -> str:
        return self.client.device_id


class SimulatedFleet:
    """Starts and stops simulated nodes sharing the running event loop."""

    def __init__(self, *, backoff_initial_s: float = 1.0, backoff_max_s: float = 30.0, settle_s: float = 0.0) -> None:
        self.nodes: dict[str, SimulatedNode] = {}
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._settle_s = settle_s

    def boot(
        self, config: NodeConfig, system: SimulatedSystem | None = None, identity: DeviceIdentity | None = None
    ) -> SimulatedNode:
        """Create and start a node named ``config.hostname`` (replacing none: names must be unique)."""
        if config.hostname in self.nodes:
            raise ValueError(f"simulated node {config.hostname!r} already booted")
        system = system or SimulatedSystem(hostname=config.hostname)
        client = NodeClient(
            config,
            identity=identity or DeviceIdentity.load_or_create(config.state_path),
            system=system,
            backoff_initial_s=self._backoff[0],
            backoff_max_s=self._backoff[1],
            settle_s=self._settle_s,
            logger=log,
        )
        node = SimulatedNode(config, system, client)
        node.task = asyncio.create_task(self._run(node), name=f"clawnode-sim-{config.hostname}")
        self.nodes[config.hostname] = node
        return node

    async def _run(self, node: SimulatedNode) -> None:
        try:
            await node.client.run()
        except FatalConnectError as exc:
            log.warning("simulated node %s stopped: %s", node.config.hostname, exc)

    async def shutdown(self, hostname: str) -> None:
        """Power off one node (as when its VPS is deleted)."""
        node = self.nodes.pop(hostname, None)
        if node is None:
            return
        await node.client.stop()
        if node.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await node.task

    async def shutdown_all(self) -> None:
        await asyncio.gather(*(self.shutdown(h) for h in list(self.nodes)))
