"""Typed access to what a test inspects inside an engine.

``Engine.nodes`` is the simulated nodes on a demo engine and the node gateway's commands otherwise; a test
knows which one it built, and says so here once instead of at every attribute it reads (``calls``,
``latency``, ``fragile``), so the type checker follows it.
"""

from __future__ import annotations

from engine.demo import SimNodeCommands
from engine.nodes import GatewayNodeCommands
from engine.runtime import Engine


def sim_nodes(engine: Engine) -> SimNodeCommands:
    """The demo engine's simulated nodes: the calls they received, and their latency and faults to set."""
    nodes = engine.nodes
    assert isinstance(nodes, SimNodeCommands), f"a demo engine runs simulated nodes, this one runs {nodes!r}"
    return nodes


def gateway_nodes(engine: Engine) -> GatewayNodeCommands:
    """A production engine's node commands: the node gateway's registry and the bootstrap options to tune."""
    nodes = engine.nodes
    assert isinstance(nodes, GatewayNodeCommands), f"a production engine reaches real nodes, this one runs {nodes!r}"
    return nodes
