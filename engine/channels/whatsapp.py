"""WhatsApp Cloud API: a client (messages, media upload/download) and the webhook channel.

Inbound messages arrive as webhook POSTs signed with the app secret (``X-Hub-Signature-256``);
anything unsigned or forged is rejected with 401 before its JSON is even parsed. The webhook answers
at once and handles messages in background tasks, because Meta redelivers a webhook that is slow
to answer, and a voice turn (download, transcribe, think, speak) takes seconds; redeliveries are
also de-duplicated by message id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import tempfile
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from engine.channels._base import (
    CHANNEL_RETRY,
    STRANGER_REPLY,
    TURN_CRASHED,
    AuditHook,
    ChannelError,
    ChatTurns,
    Handler,
    Inbound,
    MediaTooLarge,
    Outbox,
    Refusal,
    Reply,
    RetryPolicy,
    SeenIds,
    Senders,
    SendStatus,
    Strangers,
    deliver_reply,
    download_bounded,
    lookup_operator,
    notify,
)
from engine.channels.telegram import split_text

__all__ = ["GRAPH_API", "WhatsAppChannel", "WhatsAppClient", "sign_payload", "verify_signature"]

log = logging.getLogger("clawops.channels.whatsapp")

GRAPH_API = "https://graph.facebook.com/v21.0"
MAX_TEXT = 4096
MAX_AUDIO_BYTES = 16 * 1024 * 1024  # WhatsApp's own limit for audio media
# Graph error codes that mean "slow down" rather than "no": retried with backoff.
_RATE_LIMIT_CODES = {4, 80007, 130429, 131056}


def sign_payload(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends for ``body``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, app_secret: str) -> bool:
    """True only for a well-formed signature of exactly these bytes (constant-time compare)."""
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(header.encode(), sign_payload(body, app_secret).encode())


class WhatsAppClient:
    """Calls the Cloud API for one business phone number on an injected ``httpx.AsyncClient``."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token: str,
        phone_number_id: str,
        *,
        base_url: str = GRAPH_API,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._http = http
        self._token = token
        self._phone = phone_number_id
        self._base = base_url.rstrip("/")
        self._retry = retry or CHANNEL_RETRY["whatsapp"]

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    async def _request(
        self,
        method: str,
        url: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> Any:
        async def once() -> Any:
            try:
                resp = await self._http.request(
                    method,
                    url,
                    headers=self._auth,
                    json=json_body,
                    data=data,
                    files=dict(files) if files else None,
                    timeout=60.0,
                )
            except httpx.TransportError as exc:
                raise ChannelError(f"WhatsApp is unreachable ({type(exc).__name__}).", retryable=True) from None
            try:
                body = resp.json()
            except ValueError:
                body = {}
            if not isinstance(body, dict):
                body = {}
            if resp.status_code == 200:
                return body
            error = body.get("error")
            error = error if isinstance(error, dict) else {}
            code = error.get("code")
            message = str(error.get("message") or f"HTTP {resp.status_code}").rstrip(".")
            if resp.status_code == 429 or code in _RATE_LIMIT_CODES or resp.status_code >= 500:
                raise ChannelError(f"WhatsApp is busy ({message}).", status=resp.status_code, retryable=True)
            raise ChannelError(f"WhatsApp refused the request: {message} (code {code}).", status=resp.status_code)

        return await self._retry.run(
            once, lambda last: f"{str(last).rstrip('.')}; gave up after {self._retry.attempts} attempts."
        )

    async def _send(self, to: str, kind: str, content: Mapping[str, Any]) -> str:
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": kind,
            kind: dict(content),
        }
        result = await self._request("POST", f"{self._base}/{self._phone}/messages", json_body=body)
        messages = result.get("messages") or [{}]
        return str(messages[0].get("id", ""))

    async def send_text(self, to: str, text: str) -> list[str]:
        """Send text (split into WhatsApp-sized pieces); return the message ids."""
        return [
            await self._send(to, "text", {"body": piece, "preview_url": False}) for piece in split_text(text, MAX_TEXT)
        ]

    async def upload_media(self, content: bytes, mime_type: str, filename: str) -> str:
        """Upload a file for later sending; return its media id."""
        result = await self._request(
            "POST",
            f"{self._base}/{self._phone}/media",
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, content, mime_type)},
        )
        return str(result["id"])

    async def send_voice(self, to: str, ogg: bytes) -> str:
        """Upload an OGG/Opus voice note and send it as audio (WhatsApp plays it as a voice message)."""
        media_id = await self.upload_media(ogg, "audio/ogg", "voice.ogg")
        return await self._send(to, "audio", {"id": media_id})

    async def send_document(self, to: str, content: bytes, filename: str, caption: str | None = None) -> str:
        """Upload and send a file as a document. WhatsApp takes only PDF, Office and plain-text documents: a text
        report of another kind (HTML, CSV, Markdown) goes as text/plain under its own name, so the phone still
        opens ``report.html`` in its browser."""
        media_id = await self.upload_media(content, document_mime(filename, content), filename)
        doc: dict[str, Any] = {"id": media_id, "filename": filename}
        if caption:
            doc["caption"] = caption
        return await self._send(to, "document", doc)

    async def media_info(self, media_id: str) -> dict[str, Any]:
        """Look up a received media id: its short-lived download URL, MIME type and size."""
        result: dict[str, Any] = await self._request("GET", f"{self._base}/{media_id}")
        return result

    async def download_media(self, media_id: str, *, max_bytes: int = MAX_AUDIO_BYTES) -> tuple[bytes, str]:
        """Download a received media file (bytes, MIME type), refusing anything over ``max_bytes``."""
        if not _MEDIA_ID.fullmatch(media_id):
            raise ChannelError("That is not a WhatsApp media id.")
        info = await self.media_info(media_id)
        try:
            size = int(info.get("file_size") or 0)
        except (TypeError, ValueError):
            size = 0  # the download itself is bounded
        if size > max_bytes:
            raise MediaTooLarge(
                f"The media file is {size // (1024 * 1024)} MB; the limit is {max_bytes // (1024 * 1024)} MB."
            )
        url = info.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ChannelError("WhatsApp gave no download URL for the media file.")
        data = await download_bounded(
            self._http,
            url,
            retry=self._retry,
            max_bytes=max_bytes,
            service="WhatsApp",
            noun="media file",
            headers=self._auth,
            retry_statuses=frozenset({429}),
        )
        return data, str(info.get("mime_type", ""))


