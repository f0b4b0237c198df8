"""The embedded node gateway: OpenClaw protocol, server side, node role.

Wire types come from ``node.protocol`` (the node package owns the protocol); this package adds the
server: handshake checks, pairing (operator approval and single-use bootstrap tokens), device tokens,
ticks, invokes and fan-out.  It imports nothing from ``app``.  The server itself does not touch the
store (health reports go to the ``on_health_report`` callback the engine passes in); the one piece
that does is :class:`StoredDeviceRegistry`, the pairing registry the engine gives it so that paired
nodes survive a restart.
"""

from __future__ import annotations

from engine.gateway._archive import ArchiveFailed, fetch_archive
from engine.gateway._errors import CommandNotAllowed, GatewayError, NodeNotConnected
from engine.gateway._registry import Approval, BootstrapGrant, DeviceRegistry, PairedDevice, PairingRequest, new_token
from engine.gateway._server import ConnectedNode, GatewayStats, InvokeResult, NodeGateway
from engine.gateway._stored import StoredDeviceRegistry
from engine.gateway._upstream import OpenClawOperatorLink, UpstreamNode
from node.protocol import NodeHealthReport

__all__ = [
    "Approval",
    "ArchiveFailed",
    "BootstrapGrant",
    "CommandNotAllowed",
    "ConnectedNode",
    "DeviceRegistry",
    "GatewayError",
    "GatewayStats",
    "InvokeResult",
    "NodeGateway",
    "NodeHealthReport",
    "NodeNotConnected",
    "OpenClawOperatorLink",
    "PairedDevice",
    "PairingRequest",
    "StoredDeviceRegistry",
    "UpstreamNode",
    "fetch_archive",
    "new_token",
]
