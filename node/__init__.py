"""clawnode: the agent that runs on every VPS and speaks the OpenClaw gateway protocol (node role).

Standalone by contract: imports nothing from ``engine`` or ``app``; runtime needs only ``websockets``
and ``cryptography``.  ``node.protocol`` holds the wire types the engine's gateway imports.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
