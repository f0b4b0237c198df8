"""The cloud-init user data that turns a fresh VPS into a managed ClawOps node, and its inverse.

Provisioning renders it for each new server: docker, the user's OpenClaw gateway as a container
(a systemd unit, so clawnode's ``clawops.restart_gateway`` is a plain ``systemctl restart``),
clawnode with its config and the **single-use bootstrap token** the gateway issued for that
instance, and optionally a Tailscale join.  A provider emulator parses it back to "boot" a
simulated node with exactly the config a real VPS would have received, so emulated and real
servers pair the same way.

It is self-contained on purpose (no installer fetched from a URL we would have to host and keep
in step with the package): every file is a ``write_files`` entry, every command a fixed argv.
No YAML library is needed: each file travels base64-encoded and every scalar is written as a
JSON string, which YAML reads as the same string.

Secrets in it — the bootstrap token and the Tailscale auth key — sit only inside base64 file
entries written with mode 0600, never on a command line (where ``ps`` and cloud-init's logs would
show them), and the auth key file is deleted right after ``tailscale up`` has used it.  User data
stays readable on the VPS through the provider's metadata service, which is why the token is
single-use and short-lived and why an ephemeral, pre-approved Tailscale key is the one to store.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import shlex
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from node.config import NodeConfig
from node.errors import ConfigError

__all__ = [
    "CLAWNODE_UNIT",
    "CONFIG_PATH",
    "DEFAULT_OPENCLAW_IMAGE",
    "OPENCLAW_UNIT_NAME",
    "TAILSCALE_KEY_PATH",
    "cloud_init_files",
    "parse_cloud_init",
    "render_cloud_init",
    "render_install_script",
]

CONFIG_PATH = "/etc/clawnode/config.json"
STATE_PATH = "/var/lib/clawnode/state.json"
TAILSCALE_KEY_PATH = "/etc/clawnode/tailscale.authkey"
OPENCLAW_DIR = "/root/.openclaw"
OPENCLAW_UNIT_NAME = "openclaw-gateway"
VENV = "/opt/clawnode/venv"
DEFAULT_OPENCLAW_IMAGE = "ghcr.io/openclaw/openclaw:2026.9.6"
"""The gateway image when the engine names none; the version the protocol reference was checked against."""

_SAFE_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$")
_SAFE_PACKAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-\[\],=<>~!/:+@]{0,254}$")
_SAFE_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$")

CLAWNODE_UNIT = (files("node") / "clawnode.service").read_text(encoding="utf-8")
"""The systemd unit (``node/clawnode.service``, shipped in the package): one copy for every way of installing."""


def _openclaw_unit(image: str) -> str:
    """The user's OpenClaw gateway as a container on the host network.

    Host networking keeps the gateway's own default meaningful (listen on loopback, port 18789): it is
    reachable by clawnode's probe on 127.0.0.1 and by nothing outside the VPS unless the user's config
    says so.  The command is the upstream compose file's (``node … gateway``) with ``openclaw.mjs`` as
    the entry point, so clawnode finds the process by the name ``openclaw`` and the argument ``gateway``;
    ``--allow-unconfigured`` lets it start before the user's config is pushed.  The image runs as the
    ``node`` user (uid 1000), which owns the mounted data directory.
    """
    return f"""[Unit]
Description=OpenClaw gateway (container {image})
Requires=docker.service
After=docker.service network-online.target

[Service]
Restart=always
RestartSec=5
ExecStartPre=-/usr/bin/docker rm -f {OPENCLAW_UNIT_NAME}
ExecStart=/usr/bin/docker run --rm --init --name {OPENCLAW_UNIT_NAME} --network host -e HOME=/home/node \\
  -v {OPENCLAW_DIR}:/home/node/.openclaw {image} \\
  node openclaw.mjs gateway run --bind loopback --port 18789 --allow-unconfigured
ExecStop=/usr/bin/docker stop {OPENCLAW_UNIT_NAME}

