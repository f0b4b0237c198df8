"""A loopback emulator of the WhatsApp Cloud API subset ClawOps uses, for tests and the demo.

Server side it answers what the client calls (``/v21.0/<phone id>/messages``, ``/<phone id>/media``,
``/<media id>`` lookups and bearer-protected downloads) in Graph's JSON shapes, including its error
envelope. Client side it plays Meta: ``deliver_text`` / ``deliver_audio`` POST a webhook to the
channel, signed with the app secret (or forged, for the refusal tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web

from engine.channels._loopback import serve_app
from engine.channels.whatsapp import sign_payload

__all__ = ["SUPPORTED_MIME", "WhatsAppEmulator", "WhatsAppSent"]

SUPPORTED_MIME = frozenset(
    {
        "audio/aac",
        "audio/amr",
        "audio/mpeg",
        "audio/mp4",
        "audio/ogg",
        "text/plain",
        "application/pdf",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "image/jpeg",
        "image/png",
        "image/webp",
        "video/mp4",
        "video/3gpp",
    }
)
"""What the Cloud API's media upload accepts (audio, documents, images, stickers, video)."""


@dataclass
class WhatsAppSent:
    """One message the business number sent: kind is "text", "audio" or "document"."""

    to: str
    kind: str
    text: str | None = None
    content: bytes | None = None
    mime_type: str | None = None
    filename: str | None = None


