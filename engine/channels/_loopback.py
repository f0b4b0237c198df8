"""Start an aiohttp app on a loopback socket we bind ourselves, so port 0 yields a known free port."""

from __future__ import annotations

import socket

from aiohttp import web

__all__ = ["serve_app"]


async def serve_app(app: web.Application, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` and return the runner (call ``cleanup()`` to stop) and the port."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner, int(sock.getsockname()[1])