[Install]
WantedBy=multi-user.target
"""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


def _file(path: str, content: str, permissions: str) -> list[str]:
    return [
        f"  - path: {path}",
        "    owner: root:root",
        f"    permissions: '{permissions}'",
        "    encoding: b64",
        f"    content: {_b64(content)}",
    ]


def _argv(*args: str) -> str:
    return "  - " + json.dumps(list(args))


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a new server needs: files (path, text, mode) then commands (fixed argv), in order."""

    hostname: str | None
    files: list[tuple[str, str, str]]
    commands: list[list[str]]


def _plan(
    config: dict[str, Any],
    package: str,
    openclaw_image: str,
    openclaw_config: dict[str, Any] | None,
    tailscale_auth_key: str | None,
) -> _Plan:
    body = {**config, "state_path": config.get("state_path", STATE_PATH)}
    node_config = NodeConfig.from_dict(body)
    if not _SAFE_IMAGE.fullmatch(openclaw_image):
        raise ConfigError(f"{openclaw_image[:80]!r} is not a container image reference (registry/name:tag).")
    if not _SAFE_PACKAGE.fullmatch(package):
        raise ConfigError(f"{package[:80]!r} is not a pip requirement or wheel URL clawnode can be installed from.")
    hostname = node_config.hostname if _SAFE_HOST.fullmatch(node_config.hostname) else None
    files = [
        (CONFIG_PATH, json.dumps(body, indent=2, sort_keys=True) + "\n", "0600"),
        ("/etc/systemd/system/clawnode.service", CLAWNODE_UNIT, "0644"),
        (f"/etc/systemd/system/{OPENCLAW_UNIT_NAME}.service", _openclaw_unit(openclaw_image), "0644"),
    ]
    if openclaw_config is not None:
        files.append(
            (f"{OPENCLAW_DIR}/openclaw.json", json.dumps(openclaw_config, indent=2, sort_keys=True) + "\n", "0600")
        )
    if tailscale_auth_key:
        files.append((TAILSCALE_KEY_PATH, tailscale_auth_key.strip() + "\n", "0600"))
    commands = [["systemctl", "enable", "--now", "docker"]]
    if tailscale_auth_key:
        # The key is read from its 0600 file ("file:" form) and removed whatever `tailscale up` returned.
        join = (
            f"curl -fsSL https://tailscale.com/install.sh | sh && tailscale up --auth-key=file:{TAILSCALE_KEY_PATH}"
            + (f" --hostname={hostname}" if hostname else "")
            + f"; rc=$?; rm -f {TAILSCALE_KEY_PATH}; exit $rc"
        )
        commands.append(["bash", "-c", join])
    commands += [
        # The container's user (node, uid 1000) owns its data; clawnode (root) keeps that owner on every write.
        ["install", "-d", "-m", "0700", "-o", "1000", "-g", "1000", OPENCLAW_DIR],
        ["chown", "-R", "1000:1000", OPENCLAW_DIR],
        ["python3", "-m", "venv", VENV],
        [f"{VENV}/bin/pip", "install", "--quiet", "--upgrade", package],
        [f"{VENV}/bin/clawnode", "identity", "--config", CONFIG_PATH],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", f"{OPENCLAW_UNIT_NAME}.service", "clawnode.service"],
    ]
    return _Plan(hostname, files, commands)


_PACKAGES = ["ca-certificates", "curl", "docker.io", "python3", "python3-venv"]


def render_cloud_init(
    config: dict[str, Any],
    *,
    package: str = "clawops",
    openclaw_image: str = DEFAULT_OPENCLAW_IMAGE,
    openclaw_config: dict[str, Any] | None = None,
    tailscale_auth_key: str | None = None,
) -> str:
    """``#cloud-config`` that installs docker, the OpenClaw gateway container and clawnode, then starts them.

    ``config`` holds the NodeConfig fields (``gateway``, ``bootstrap_token``, ``hostname``, ``account_id``,
    ``instance_id``, ...); it is validated here so a bad config fails at provisioning, not on the VPS.
    ``openclaw_config`` is the gateway's initial ``openclaw.json`` (later changes go through
    ``clawops.config_apply``).  Without ``tailscale_auth_key`` the Tailscale part is left out entirely.
    """
    plan = _plan(config, package, openclaw_image, openclaw_config, tailscale_auth_key)
    lines = ["#cloud-config"]
    if plan.hostname:
        lines.append(f"hostname: {json.dumps(plan.hostname)}")
    lines += ["package_update: true", "packages: " + json.dumps(_PACKAGES), "write_files:"]
    for path, text, mode in plan.files:
        lines += _file(path, text, mode)
    lines.append("runcmd:")
    lines += [_argv(*argv) for argv in plan.commands]
    lines.append("")
    return "\n".join(lines)


