"""Helpers for the operator API tests: a daemon in the test's loop, the keys of three operators."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from engine.api._daemon import serve_api
from engine.runtime import Engine

DEMO_PAIRS = 30


@dataclass
class Keys:
    owner: str
    alice: str
    bob: str


class Daemon:
    """A running operator API; ``stop()`` shuts it down gracefully, ``start()`` brings it back on the same port."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = ""
        self.port = 0
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> str:
        ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(
            serve_api(self.engine, "127.0.0.1", self.port, stop=self._stop, ready=ready.set_result)
        )
        self.url = await asyncio.wait_for(ready, 30)
        self.port = int(self.url.rsplit(":", 1)[1])
        return self.url

    async def stop(self) -> None:
        if self._stop is not None and self._task is not None:
            self._stop.set()
            await asyncio.wait_for(self._task, 60)
            self._task = None


class WebServer:
    """``clawops web`` in the test's loop, in embedded mode, signing in against the engine's real key check."""

    def __init__(self, engine: Engine) -> None:
        from app.web import WebChat, chat_command
        from engine.api import default_authenticator

        self.engine = engine
        check = default_authenticator(engine, channel="web")
        self.chat = WebChat(
            chat_command(),
            check_key=lambda key, source=None: check(key, source=source).name,
            env_for=lambda session: {"CLAWOPS_OPERATOR": session.operator},
            port=0,
        )
        self.url = ""
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> str:
        from app.web import serve_web

        ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(serve_web(self.chat, stop=self._stop, ready=ready.set_result))
        self.url = await asyncio.wait_for(ready, 30)
        return self.url

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, 60)
