"""The clawnode JSON config (the product brief's fields plus a few optional knobs)."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from node.errors import ConfigError

__all__ = ["NodeConfig"]

_NUMBERS = frozenset({"health_interval_s", "host_stats_interval_s"})


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Everything ``clawnode run`` needs.

    ``token`` is the shared gateway token; ``bootstrap_token`` is the single-use token from cloud-init
    (preferred for the first pairing when present).  Once the gateway issues a device token it is kept
    in ``state_path`` and used instead of both.
    """

    gateway: str
    token: str | None = None
    hostname: str = "clawnode"
    provider: str | None = None
    region: str | None = None
    tier: str | None = None
    role: str | None = None
    account_id: str | None = None
    state_path: str | None = None
    instance_id: str | None = None
    bootstrap_token: str | None = None
    health_interval_s: float = 30.0
    host_stats_interval_s: float = 60.0
    """How often the standard ``node.host.stats`` event goes out (OpenClaw's own node: every 60 s)."""
    spool_dir: str | None = None
    """Where archives are built before they are read in pieces (default: the temp dir's clawnode-archives)."""
    gateway_service: str = "openclaw-gateway"
    gateway_process: str = "openclaw"
    gateway_probe_url: str | None = "ws://127.0.0.1:18789/"
    openclaw_config_path: str = "/root/.openclaw/openclaw.json"
    data_dir: str = "/root/.openclaw"
    log_path: str | None = None
    display_name: str | None = None
    tls_fingerprint: str | None = None
    """sha256 of the gateway's certificate (hex, colons allowed): pin it instead of trusting CAs (wss only)."""

    @classmethod
    def from_dict(cls, data: Any) -> NodeConfig:
        if not isinstance(data, dict):
            raise ConfigError("The clawnode config must be a JSON object.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"Unknown clawnode config field(s) {', '.join(unknown)}; remove them or fix the spelling."
            )
        gateway = data.get("gateway")
        if not isinstance(gateway, str) or not gateway.startswith(("ws://", "wss://")):
            raise ConfigError("The clawnode config needs 'gateway' as a ws:// or wss:// URL.")
        pin = data.get("tls_fingerprint")
        if pin is not None and (
            not isinstance(pin, str) or len(pin.replace(":", "")) != 64 or not gateway.startswith("wss://")
        ):
            raise ConfigError("'tls_fingerprint' must be a sha256 hex digest and needs a wss:// gateway.")
        if not data.get("token") and not data.get("bootstrap_token") and not data.get("state_path"):
            raise ConfigError("The clawnode config needs 'token' (or 'bootstrap_token') to pair with the gateway.")
        for key, default in (("health_interval_s", 30.0), ("host_stats_interval_s", 60.0)):
            interval = data.get(key, default)
            if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0.05 <= interval <= 3600:
                raise ConfigError(f"'{key}' must be a number of seconds between 0.05 and 3600.")
        for f in fields(cls):
            value = data.get(f.name)
            if f.name not in _NUMBERS and value is not None and not isinstance(value, str):
                raise ConfigError(f"The clawnode config field {f.name!r} must be a string.")
        return cls(**{k: v for k, v in data.items() if v is not None})

    @classmethod
    def load(cls, path: str | Path) -> NodeConfig:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"The clawnode config file {path} does not exist.") from exc
        except (OSError, ValueError) as exc:
            raise ConfigError(f"The clawnode config file {path} is not readable JSON ({exc}).") from exc
        return cls.from_dict(data)
