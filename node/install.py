"""``clawnode install``: config, identity and the systemd unit on this machine, then the service started.

What ``deploy/install-clawnode.sh`` and the one-line install run after pip has installed the package::

    clawnode install --gateway wss://ops.example.com:18789/ --bootstrap-token TOKEN \\
        --instance i-acct-042-p --account acct-042 [--provider hetzner --region … --tier … --role primary]

It writes ``/etc/clawnode/config.json`` (0600), creates the Ed25519 identity in
``/var/lib/clawnode/state.json`` (0600) so exactly one key is ever generated, installs the packaged
unit (``node/clawnode.service``, its ``ExecStart`` pointing at this installation's ``clawnode``) and
runs ``systemctl daemon-reload`` and ``enable --now`` (``restart`` when it was running).  The node then
pairs with the single-use bootstrap token on its first connect and keeps the device token.
Idempotent: re-running replaces the config and restarts the service; the identity is kept.

``--root DIR`` writes everything under DIR and starts nothing (for packaging and tests).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from node.config import NodeConfig
from node.errors import ConfigError, NodeError
from node.identity import DeviceIdentity

__all__ = ["InstallResult", "install", "unit_text"]

CONFIG_PATH = "etc/clawnode/config.json"
STATE_PATH = "var/lib/clawnode/state.json"
UNIT_PATH = "etc/systemd/system/clawnode.service"
_DEFAULT_EXEC = "/opt/clawnode/venv/bin/clawnode"


class InstallError(NodeError):
    """A step of the install failed (the message says which and what to do)."""

    exit_code = 1


@dataclass(frozen=True)
class InstallResult:
    config_path: Path
    unit_path: Path
    device_id: str
    started: bool


def unit_text(executable: str | None = None) -> str:
    """The packaged systemd unit, ``ExecStart`` pointing at ``executable`` (default: the venv path it names)."""
    text = (files("node") / "clawnode.service").read_text(encoding="utf-8")
    if executable and executable != _DEFAULT_EXEC:
        text = text.replace(f"ExecStart={_DEFAULT_EXEC} ", f"ExecStart={executable} ")
    return text


def _own_executable() -> str:
    """This installation's ``clawnode`` (next to the running Python, as in a venv), else the default path."""
    candidate = Path(sys.executable).parent / "clawnode"
    return str(candidate) if candidate.exists() else _DEFAULT_EXEC


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _systemctl(*args: str) -> None:
    if shutil.which("systemctl") is None:
        raise InstallError(
            "systemctl is not available: clawnode installs as a systemd service; on a machine "
            "without systemd run `clawnode run --config /etc/clawnode/config.json` yourself."
        )
    proc = subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise InstallError(f"`systemctl {' '.join(args)}` failed: {(proc.stderr or proc.stdout).strip()[:300]}")


def install(
    settings: dict[str, Any], *, root: str | Path = "/", start: bool = True, executable: str | None = None
) -> InstallResult:
    """Write config, identity and unit under ``root`` and (when ``root`` is ``/`` and ``start``) start clawnode."""
    base = Path(root)
    live = base.resolve() == Path("/")
    if live and start and os.geteuid() != 0:
        raise InstallError(
            "clawnode install must run as root (it writes /etc and manages a system service); run it with sudo."
        )
    body = {k: v for k, v in settings.items() if v not in (None, "")}
    body["state_path"] = "/" + STATE_PATH
    if not body.get("token") and not body.get("bootstrap_token"):
        raise ConfigError(
            "Give --bootstrap-token (the single-use token ClawOps issued for this instance) or "
            "--token (the gateway's shared token)."
        )
    NodeConfig.from_dict(body)  # the same checks `clawnode run` makes, before anything is written
    (base / "etc/clawnode").mkdir(parents=True, exist_ok=True, mode=0o700)
    (base / "var/lib/clawnode").mkdir(parents=True, exist_ok=True, mode=0o700)
    config_path = base / CONFIG_PATH
    _write(config_path, json.dumps(body, indent=2, sort_keys=True) + "\n", 0o600)
    identity = DeviceIdentity.load_or_create(base / STATE_PATH)
    unit_path = base / UNIT_PATH
    _write(unit_path, unit_text(executable or _own_executable()), 0o644)
    started = False
    if live and start:
        _systemctl("daemon-reload")
        _systemctl("enable", "clawnode.service")
        _systemctl("restart", "clawnode.service")  # start, or pick up a new config when already running
        started = True
    return InstallResult(config_path, unit_path, identity.device_id, started)


def settings_from_args(args: Any) -> dict[str, Any]:
    return {
        "gateway": args.gateway,
        "bootstrap_token": args.bootstrap_token,
        "token": args.token,
        "hostname": args.hostname,
        "account_id": args.account,
        "instance_id": args.instance,
        "provider": args.provider,
        "region": args.region,
        "tier": args.tier,
        "role": args.role,
        "tls_fingerprint": args.tls_fingerprint,
    }


def add_arguments(sub: Any) -> None:
    p = sub.add_parser(
        "install",
        help="write config + identity, install the systemd unit and start clawnode",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--gateway", required=True, help="the node gateway's ws:// or wss:// URL")
    p.add_argument("--bootstrap-token", help="single-use token ClawOps issued for this instance")
    p.add_argument("--token", help="the gateway's shared token (instead of a bootstrap token)")
    p.add_argument("--hostname", default=os.uname().nodename)
    p.add_argument("--account", help="account id this server belongs to")
    p.add_argument("--instance", help="instance id in ClawOps")
    p.add_argument("--provider")
    p.add_argument("--region")
    p.add_argument("--tier")
    p.add_argument("--role", choices=["primary", "standby"])
    p.add_argument("--tls-fingerprint", help="sha256 of the gateway's certificate (wss:// only)")
    p.add_argument("--root", default="/", help="write under this directory and start nothing (packaging, tests)")
    p.add_argument("--no-start", action="store_true", help="write everything but do not start the service")
    sub.add_parser("unit", help="print the systemd unit this clawnode installs")


def run(args: Any, out: Any = None) -> int:
    out = out or sys.stdout
    if args.cmd == "unit":
        out.write(unit_text(_own_executable()))
        return 0
    result = install(settings_from_args(args), root=args.root, start=not args.no_start)
    print(f"clawnode config:  {result.config_path}", file=out)
    print(f"systemd unit:     {result.unit_path}", file=out)
    print(f"device id:        {result.device_id}", file=out)
    print(
        "clawnode is running; it pairs on its first connect (journalctl -u clawnode -f)"
        if result.started
        else "not started (--root/--no-start): start it with `systemctl enable --now clawnode`",
        file=out,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - convenience for `python -m node.install`
    from node.cli import main as cli_main

    return cli_main(["install", *(argv or sys.argv[1:])])
