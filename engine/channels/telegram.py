"""Telegram Bot API: a client (long polling, sendMessage, sendVoice, sendDocument, getFile) and the channel.

The client is a thin, typed layer over an injected ``httpx.AsyncClient`` and a base URL, so the same
code talks to api.telegram.org and to the loopback emulator in tests and the demo. Flood limits
(HTTP 429 with ``parameters.retry_after``) are waited out and retried; server and network errors
back off; client errors (bad token, chat not found) fail at once with Telegram's own description.
"""

from __future__ import annotations

import asyncio
import contextlib
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

__all__ = ["TELEGRAM_API", "TelegramChannel", "TelegramClient", "check_webhook_secret"]

log = logging.getLogger("clawops.channels.telegram")

TELEGRAM_API = "https://api.telegram.org"
MAX_TEXT = 4096  # Telegram's limit for one sendMessage
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # what getFile lets a bot download


def _seconds(value: Any) -> float | None:
    """Telegram's ``retry_after`` as seconds, or ``None`` when it sent none (or nonsense): then we back off."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


class TelegramClient:
    """Calls the Bot API methods ClawOps needs; every method returns Telegram's ``result`` field."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token: str,
        *,
        base_url: str = TELEGRAM_API,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._http = http
        self._token = token
        self._base = base_url.rstrip("/")
        self._retry = retry or CHANNEL_RETRY["telegram"]

    def _url(self, method: str) -> str:
        return f"{self._base}/bot{self._token}/{method}"

    async def call(
        self,
        method: str,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        *,
        timeout: float = 30.0,
    ) -> Any:
        """POST one Bot API method, honouring ``retry_after`` and retrying transient failures (``RetryPolicy``)."""
        payload = {k: str(v) if not isinstance(v, str) else v for k, v in (data or {}).items() if v is not None}

        async def once() -> Any:
            try:
                if files:
                    resp = await self._http.post(self._url(method), data=payload, files=dict(files), timeout=timeout)
                else:
                    resp = await self._http.post(self._url(method), data=payload, timeout=timeout)
            except httpx.TransportError as exc:
                raise ChannelError(f"Telegram is unreachable ({type(exc).__name__}).", retryable=True) from None
            try:
                body = resp.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                body = {"ok": False, "description": resp.text[:200] or resp.reason_phrase}
            if resp.status_code == 200 and body.get("ok"):
                return body.get("result")
            description = str(body.get("description") or f"HTTP {resp.status_code}")
            if resp.status_code == 429:
                asked = (body.get("parameters") or {}).get("retry_after")
                log.info("telegram %s flood limited, asked to wait %s s", method, asked)
                raise ChannelError(
                    f"Telegram flood limit on {method}: {description}.",
                    status=429,
                    retryable=True,
                    retry_after=_seconds(asked),
                )
            if resp.status_code >= 500:
                raise ChannelError(
                    f"Telegram server error on {method}: {description}.", status=resp.status_code, retryable=True
                )
            raise ChannelError(f"Telegram refused {method}: {description}.", status=resp.status_code)

        return await self._retry.run(
            once, lambda last: f"{str(last).rstrip('.')} (gave up after {self._retry.attempts} attempts)."
        )

    async def get_me(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("getMe")
        return result

    async def get_updates(self, offset: int | None = None, timeout: int = 25) -> list[dict[str, Any]]:
        """Long-poll for updates; the HTTP timeout is the poll timeout plus a margin."""
        result: list[dict[str, Any]] = await self.call(
            "getUpdates",
            {"offset": offset, "timeout": timeout, "allowed_updates": '["message"]'},
            timeout=timeout + 10.0,
        )
        return result

    async def send_message(self, chat_id: int | str, text: str) -> list[dict[str, Any]]:
        """Send text, split at line breaks into Telegram-sized pieces when it is long."""
        sent = []
        for piece in split_text(text, MAX_TEXT):
            sent.append(await self.call("sendMessage", {"chat_id": chat_id, "text": piece}))
        return sent

    async def edit_message_text(self, chat_id: int | str, message_id: int, text: str) -> Any:
        """Replace the text of a message the bot sent (job progress, edited in place)."""
        return await self.call(
            "editMessageText", {"chat_id": chat_id, "message_id": message_id, "text": text[: _fit(text, MAX_TEXT)]}
        )

    async def send_voice(
        self, chat_id: int | str, ogg: bytes, *, duration_s: float | None = None, caption: str | None = None
    ) -> dict[str, Any]:
        """Send an OGG/Opus voice note (Telegram shows it with a waveform and play button)."""
        data = {"chat_id": chat_id, "caption": caption, "duration": None if duration_s is None else round(duration_s)}
        result: dict[str, Any] = await self.call(
            "sendVoice", data, {"voice": ("voice.ogg", ogg, "audio/ogg")}, timeout=60.0
        )
        return result

    async def send_document(
        self, chat_id: int | str, content: bytes, filename: str, *, caption: str | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "sendDocument",
            {"chat_id": chat_id, "caption": caption},
            {"document": (filename, content, "application/octet-stream")},
            timeout=60.0,
        )
        return result

    async def set_webhook(self, url: str, secret_token: str) -> bool:
        """Switch the bot to webhook delivery (Telegram then signs each call with ``secret_token``)."""
        return bool(
            await self.call("setWebhook", {"url": url, "secret_token": secret_token, "allowed_updates": '["message"]'})
        )

    async def delete_webhook(self) -> bool:
        """Back to long polling (getUpdates refuses to work while a webhook is set)."""
        return bool(await self.call("deleteWebhook"))

    async def get_file(self, file_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("getFile", {"file_id": file_id})
        return result

    async def download(self, file_path: str, *, max_bytes: int = MAX_DOWNLOAD_BYTES) -> bytes:
        """Fetch a file returned by getFile, refusing anything larger than ``max_bytes``."""
        url = f"{self._base}/file/bot{self._token}/{file_path}"
        return await download_bounded(
            self._http, url, retry=self._retry, max_bytes=max_bytes, service="Telegram", noun="file"
        )


def units(text: str) -> int:
    """Length as the messaging APIs count it: UTF-16 code units (an emoji is two), never fewer than characters."""
    return len(text.encode("utf-16-le")) // 2


def _fit(text: str, limit: int) -> int:
    """How many characters of ``text`` fit in ``limit`` UTF-16 code units."""
    if units(text) <= limit:
        return len(text)
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)  # pragma: no cover  (the whole text fitted, handled above)


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` UTF-16 code units (how Telegram and WhatsApp count their
    4096), preferring line breaks, then spaces; no piece is empty."""
    pieces: list[str] = []
    rest = text
    while units(rest) > limit:
        room = _fit(rest, limit)
        cut = rest.rfind("\n", 0, room)
        if cut <= 0:
            cut = rest.rfind(" ", 0, room)
        if cut <= 0:
            cut = room
        piece = rest[:cut].rstrip()
        if piece:
            pieces.append(piece)
        rest = rest[cut:].lstrip()
    if rest.strip():
        pieces.append(rest)
    return pieces or [text]


def check_webhook_secret(headers: Mapping[str, str], secret: str) -> bool:
    """True when a webhook call carries our ``X-Telegram-Bot-Api-Secret-Token`` (constant-time compare)."""
    given = headers.get("X-Telegram-Bot-Api-Secret-Token") or headers.get("x-telegram-bot-api-secret-token") or ""
    return bool(secret) and hmac.compare_digest(given.encode(), secret.encode())


class TelegramChannel:
    """Turns Telegram updates into ``Inbound`` messages for allow-listed users and sends the ``Reply``.

    Unknown senders get one short refusal (no fleet data; again only after ``strangers``' window)
    and an audit refusal each. A failure while handling one update is logged and answered with an
    apology; it never stops the polling loop. Run ``outbox.run(stop)`` beside ``run(stop)``, so replies held
    back by an API outage go out once it ends (polling nudges it whenever Telegram answers again).
    """

    def __init__(
        self,
        client: TelegramClient,
        handler: Handler,
        allowed: Senders,
        *,
        audit: AuditHook | None = None,
        workdir: Path | None = None,
        max_audio_bytes: int = MAX_DOWNLOAD_BYTES,
        poll_timeout: int = 25,
        outbox: Outbox | None = None,
        strangers: Strangers | None = None,
    ) -> None:
        self.client = client
        self._handler = handler
        self._allowed: Senders = allowed if callable(allowed) else dict(allowed)
        self._strangers = strangers or Strangers()
        self._audit = audit
        self._workdir = workdir or Path(tempfile.gettempdir()) / "clawops-channels"
        self._max_audio = max_audio_bytes
        self._poll_timeout = poll_timeout
        self.offset: int | None = None
        self.outbox = outbox or Outbox()
        self._seen = SeenIds()
        self._turns = ChatTurns()

    async def poll_once(self, timeout: int | None = None) -> int:
        """Fetch one batch of updates, handle them in order, and advance the offset; return the count."""
        updates = await self.client.get_updates(self.offset, self._poll_timeout if timeout is None else timeout)
        await self._handle_batch(updates)
        await self.drain()
        return len(updates)

    async def _handle_batch(self, updates: list[dict[str, Any]]) -> None:
        """Start handling each update: in order per chat, chats side by side (one long job never holds
        up another operator's answer); ``drain()`` waits for them."""
        for update in updates:
            # Advance first: an update that crashes its handler must not be fetched again forever.
            try:
                update_id = int(update["update_id"])
            except (KeyError, TypeError, ValueError):
                log.warning("telegram sent an update without a valid update_id; skipped")
                continue
            self.offset = update_id + 1
            if self._seen.add(f"u{update_id}"):
                self._spawn(update)

    def _spawn(self, update: Mapping[str, Any]) -> None:
        message = update.get("message")
        chat_obj = message.get("chat") if isinstance(message, Mapping) else None
        chat = str(chat_obj.get("id", "")) if isinstance(chat_obj, Mapping) else ""
        self._turns.run(chat, lambda release: self.handle_update(update, release=release))

    async def run(self, stop: asyncio.Event) -> None:
        """Long-poll until ``stop`` is set; API outages back off instead of ending the loop.

        Only the wait for updates is cancelled on stop; an update already fetched is handled and
        answered to the end, so stopping the engine never swallows a reply.
        """
        failures = 0
        asked = self.offset  # the offset Telegram was last sent: updates below it are confirmed there
        while not stop.is_set():
            asked = self.offset
            began = asyncio.get_running_loop().time()
            fetch = asyncio.ensure_future(self.client.get_updates(self.offset, self._poll_timeout))
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({fetch, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not fetch.done():
                fetch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await fetch
                break
            try:
                updates = fetch.result()
            except Exception as exc:  # ChannelError, or a malformed answer: back off, never stop polling
                failures += 1
                log.warning("telegram polling failed: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=min(60.0, 2.0**failures))
                continue
            if not isinstance(updates, list):
                failures += 1
                log.warning("telegram getUpdates answered something that is not a list of updates; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=min(60.0, 2.0**failures))
                continue
            failures = 0
            if not updates and self._poll_timeout >= 2 and asyncio.get_running_loop().time() - began < 1.0:
                # A server that answers a long poll at once (not Telegram; a bare test double may) must not
                # turn this loop into a spin that takes the CPU the voice turns need: pause a second.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
            try:
                await self._handle_batch(updates)
            except Exception:  # one update we cannot read must never leave the bot deaf to the next ones
                log.exception("telegram updates could not be handled; polling goes on")
            self.outbox.nudge()  # Telegram answers again: replies held back by an outage go now (outbox.run)
        if self.offset != asked:
            await self._confirm()
        await self.drain()

    async def _confirm(self) -> None:
        """Confirm the last updates fetched (``getUpdates`` with the next offset, not waiting): otherwise the next
        start fetches them again and runs each a second time."""
        try:
            await asyncio.wait_for(self.client.get_updates(self.offset, 0), timeout=10.0)
        except Exception as exc:  # stopping goes on; at worst the next start sees these updates again
            log.warning("telegram: could not confirm the last updates before stopping: %s", exc)

    def webhook_app(self, secret: str, path: str = "/webhook/telegram") -> web.Application:
        """An aiohttp app for webhook mode: checks Telegram's secret header, answers at once, handles later.

        Telegram retries a webhook that does not answer quickly, so updates are handled in background
        tasks (``drain()`` waits for them) and de-duplicated by ``update_id``.
        """
        if not secret:
            raise ValueError("A Telegram webhook needs a secret token.")

        async def post(request: web.Request) -> web.Response:
            status, text = await self.receive(await request.read(), request.headers, secret)
            return web.Response(status=status, text=text)

        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post(path, post)
        return app

    async def receive(self, body: bytes, headers: Mapping[str, str], secret: str) -> tuple[int, str]:
        """One webhook call: 401 unless it carries our secret token (checked before the body is read as
        JSON), 400 for anything that is not an update, else 200 at once with the update handled behind."""
        if not check_webhook_secret(headers, secret):
            await notify(self._audit, Refusal("telegram", "-", "bad_signature", "webhook secret mismatch"))
            return 401, "wrong or missing X-Telegram-Bot-Api-Secret-Token"
        try:
            update = json.loads(body)
        except ValueError:
            return 400, "the body is not JSON; send a Telegram Update object"
        if not isinstance(update, dict) or type(update.get("update_id")) is not int:
            return 400, "an update must be a JSON object with an integer update_id"
        if self._seen.add(f"u{update['update_id']}"):
            self._spawn(update)
        return 200, ""

    async def drain(self) -> None:
        """Wait for updates still being handled."""
        await self._turns.drain()

    async def handle_update(self, update: Mapping[str, Any], *, release: Callable[[], None] | None = None) -> None:
        """Handle one update (from polling or from a webhook); ``release`` lets the chat's next ones start
        (``Inbound.release``)."""
        message = update.get("message")
        if not isinstance(message, Mapping):
            return
        sender = message.get("from") or {}
        if not isinstance(sender, Mapping) or not isinstance(message.get("chat") or {}, Mapping):
            return  # not an update Telegram sends: nothing runs
        sender_id = str(sender.get("id", ""))
        chat = message.get("chat") or {}
        chat_id = chat.get("id", sender_id)
        if chat.get("type", "private") != "private":
            # Fleet data answers only in a private chat: in a group, everyone there would read them.
            await notify(self._audit, Refusal("telegram", sender_id, "unsupported_message", f"{chat.get('type')} chat"))
            return
        operator = lookup_operator(self._allowed, sender_id) if not sender.get("is_bot") else None
        if operator is None:
            await notify(self._audit, Refusal("telegram", sender_id, "unknown_sender", _summary(message)))
            if sender_id and not sender.get("is_bot") and self._strangers.answer(sender_id):
                await self._say(chat_id, STRANGER_REPLY.format(channel="telegram", sender=sender_id))
            return
        message_id = f"{chat_id}:{message.get('message_id', '')}"
        media = _audio_of(message)
        try:
            if media is not None:
                await self._handle_audio(chat_id, sender_id, operator, message_id, media, release)
            elif isinstance(message.get("text"), str) and message["text"].strip():
                text = "help" if _START.fullmatch(message["text"].strip()) else message["text"]
                inbound = Inbound("telegram", sender_id, operator, message_id, text=text, release=release)
                await self._deliver(chat_id, await self._handler(inbound))
            else:
                await self._say(chat_id, "I can read text and listen to voice notes; send one of those.")
        except Exception:
            log.exception("telegram message from %s failed", sender_id)
            await self._say(chat_id, TURN_CRASHED)

    async def _say(self, chat_id: Any, text: str) -> None:
        await self.outbox.submit(str(chat_id), "text", lambda: self.client.send_message(chat_id, text))

    async def _handle_audio(
        self,
        chat_id: Any,
        sender_id: str,
        operator: str,
        message_id: str,
        media: Mapping[str, Any],
        release: Callable[[], None] | None = None,
    ) -> None:
        size = _count(media.get("file_size"))
        if size > self._max_audio:
            await self._say(chat_id, f"That recording is {_mb(size)} MB; I accept up to {_mb(self._max_audio)} MB.")
            return
        try:
            info = await self.client.get_file(str(media["file_id"]))
            file_path = info.get("file_path") if isinstance(info, Mapping) else None
            if not isinstance(file_path, str) or not file_path:
                raise ChannelError("Telegram's getFile gave no file_path for the voice note.")
            data = await self.client.download(file_path, max_bytes=self._max_audio)
        except ChannelError as exc:
            log.warning("telegram voice note from %s not downloaded: %s", sender_id, exc)
            await self._say(
                chat_id,
                f"That recording is larger than {_mb(self._max_audio)} MB; send a shorter one."
                if isinstance(exc, MediaTooLarge)
                else "I could not fetch that voice note from Telegram; please send it again.",
            )
            return
        self._workdir.mkdir(parents=True, exist_ok=True)
        suffix = Path(file_path).suffix or ".ogg"
        path = self._workdir / f"tg-{uuid.uuid4().hex}{suffix}"
        path.write_bytes(data)
        try:
            inbound = Inbound("telegram", sender_id, operator, message_id, audio_path=path, release=release)
            reply = await self._handler(inbound)
        finally:
            path.unlink(missing_ok=True)
        await self._deliver(chat_id, reply)

    async def show_progress(self, chat_id: Any, text: str, message_id: int | None) -> int | None:
        """Post a job's progress line, or edit the one already posted (``editMessageText``); returns its id.

        Progress is a view, not a message to keep: a failed send or edit is logged and skipped (the job's
        end still comes in the reply, through the Outbox)."""
        try:
            if message_id is None:
                sent = await self.client.send_message(chat_id, text)
                return int(sent[-1]["message_id"]) if sent and isinstance(sent[-1], dict) else None
            await self.client.edit_message_text(chat_id, message_id, text)
        except (ChannelError, KeyError, TypeError, ValueError) as exc:
            log.info("telegram progress not shown: %s", exc)
        return message_id

    async def _deliver(self, chat_id: Any, reply: Reply | None) -> None:
        if reply is not None:
            await self.send_reply(chat_id, reply)

    async def send_reply(self, chat_id: Any, reply: Reply) -> SendStatus:
        """Queue the reply's parts in order ("Heard", text, voice, documents); each goes out now or later, once."""
        client = self.client
        return await deliver_reply(
            self.outbox,
            str(chat_id),
            reply,
            text=lambda text: client.send_message(chat_id, text),
            voice=lambda ogg, duration: client.send_voice(chat_id, ogg, duration_s=duration),
            document=lambda content, name, caption: client.send_document(chat_id, content, name, caption=caption),
        )


_START = re.compile(r"/start(@\w+)?(\s+\S+)?")
"""What Telegram's START button sends (with a deep-link payload, or the bot's name): a greeting, answered with
what the bot can do, never read as "start instances"."""


def _audio_of(message: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The voice note, audio file or audio document of a message (a Telegram ``File`` with a ``file_id``), or
    None: a message with none, or with one that is not shaped like Telegram's, is not treated as audio."""
    for key in ("voice", "audio", "document"):
        media = message.get(key)
        if not isinstance(media, Mapping) or not isinstance(media.get("file_id"), str) or not media["file_id"]:
            continue
        if key == "document" and not str(media.get("mime_type", "")).startswith("audio/"):
            continue
        return media
    return None


def _count(value: Any) -> int:
    """A size Telegram sent (an integer; 0 when absent or not a number)."""
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def _mb(size: int) -> str:
    """Bytes as whole mebibytes, the way Telegram states its 20 MB download limit."""
    return f"{max(1, round(size / (1024 * 1024)))}"


def _summary(message: Mapping[str, Any]) -> str:
    kind = next((k for k in ("text", "voice", "audio", "document", "photo") if k in message), "other")
    return f"{kind} message"
