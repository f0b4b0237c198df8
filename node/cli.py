"""``clawnode`` command line: ``run --config FILE``, ``identity``, ``install`` and ``unit``.

argparse keeps the node's install footprint at websockets + cryptography.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import signal
import sys
from collections.abc import Sequence

from node import __version__, install
from node.client import NodeClient
from node.config import NodeConfig
from node.errors import NodeError
from node.identity import DeviceIdentity

__all__ = ["main"]

DEFAULT_STATE_PATH = "/var/lib/clawnode/state.json"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="clawnode", description="ClawOps node agent (OpenClaw node protocol).")
    p.add_argument("--version", action="version", version=f"clawnode {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="connect to the gateway and serve health reports and commands")
    run.add_argument("--config", required=True, help="JSON config file")
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    ident = sub.add_parser("identity", help="print this node's device id and public key")
    ident.add_argument("--config", help="JSON config file (its state_path is used)")
    ident.add_argument("--state", help=f"identity state file (default {DEFAULT_STATE_PATH})")
    ident.add_argument("--json", action="store_true", help="print JSON")
    install.add_arguments(sub)
    return p


async def _run(config: NodeConfig) -> None:
    client = NodeClient(config)
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[None]] = []  # keep a reference so the stop task is not collected
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, lambda: stopping.append(asyncio.create_task(client.stop())))
    await client.run()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "run":
            logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
            config = NodeConfig.load(args.config)
            if config.state_path is None:
                config = dataclasses.replace(config, state_path=DEFAULT_STATE_PATH)
            asyncio.run(_run(config))
            return 0
        if args.cmd in ("install", "unit"):
            return install.run(args)
        state = args.state
        if state is None and args.config:
            state = NodeConfig.load(args.config).state_path
        identity = DeviceIdentity.load_or_create(state or DEFAULT_STATE_PATH)
        if args.json:
            print(
                json.dumps(
                    {
                        "deviceId": identity.device_id,
                        "publicKey": identity.public_key_b64url,
                        "paired": identity.device_token is not None,
                    }
                )
            )
        else:
            print(f"device id:  {identity.device_id}")
            print(f"public key: {identity.public_key_b64url}")
        return 0
    except NodeError as exc:
        print(f"clawnode: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