DOCUMENT_MIME = {
    ".txt": "text/plain",
    ".pdf": "application/pdf",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xls": "application/vnd.ms-excel",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".ppt": "application/vnd.ms-powerpoint",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
"""The document types the Cloud API accepts, by file extension."""


def document_mime(filename: str, content: bytes) -> str:
    """The MIME type to upload ``filename`` as: its own when WhatsApp takes it, text/plain for other text files."""
    mime = DOCUMENT_MIME.get(Path(filename).suffix.lower())
    if mime is not None:
        return mime
    try:
        content[:4096].decode("utf-8")
    except UnicodeDecodeError:
        raise ChannelError(
            f"WhatsApp does not accept {Path(filename).suffix or 'extension-less'} files as documents; "
            "send a PDF, an Office file or text."
        ) from None
    return "text/plain"


_MEDIA_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
"""A media id as the Cloud API gives them (digits; the emulator's have letters too): never a path or a URL."""

_NOT_FOR_US = frozenset({"reaction", "system", "request_welcome"})
"""Message types that are no request: answered with nothing (not even "send text or a voice note")."""

_SUFFIX = {"audio/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/mp4": ".m4a", "audio/aac": ".aac", "audio/amr": ".amr"}


class WhatsAppChannel:
    """Verifies and parses webhooks, hands allow-listed messages to the handler, sends the ``Reply``.

    Serve ``webhook_app()`` (or call ``receive``/``verify_subscription`` from your own routes) and run
    ``outbox.run(stop)`` beside it, so replies held back by an API outage go out when it ends.
    """

    def __init__(
        self,
        client: WhatsAppClient,
        handler: Handler,
        allowed: Senders,
        *,
        app_secret: str,
        verify_token: str,
        audit: AuditHook | None = None,
        workdir: Path | None = None,
        max_audio_bytes: int = MAX_AUDIO_BYTES,
        outbox: Outbox | None = None,
        strangers: Strangers | None = None,
    ) -> None:
        if not app_secret:
            raise ValueError("WhatsApp needs the app secret to verify webhook signatures.")
        self.client = client
        self._handler = handler
        self._allowed: Senders = allowed if callable(allowed) else dict(allowed)
        self._strangers = strangers or Strangers()
        self._secret = app_secret
        self._verify_token = verify_token
        self._audit = audit
        self._workdir = workdir or Path(tempfile.gettempdir()) / "clawops-channels"
        self._max_audio = max_audio_bytes
        self._seen = SeenIds()
        self._turns = ChatTurns()
        self.outbox = outbox or Outbox()

    def verify_subscription(self, query: Mapping[str, str]) -> tuple[int, str]:
        """Answer Meta's GET handshake: echo ``hub.challenge`` only for our verify token."""
        token = query.get("hub.verify_token", "")
        if (
            query.get("hub.mode") == "subscribe"
            and self._verify_token
            and hmac.compare_digest(token.encode(), self._verify_token.encode())
        ):
            return 200, query.get("hub.challenge", "")
        return 403, "verification failed"

    async def receive(self, body: bytes, headers: Mapping[str, str]) -> int:
        """Handle one webhook POST; return the HTTP status to answer with (200, 400 or 401)."""
        signature = headers.get("X-Hub-Signature-256") or headers.get("x-hub-signature-256")
        if not verify_signature(body, signature, self._secret):
            await notify(
                self._audit,
                Refusal(
                    "whatsapp", "-", "bad_signature", "missing signature" if not signature else "signature mismatch"
                ),
            )
            return 401
        try:
            payload = json.loads(body)
        except ValueError:
            return 400
        if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
            return 400  # not a Cloud API webhook: nothing runs
        for value in _values(payload):
            messages = value.get("messages")
            for message in messages if isinstance(messages, list) else ():  # statuses[], errors[]: nothing runs
                if not isinstance(message, dict):
                    continue
                message_id = str(message.get("id", ""))
                if message_id and not self._seen.add(message_id):
                    continue  # a redelivery of something already in hand
                self._spawn(message)
        return 200

    def _spawn(self, message: Mapping[str, Any]) -> None:
        """Handle ``message`` in the background, after the same sender's earlier messages (in arrival order: one
        turn's "Heard", text and voice note never interleave with the next turn's), senders side by side."""
        self._turns.run(str(message.get("from", "")), lambda release: self._process(message, release))

    async def drain(self) -> None:
        """Wait for every message in progress (tests, and a clean engine shutdown)."""
        await self._turns.drain()

    async def _process(self, message: Mapping[str, Any], release: Callable[[], None] | None = None) -> None:
        sender = str(message.get("from", ""))
        kind = str(message.get("type", ""))
        operator = lookup_operator(self._allowed, sender)
        if operator is None:
            await notify(self._audit, Refusal("whatsapp", sender, "unknown_sender", f"{kind} message"))
            if sender and self._strangers.answer(sender):
                await self._say(sender, STRANGER_REPLY.format(channel="whatsapp", sender=f"+{sender.lstrip('+')}"))
            return
        message_id = str(message.get("id", ""))
        if kind in _NOT_FOR_US:
            return  # a reaction to one of our messages, a number-change notice: nothing to answer
        content = message.get(kind)
        content = content if isinstance(content, Mapping) else {}
        try:
            if kind == "text" and isinstance(content.get("body"), str) and content["body"].strip():
                reply = await self._handler(
                    Inbound("whatsapp", sender, operator, message_id, text=content["body"], release=release)
                )
            elif kind in ("audio", "voice") and isinstance(content.get("id"), str) and content["id"]:
                reply = await self._handle_audio(sender, operator, message_id, content, release)
            else:
                await self._say(sender, "I can read text and listen to voice notes; send one of those.")
                return
            await self._deliver(sender, reply)
        except Exception:
            log.exception("whatsapp message from %s failed", sender)
            await self._say(sender, TURN_CRASHED)

    async def _say(self, to: str, text: str) -> None:
        await self.outbox.submit(to, "text", lambda: self.client.send_text(to, text))

    async def _handle_audio(
        self,
        sender: str,
        operator: str,
        message_id: str,
        audio: Mapping[str, Any],
        release: Callable[[], None] | None = None,
    ) -> Reply | None:
        try:
            data, mime = await self.client.download_media(str(audio.get("id", "")), max_bytes=self._max_audio)
        except MediaTooLarge:
            await self._say(
                sender, f"That recording is larger than {self._max_audio // (1024 * 1024)} MB; send a shorter one."
            )
            return None
        except ChannelError as exc:
            log.warning("whatsapp voice note from %s not downloaded: %s", sender, exc)
            await self._say(sender, "I could not fetch that voice note from WhatsApp; please send it again.")
            return None
        if mime and not mime.split(";")[0].strip().startswith("audio/"):
            await self._say(sender, "That file is not a voice note; send a voice note or text.")
            return None
        self._workdir.mkdir(parents=True, exist_ok=True)
        suffix = _SUFFIX.get(mime.split(";")[0].strip(), ".bin")
        path = self._workdir / f"wa-{uuid.uuid4().hex}{suffix}"
        path.write_bytes(data)
        try:
            return await self._handler(
                Inbound("whatsapp", sender, operator, message_id, audio_path=path, release=release)
            )
        finally:
            path.unlink(missing_ok=True)

    async def _deliver(self, to: str, reply: Reply | None) -> None:
        if reply is not None:
            await self.send_reply(to, reply)

    async def send_reply(self, to: str, reply: Reply) -> SendStatus:
        """Queue the reply's parts in order ("Heard", text, voice, documents); each goes out now or later, once."""
        client = self.client
        return await deliver_reply(
            self.outbox,
            to,
            reply,
            text=lambda text: client.send_text(to, text),
            voice=lambda ogg, duration: client.send_voice(to, ogg),
            document=lambda content, name, caption: client.send_document(to, content, name, caption),
        )

    def webhook_app(self, path: str = "/webhook/whatsapp") -> web.Application:
        """An aiohttp app serving the webhook (GET handshake, signed POSTs), to run or mount as a sub-app."""

        async def get(request: web.Request) -> web.Response:
            status, text = self.verify_subscription(request.query)
            return web.Response(status=status, text=text)

        async def post(request: web.Request) -> web.Response:
            status = await self.receive(await request.read(), request.headers)
            return web.Response(status=status)

        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_get(path, get)
        app.router.add_post(path, post)
        return app


def _values(payload: Any) -> list[dict[str, Any]]:
    """The ``value`` objects of a Cloud API webhook (``entry[].changes[].value``), tolerating junk."""
    values: list[dict[str, Any]] = []
    if not isinstance(payload, dict):
        return values
    entries = payload.get("entry")
    for entry in entries if isinstance(entries, list) else ():
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else ():
            if isinstance(change, dict) and isinstance(change.get("value"), dict):
                values.append(change["value"])
    return values