def render_install_script(
    config: dict[str, Any],
    *,
    package: str = "clawops",
    openclaw_image: str = DEFAULT_OPENCLAW_IMAGE,
    openclaw_config: dict[str, Any] | None = None,
    tailscale_auth_key: str | None = None,
) -> str:
    """The same bootstrap as a bash script, for providers without cloud-init (Hostinger's post-install script).

    Files are written from base64 (no value is ever interpreted by the shell) under ``umask 077``;
    every command is a quoted fixed argv.
    """
    plan = _plan(config, package, openclaw_image, openclaw_config, tailscale_auth_key)
    lines = [
        "#!/bin/bash",
        "# ClawOps node bootstrap (clawnode + OpenClaw gateway container)",
        "set -euo pipefail",
        "umask 077",
        "export DEBIAN_FRONTEND=noninteractive",
    ]
    if plan.hostname:
        lines.append(shlex.join(["hostnamectl", "set-hostname", plan.hostname]))
    lines += ["apt-get update -q", shlex.join(["apt-get", "install", "-y", "-q", *_PACKAGES])]
    for path, text, mode in plan.files:
        lines += [
            f"# clawnode-file: {path}",
            shlex.join(["install", "-d", "-m", "0755", path.rsplit("/", 1)[0]]),
            f"echo {_b64(text)} | base64 -d > {shlex.quote(path)}",
            shlex.join(["chmod", mode, path]),
        ]
    for argv in plan.commands:
        line = shlex.join(argv)
        if argv[:2] == ["bash", "-c"] and "tailscale" in argv[2]:
            line += " || echo 'clawnode bootstrap: joining the tailnet failed; continuing on the public route' >&2"
        lines.append(line)
    lines.append("")
    return "\n".join(lines)


_ENTRY = re.compile(
    r"^\s*-\s*path:\s*" + re.escape(CONFIG_PATH) + r"\s*$(?:\n\s+\w+:.*$)*?\n\s+content:\s*([A-Za-z0-9+/=]+)\s*$",
    re.M,
)


_SCRIPT_ENTRY = re.compile(
    r"^# clawnode-file: " + re.escape(CONFIG_PATH) + r"\n(?:.*\n)??echo ([A-Za-z0-9+/=]+) \| base64 -d", re.M
)


def parse_cloud_init(user_data: str) -> NodeConfig | None:
    """The clawnode config carried by ``user_data``, or None when it boots no clawnode."""
    match = _ENTRY.search(user_data) or _SCRIPT_ENTRY.search(user_data)
    if match is None:
        return None
    try:
        data = json.loads(base64.b64decode(match.group(1), validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ConfigError("The clawnode config in the cloud-init user data is not valid base64 JSON.") from exc
    return NodeConfig.from_dict(data)


def cloud_init_files(user_data: str) -> dict[str, str]:
    """Every ``write_files`` entry of ``user_data`` (path -> decoded text), for checks and emulators."""
    out: dict[str, str] = {}
    for match in re.finditer(
        r"^\s*-\s*path:\s*(\S+)\s*$(?:\n\s+\w+:.*$)*?\n\s+content:\s*([A-Za-z0-9+/=]+)\s*$", user_data, re.M
    ):
        try:
            out[match.group(1)] = base64.b64decode(match.group(2), validate=True).decode()
        except (binascii.Error, ValueError):
            continue
    return out
