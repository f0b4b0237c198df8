"""The cloud-init user data that boots clawnode on a new VPS, and its inverse.

Provisioning renders it with the single-use bootstrap token the gateway issued for the instance;
a provider emulator parses it back to "boot" a simulated node with exactly the config a real VPS
would have received, so emulated and real servers pair the same way.  No YAML library is needed:
the config travels base64-encoded in a standard ``write_files`` entry of a layout we own.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import shlex
from typing import Any

from node.config import NodeConfig
from node.errors import ConfigError

__all__ = ["CONFIG_PATH", "parse_cloud_init", "render_cloud_init"]

CONFIG_PATH = "/etc/clawnode/config.json"
STATE_PATH = "/var/lib/clawnode/state.json"

_ENTRY = re.compile(
    r"^\s*-\s*path:\s*" + re.escape(CONFIG_PATH) + r"\s*$(?:\n\s+\w+:.*$)*?\n\s+content:\s*([A-Za-z0-9+/=]+)\s*$",
    re.M,
)


def render_cloud_init(config: dict[str, Any], *, installer_url: str, package: str = "clawops") -> str:
    """``#cloud-config`` that writes the node config (mode 0600) and runs the clawnode installer.

    ``config`` holds the NodeConfig fields (``gateway``, ``bootstrap_token``, ``hostname``, ``account_id``,
    ``instance_id``, ...); it is validated here so a bad config fails at provisioning, not on the VPS.
    """
    NodeConfig.from_dict({**config, "state_path": config.get("state_path", STATE_PATH)})
    body = json.dumps({**config, "state_path": config.get("state_path", STATE_PATH)}, indent=2, sort_keys=True)
    b64 = base64.b64encode(body.encode()).decode("ascii")
    install = (f"curl -fsSL {shlex.quote(installer_url)} -o /root/install-clawnode.sh && "
               f"bash /root/install-clawnode.sh --config-file {CONFIG_PATH} --package {shlex.quote(package)}")
    return "\n".join([
        "#cloud-config",
        "write_files:",
        f"  - path: {CONFIG_PATH}",
        "    owner: root:root",
        "    permissions: '0600'",
        "    encoding: b64",
        f"    content: {b64}",
        "runcmd:",
        f"  - [bash, -c, {json.dumps(install)}]",
        "",
    ])


def parse_cloud_init(user_data: str) -> NodeConfig | None:
    """The clawnode config carried by ``user_data``, or None when it boots no clawnode."""
    match = _ENTRY.search(user_data)
    if match is None:
        return None
    try:
        data = json.loads(base64.b64decode(match.group(1), validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ConfigError("The clawnode config in the cloud-init user data is not valid base64 JSON.") from exc
    return NodeConfig.from_dict(data)
