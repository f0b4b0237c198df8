"""A loopback emulator of the Telegram Bot API subset ClawOps uses, for tests and the demo.

It speaks the real wire format (``/bot<token>/<method>``, ``{"ok": ..., "result": ...}``, multipart
uploads, ``/file/bot<token>/<path>`` downloads, long-polling ``getUpdates``) so the production client
is tested unchanged, pointed here by base URL. Test helpers inject user messages and voice notes,
record everything the bot sent, and inject faults: flood limits with ``retry_after`` and 5xx errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web

from engine.channels._loopback import serve_app

__all__ = ["SentMessage", "TelegramEmulator"]


@dataclass
class SentMessage:
    """One thing the bot sent: kind is "text", "voice" or "document"."""

    chat_id: str
    kind: str
    text: str | None = None
    content: bytes | None = None
    filename: str | None = None
    duration: int | None = None
    message_id: int | None = None
    edits: list[str] = field(default_factory=list)
    """Earlier texts of this message, oldest first (``editMessageText``)."""


_BOT = {"id": 1, "is_bot": True, "first_name": "ClawOps", "username": "clawops_bot"}
"""The bot itself, as getMe and the ``from`` of its own messages show it."""


_DESCRIPTIONS = {
    400: "Bad Request: wrong file identifier/HTTP URL specified",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    502: "Bad Gateway",
}
"""What the Bot API says with each status an injected fault answers (its own wording for the common cases)."""


class _BadRequest(Exception):
    """A request body the Bot API cannot read (answered 400 with Telegram's description)."""


@dataclass
class _Fault:
    method: str | None
    status: int
    retry_after: int | None
    remaining: int


@dataclass
class TelegramEmulator:
    """Serve with ``async with TelegramEmulator(token) as emu:``; point the client at ``emu.base_url``."""

    token: str = "123456:TEST"
    host: str = "127.0.0.1"
    port: int = 0
    sent: list[SentMessage] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._files: dict[str, tuple[str, bytes]] = {}
        self._faults: list[_Fault] = []
        self._update_ids = itertools.count(1000)
        self._message_ids = itertools.count(1)
        self._new_update = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.webhook: tuple[str, str] | None = None

    # -- lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner, self.port = await serve_app(app, self.host, self.port)
        self.base_url = f"http://{self.host}:{self.port}"
        return self.base_url

    async def stop(self) -> None:
        self._new_update.set()  # wake long polls in flight, so shutting down never waits out their timeout
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> TelegramEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- test helpers --------------------------------------------------------------------------------
    def _push(self, user_id: int, payload: dict[str, Any], *, is_bot: bool = False) -> int:
        message = self.message(user_id, **payload)
        message["from"]["is_bot"] = is_bot
        return self.push_update("message", message)

    def push_update(self, kind: str, body: Any) -> int:
        """Queue any other update as Telegram would deliver it, ``{"update_id": N, kind: body}`` (an
        ``edited_message``, a ``callback_query``, a ``my_chat_member``, or a malformed one); returns its id."""
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, kind: body})
        self._new_update.set()
        return update_id

    def message(self, user_id: int, **payload: Any) -> dict[str, Any]:
        """A private-chat ``Message`` from ``user_id`` with ``payload`` (for :meth:`push_update`)."""
        return {
            "message_id": next(self._message_ids),
            "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
            "chat": {"id": user_id, "type": "private"},
            "date": int(time.time()),
            **payload,
        }

    def send_text(self, user_id: int, text: str) -> int:
        """A user writes to the bot; returns the update id."""
        return self._push(user_id, {"text": text})

    def send_voice(self, user_id: int, ogg: bytes, duration: int = 1) -> int:
        """A user sends a voice note (stored as a downloadable file)."""
        file_id = f"voice-{len(self._files) + 1}"
        self._files[file_id] = (f"voice/{file_id}.oga", ogg)
        voice = {
            "file_id": file_id,
            "file_unique_id": file_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": len(ogg),
        }
        return self._push(user_id, {"voice": voice})

    def flood(self, times: int = 1, retry_after: int = 1, method: str | None = None) -> None:
        """The next ``times`` calls (of ``method``, or any) answer 429 with ``retry_after``."""
        self._faults.append(_Fault(method, 429, retry_after, times))

    def fail(self, times: int = 1, status: int = 502, method: str | None = None) -> None:
        """The next ``times`` calls (of ``method``, or any) answer with a server error."""
        self._faults.append(_Fault(method, status, None, times))

    def clear_faults(self) -> None:
        """The API is healthy again."""
        self._faults.clear()

    def pending_updates(self) -> int:
        return len(self._updates)

    # -- handlers ------------------------------------------------------------------------------------
    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return web.json_response(body, status=status)

    def _fault_for(self, method: str) -> _Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.method in (None, method):
                fault.remaining -= 1
                return fault
        return None

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST":
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    body = None
                if not isinstance(body, dict):
                    raise _BadRequest("Bad Request: can't parse JSON object")
                params.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        params[key] = (value.filename, value.file.read())
                    else:
                        params[key] = value
        return params

    async def _method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.calls.append(method)
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        fault = self._fault_for(method)
        if fault is not None:
            if fault.status == 429:
                return self._error(429, f"Too Many Requests: retry after {fault.retry_after}", fault.retry_after)
            return self._error(fault.status, _DESCRIPTIONS.get(fault.status, "Internal Server Error"))
        try:
            params = await self._params(request)
        except _BadRequest as exc:
            return self._error(400, str(exc))
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return self._error(404, "Not Found: method not found")
        result: web.Response = await handler(params)
        return result

    async def _m_getMe(self, params: dict[str, Any]) -> web.Response:
        return self._ok(dict(_BOT))

    async def _m_getUpdates(self, params: dict[str, Any]) -> web.Response:
        if self.webhook is not None:
            return self._error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
                "the webhook first",
            )
        try:
            offset = int(params.get("offset") or 0)
            timeout = min(max(float(params.get("timeout") or 0), 0.0), 30.0)
        except (TypeError, ValueError):
            return self._error(400, "Bad Request: invalid offset or timeout")
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and timeout > 0:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), timeout)
            except TimeoutError:
                pass
        return self._ok(list(self._updates[:100]))

    def _chat(self, params: dict[str, Any]) -> str | None:
        """The target chat: a numeric id, as Telegram's private chats have (anything else is "chat not found")."""
        chat = params.get("chat_id")
        if chat in (None, ""):
            return None
        try:
            return str(int(str(chat)))
        except ValueError:
            return None

    def _message(self, message_id: int, chat: str, **content: Any) -> dict[str, Any]:
        """A ``Message`` as the Bot API returns it for the bot's own sends."""
        return {
            "message_id": message_id,
            "from": _BOT,
            "chat": {"id": int(chat), "type": "private"},
            "date": int(time.time()),
            **content,
        }

    async def _m_sendMessage(self, params: dict[str, Any]) -> web.Response:
        chat, text = self._chat(params), str(params.get("text") or "")
        if chat is None:
            return self._error(400, "Bad Request: chat not found")
        if not text.strip():
            return self._error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return self._error(400, "Bad Request: message is too long")
        message_id = next(self._message_ids)
        self.sent.append(SentMessage(chat, "text", text=text, message_id=message_id))
        return self._ok(self._message(message_id, chat, text=text))

    async def _m_editMessageText(self, params: dict[str, Any]) -> web.Response:
        chat, text = self._chat(params), str(params.get("text") or "")
        try:
            message_id = int(params.get("message_id") or 0)
        except (TypeError, ValueError):
            message_id = 0
        target = next((m for m in self.sent if m.chat_id == chat and m.message_id == message_id), None)
        if chat is None or target is None:
            return self._error(400, "Bad Request: message to edit not found")
        if not text.strip():
            return self._error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return self._error(400, "Bad Request: MESSAGE_TOO_LONG")
        if target.text == text:
            return self._error(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup of "
                "the message",
            )
        target.edits.append(target.text or "")
        target.text = text
        return self._ok(self._message(message_id, chat, text=text, edit_date=int(time.time())))

    async def _m_sendVoice(self, params: dict[str, Any]) -> web.Response:
        chat, voice = self._chat(params), params.get("voice")
        if chat is None or not isinstance(voice, tuple):
            return self._error(400, "Bad Request: there is no voice in the request")
        try:
            duration = int(params["duration"]) if params.get("duration") else None
        except (TypeError, ValueError):
            return self._error(400, "Bad Request: invalid duration")
        message_id = next(self._message_ids)
        self.sent.append(
            SentMessage(
                chat,
                "voice",
                text=params.get("caption"),
                content=voice[1],
                filename=voice[0],
                duration=duration,
                message_id=message_id,
            )
        )
        note = {
            "file_id": f"sent-voice-{message_id}",
            "file_unique_id": f"sv{message_id}",
            "duration": duration or 0,
            "mime_type": "audio/ogg",
            "file_size": len(voice[1]),
        }
        return self._ok(self._message(message_id, chat, voice=note))

    async def _m_sendDocument(self, params: dict[str, Any]) -> web.Response:
        chat, doc = self._chat(params), params.get("document")
        if chat is None or not isinstance(doc, tuple):
            return self._error(400, "Bad Request: there is no document in the request")
        message_id = next(self._message_ids)
        self.sent.append(
            SentMessage(
                chat, "document", text=params.get("caption"), content=doc[1], filename=doc[0], message_id=message_id
            )
        )
        document = {
            "file_name": doc[0],
            "file_id": f"sent-doc-{message_id}",
            "file_unique_id": f"sd{message_id}",
            "file_size": len(doc[1]),
        }
        return self._ok(self._message(message_id, chat, document=document))

    async def _m_setWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = (str(params.get("url") or ""), str(params.get("secret_token") or ""))
        return self._ok(True)

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = None
        return self._ok(True)

    async def push_webhook(self, update_id: int | None = None) -> int:
        """Deliver the oldest pending update (or ``update_id``) to the registered webhook; return the status."""
        assert self.webhook is not None, "no webhook registered"
        update = next(u for u in self._updates if update_id is None or u["update_id"] == update_id)
        url, secret = self.webhook
        async with httpx.AsyncClient() as http:
            resp = await http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret}, timeout=10)
        if resp.status_code == 200:
            self._updates = [u for u in self._updates if u is not update]
        return resp.status_code

    async def _m_getFile(self, params: dict[str, Any]) -> web.Response:
        file_id = str(params.get("file_id") or "")
        if file_id not in self._files:
            return self._error(400, "Bad Request: invalid file_id")
        path, data = self._files[file_id]
        return self._ok({"file_id": file_id, "file_unique_id": file_id, "file_size": len(data), "file_path": path})

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401, text=json.dumps({"ok": False, "description": "Unauthorized"}))
        wanted = request.match_info["path"]
        for path, data in self._files.values():
            if path == wanted:
                return web.Response(body=data, content_type="application/octet-stream")
        return web.Response(status=404, text="Not Found")


async def _serve_forever(token: str, port: int) -> None:
    async with TelegramEmulator(token=token, port=port) as emu:
        print(emu.base_url, flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """``python -m engine.channels.telegram_emulator [--port N] [--token T]``: base URL on the first line."""
    import argparse

    parser = argparse.ArgumentParser(description="Loopback Telegram Bot API emulator.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="123456:TEST")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(args.token, args.port))


if __name__ == "__main__":
    main()
