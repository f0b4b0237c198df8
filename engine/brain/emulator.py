"""A local emulator of Anthropic's Messages API, for tests and demos without a key.

It serves ``POST /v1/messages`` on loopback, in JSON or as a server-sent
event stream (``"stream": true``) with the same event sequence as the real
API (message_start, content_block_start/delta/stop, message_delta,
message_stop), and replays a *script*: the replies a model would give, in
order, including ``tool_use`` turns and errors (429 rate limited, 529
overloaded).  The real ``anthropic`` SDK is pointed at it by ``base_url``.

It also checks what a real server would reject: a missing key or version
header, an empty conversation, and a ``tool_result`` that does not answer a
``tool_use`` of the previous assistant turn — so a brain that mangles the
tool protocol fails here, not in production.  Every request is recorded in
:attr:`AnthropicEmulator.requests` for assertions (unless ``record=False``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["AnthropicEmulator", "Scripted", "error", "say", "use_tools"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass(frozen=True, slots=True)
class Scripted:
    """One scripted answer: a message (text and/or tool_use blocks) or an HTTP error."""

    content: tuple[dict[str, Any], ...] = ()
    stop_reason: str = "end_turn"
    status: int = 200
    retry_after: float | None = None
    output_tokens: int | None = None


def say(text: str) -> Scripted:
    """The model answers with text and ends its turn."""
    return Scripted(({"type": "text", "text": text},))


def use_tools(*calls: tuple[str, dict[str, Any]], text: str = "") -> Scripted:
    """The model calls tools (in order), optionally saying something first."""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    blocks += [{"type": "tool_use", "name": name, "input": args} for name, args in calls]
    return Scripted(tuple(blocks), stop_reason="tool_use")


def error(status: int, retry_after: float | None = None) -> Scripted:
    """The API fails this request (429 rate limit, 529 overloaded, 500 …)."""
    return Scripted(status=status, retry_after=retry_after)


Responder = Callable[[dict[str, Any]], Scripted]


@dataclass
class AnthropicEmulator:
    """A scripted Messages API on 127.0.0.1; use ``async with`` and pass :attr:`base_url` to the SDK."""

    script: list[Scripted] = field(default_factory=list)
    responder: Responder | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    record: bool = True
    """Keep every request in :attr:`requests`.  Off for long runs nothing asserts on (the LLM eval's ~1000
    requests, each carrying the tool schemas, kept ~240,000 objects alive that every full garbage collection
    walked again: ~1 CPU-s a run)."""
    port: int = 0
    _runner: web.AppRunner | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, *replies: Scripted) -> None:
        self.script.extend(replies)

    async def start(self) -> str:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/v1/messages", self._messages)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> AnthropicEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ HTTP
    async def _messages(self, request: web.Request) -> web.StreamResponse:
        if not request.headers.get("x-api-key") and not request.headers.get("authorization"):
            return _error(401, "x-api-key header is required")
        if not request.headers.get("anthropic-version"):
            return _error(400, "anthropic-version header is required")
        try:
            raw = await request.read()
            body = json.loads(raw)
        except ValueError:
            return _error(400, "the request body is not JSON")
        if self.record:
            self.requests.append(body)
        problem = _check(body)
        if problem:
            return _error(400, problem)
        if self.script:
            reply = self.script.pop(0)
        elif self.responder is not None:
            reply = self.responder(body)
        else:
            return _error(400, "the emulator's script is exhausted (the brain asked more than the test expected)")
        if reply.status != 200:
            headers = {"retry-after": f"{reply.retry_after:g}"} if reply.retry_after is not None else {}
            return _error(reply.status, "Overloaded" if reply.status == 529 else "scripted error", headers)
        content = [
            dict(b, id=f"toolu_emu_{next(self._ids):04d}") if b["type"] == "tool_use" else dict(b)
            for b in reply.content
        ]
        # About four bytes of the request as sent per token (serialising the parsed body again to measure it cost
        # up to 5 ms a request once the history carried tool results).
        input_tokens = max(1, len(raw) // 4)
        output_tokens = reply.output_tokens or max(1, len(json.dumps(content)) // 4)
        message = {
            "id": f"msg_emu_{next(self._ids):06d}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", ""),
            "content": content,
            "stop_reason": reply.stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }
        if not body.get("stream"):
            return web.json_response(message)
        return await self._stream(request, message)

    async def _stream(self, request: web.Request, message: dict[str, Any]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
        await response.prepare(request)

        async def send(event: str, data: dict[str, Any]) -> None:
            await response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())

        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": message["usage"]["input_tokens"], "output_tokens": 1},
        }
        await send("message_start", {"type": "message_start", "message": start})
        await send("ping", {"type": "ping"})
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                await send(
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
                )
                for piece in _chunks(block["text"], 12):
                    await send(
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}},
                    )
            else:
                await send(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}},
                    },
                )
                for piece in _chunks(json.dumps(block["input"]), 20):
                    await send(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": piece},
                        },
                    )
            await send("content_block_stop", {"type": "content_block_stop", "index": index})
        await send(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": message["usage"]["output_tokens"]},
            },
        )
        await send("message_stop", {"type": "message_stop"})
        await response.write_eof()
        return response


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    kind = _ERROR_TYPES.get(status, "api_error")
    return web.json_response(
        {"type": "error", "error": {"type": kind, "message": message}}, status=status, headers=headers
    )


def _check(body: Any) -> str | None:
    """What the real API would reject about this request's shape, as a sentence; None when fine."""
    if not isinstance(body, dict):
        return "the body must be an object"
    for key in ("model", "max_tokens", "messages"):
        if key not in body:
            return f"{key}: field required"
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if messages[0].get("role") != "user":
        return "messages: the first message must use the user role"
    for prev, msg in itertools.pairwise(messages):
        if prev.get("role") == msg.get("role"):
            return "messages: roles must alternate between user and assistant"
        content = msg.get("content")
        if msg.get("role") != "user" or not isinstance(content, list):
            continue
        answered = {b.get("tool_use_id") for b in content if isinstance(b, dict) and b.get("type") == "tool_result"}
        if not answered:
            continue
        asked = {b.get("id") for b in prev.get("content", []) if isinstance(b, dict) and b.get("type") == "tool_use"}
        if answered - asked:
            return "messages: tool_result blocks must answer tool_use blocks of the previous assistant message"
        if asked - answered:
            return "messages: every tool_use needs a tool_result in the next user message"
    return None


def main() -> None:
    """``python -m engine.brain.emulator``: serve an always-"I'm the emulator" model; prints the base URL."""
    parser = argparse.ArgumentParser(description="Anthropic Messages API emulator (loopback)")
    parser.add_argument("--port", type=int, default=0)
    port = parser.parse_args().port

    async def serve() -> None:
        emu = AnthropicEmulator(port=port, responder=lambda body: say("[CMD] (Messages API emulator) I hear you."))
        print(await emu.start(), flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