@dataclass
class WhatsAppEmulator:
    """``async with WhatsAppEmulator(webhook_url=...) as emu:``; point the client at ``emu.base_url``."""

    access_token: str = "EAAG-test-token"
    app_secret: str = "app-secret"
    phone_number_id: str = "1000001"
    webhook_url: str | None = None
    version: str = "v21.0"
    host: str = "127.0.0.1"
    port: int = 0
    sent: list[WhatsAppSent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._media: dict[str, tuple[bytes, str, str]] = {}
        self._ids = itertools.count(1)
        self._busy = 0
        self._runner: web.AppRunner | None = None
        self.root_url = ""
        self.base_url = ""

    async def start(self) -> str:
        app = web.Application(client_max_size=100 * 1024 * 1024)
        app.router.add_post(f"/{self.version}/{{phone}}/messages", self._messages)
        app.router.add_post(f"/{self.version}/{{phone}}/media", self._upload)
        app.router.add_get(f"/{self.version}/{{media_id}}", self._media_info)
        app.router.add_get("/download/{media_id}", self._download)
        self._runner, self.port = await serve_app(app, self.host, self.port)
        self.root_url = f"http://{self.host}:{self.port}"
        self.base_url = f"{self.root_url}/{self.version}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> WhatsAppEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- playing Meta: inbound webhooks --------------------------------------------------------------
    def rate_limit(self, times: int = 1) -> None:
        """The next ``times`` API calls answer 429 with Graph's throughput error (code 130429)."""
        self._busy += times

    def add_media(self, content: bytes, mime_type: str = "audio/ogg; codecs=opus") -> str:
        media_id = f"media-{next(self._ids)}"
        self._media[media_id] = (content, mime_type, "")
        return media_id

    def _envelope(self, sender: str, message: dict[str, Any]) -> dict[str, Any]:
        message = {"from": sender, "id": f"wamid.{next(self._ids)}", "timestamp": str(int(time.time())), **message}
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": self.phone_number_id},
            "contacts": [{"profile": {"name": f"user {sender[-4:]}"}, "wa_id": sender}],
            "messages": [message],
        }
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": "waba-1", "changes": [{"field": "messages", "value": value}]}],
        }

    async def post_webhook(
        self, payload: dict[str, Any] | bytes, *, secret: str | None = None, signature: str | None = None
    ) -> int:
        """POST ``payload`` to the webhook, signed with ``secret`` (default: the real app secret)."""
        assert self.webhook_url, "set webhook_url to the channel's webhook first"
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        sig = signature if signature is not None else sign_payload(body, secret or self.app_secret)
        if sig:
            headers["X-Hub-Signature-256"] = sig
        async with httpx.AsyncClient() as http:
            resp = await http.post(self.webhook_url, content=body, headers=headers, timeout=10.0)
        return resp.status_code

    async def deliver_text(self, sender: str, text: str, **kw: Any) -> int:
        return await self.post_webhook(self._envelope(sender, {"type": "text", "text": {"body": text}}), **kw)

    async def deliver_audio(
        self, sender: str, content: bytes, mime_type: str = "audio/ogg; codecs=opus", **kw: Any
    ) -> int:
        media_id = self.add_media(content, mime_type)
        sha = hashlib.sha256(content).hexdigest()
        audio = {"mime_type": mime_type, "sha256": sha, "id": media_id, "voice": True}
        return await self.post_webhook(self._envelope(sender, {"type": "audio", "audio": audio}), **kw)

    # -- the Cloud API ---------------------------------------------------------------------------------
    @staticmethod
    def _error(status: int, message: str, code: int, kind: str = "OAuthException") -> web.Response:
        body = {"error": {"message": message, "type": kind, "code": code, "fbtrace_id": "emulator"}}
        return web.json_response(body, status=status)

    def _gate(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return self._error(401, "Error validating access token: invalid token", 190)
        if self._busy > 0:
            self._busy -= 1
            return self._error(429, "(#130429) Rate limit hit", 130429)
        return None

    async def _messages(self, request: web.Request) -> web.Response:
        refused = self._gate(request)
        if refused is not None:
            return refused
        if request.match_info["phone"] != self.phone_number_id:
            return self._error(400, "Unsupported post request: unknown phone number id", 100, "GraphMethodException")
        body = await request.json()
        to, kind = str(body.get("to", "")), str(body.get("type", ""))
        if body.get("messaging_product") != "whatsapp" or not to:
            return self._error(400, "(#100) Invalid parameter", 100)
        content = body.get(kind) or {}
        if kind == "text":
            text = str(content.get("body", ""))
            if not text or len(text) > 4096:
                return self._error(400, "(#100) Invalid parameter: text body", 100)
            self.sent.append(WhatsAppSent(to, "text", text=text))
        elif kind in ("audio", "document"):
            media = self._media.get(str(content.get("id", "")))
            if media is None:
                return self._error(400, "(#131053) Media upload error: unknown media id", 131053)
            self.sent.append(
                WhatsAppSent(
                    to,
                    kind,
                    text=content.get("caption"),
                    content=media[0],
                    mime_type=media[1],
                    filename=content.get("filename") or media[2],
                )
            )
        else:
            return self._error(400, f"(#100) Unsupported message type {kind}", 100)
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": f"wamid.out.{next(self._ids)}"}],
            }
        )

    async def _upload(self, request: web.Request) -> web.Response:
        refused = self._gate(request)
        if refused is not None:
            return refused
        form = await request.post()
        upload = form.get("file")
        if form.get("messaging_product") != "whatsapp" or not isinstance(upload, web.FileField):
            return self._error(400, "(#100) The parameter file is required", 100)
        mime = str(form.get("type") or upload.content_type).split(";")[0].strip()
        if mime not in SUPPORTED_MIME:
            return self._error(
                400,
                f"(#100) Param file must be a file with one of the following types: "
                f"{', '.join(sorted(SUPPORTED_MIME))}. Received file of type '{mime}'.",
                100,
            )
        media_id = f"media-{next(self._ids)}"
        self._media[media_id] = (
            upload.file.read(),
            str(form.get("type") or upload.content_type),
            upload.filename or "",
        )
        return web.json_response({"id": media_id})

    async def _media_info(self, request: web.Request) -> web.Response:
        refused = self._gate(request)
        if refused is not None:
            return refused
        media_id = request.match_info["media_id"]
        if media_id not in self._media:
            return self._error(404, "Unsupported get request: object does not exist", 100, "GraphMethodException")
        content, mime, _ = self._media[media_id]
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "url": f"{self.root_url}/download/{media_id}",
                "mime_type": mime,
                "sha256": hashlib.sha256(content).hexdigest(),
                "file_size": str(len(content)),
                "id": media_id,
            }
        )

    async def _download(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return web.Response(status=401, text="unauthorized")
        media = self._media.get(request.match_info["media_id"])
        if media is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=media[0], content_type=media[1].split(";")[0])


async def _serve_forever(port: int, webhook_url: str | None) -> None:
    async with WhatsAppEmulator(port=port, webhook_url=webhook_url) as emu:
        print(emu.base_url, flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """``python -m engine.channels.whatsapp_emulator [--port N] [--webhook URL]``: base URL first."""
    import argparse

    parser = argparse.ArgumentParser(description="Loopback WhatsApp Cloud API emulator.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--webhook", default=None, help="the channel's webhook URL, for inbound messages")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(args.port, args.webhook))


if __name__ == "__main__":
    main()
