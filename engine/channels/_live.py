"""Starting the messaging channels inside ``clawops engine``: settings in, live bots out.

``start_channels(engine, run_turn)`` starts every channel whose settings are present (Telegram: the bot token;
WhatsApp: access token, phone number id, app secret and verify token), registers them on the engine's
:class:`~engine.channels.ChannelHub`, and logs one line per channel saying whether it is live, and if
not, why. Who may talk is read from the store on every message (``clawops operator link``), so linking
or revoking an identity takes effect at the next message, without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from engine.channels._base import ChannelError, Inbound, Outbox, Reply
from engine.channels._hub import ChannelHub
from engine.channels.voice_turns import TurnFn, make_voice_handler

if TYPE_CHECKING:
    from engine.conversation import TurnResult
    from engine.runtime import Engine
    from voice import VoiceConfig

__all__ = ["LiveChannels", "RunTurn", "channel_turn", "identity_lookup", "start_channels"]

log = logging.getLogger("clawops.channels")


def identity_lookup(engine: Engine, channel: str) -> Callable[[str], str | None]:
    """Sender id → operator id for linked, active operators on ``channel``; None for anyone else."""
    from engine.errors import InputError
    from engine.store import ChannelIdentity, Operator
    from engine.trust import normalize_external_id

    def lookup(sender_id: str) -> str | None:
        try:
            ext = normalize_external_id(channel, sender_id)
        except InputError:
            return None
        with engine.store.session() as s:
            ident = s.get(ChannelIdentity, (channel, ext))
            op = s.get(Operator, ident.operator_id) if ident is not None else None
            return None if op is None or op.revoked_at is not None else str(op.id)

    return lookup


RunTurn = Callable[..., Awaitable["TurnResult"]]
"""How a front runs one turn (``engine.api.run_turn``: checked, recorded in the history, on the feed),
handed in by whoever starts the channels so this package stays below the API layer."""


def channel_turn(engine: Engine, run_turn: RunTurn) -> TurnFn:
    """One conversation turn for a chat message, as the operator the transport's identity is linked to.

    The turn is recorded in the operator's history and shown on the shared feed like any other front's;
    a plan proposed from a voice note is marked so (its confirmation must repeat its scope); a briefing
    comes back with its report as a document and its script as a voice note.
    """
    from engine.errors import ClawOpsError

    relays: dict[tuple[str, str], _ProgressRelay] = {}
    turns_in_chat: Counter[tuple[str, str]] = Counter()

    async def turn(inbound: Inbound, text: str) -> str | Reply:
        try:
            caller = engine.caller_for_identity(str(inbound.channel), str(inbound.sender_id))
        except ClawOpsError:
            return Reply(text="This identity is no longer linked to an active operator; nothing was done.")
        session = f"{inbound.channel}:{inbound.sender_id}"
        chat = (str(inbound.channel), str(inbound.sender_id))
        shown = getattr(engine.channel_hub.live.get(chat[0]), "show_progress", None)
        # One progress message per job in a chat, whichever of its turns (the one that waits for the job, a
        # "job status" meanwhile) hears of it.
        relay = relays.get(chat)
        if relay is None and shown is not None:
            relay = relays[chat] = _ProgressRelay(shown, inbound.sender_id, caller.name)
        turns_in_chat[chat] += 1
        already = set(engine.ops.running_jobs)

        def listener(progress: Any) -> None:
            if progress.operator != caller.name:
                return
            if inbound.release is not None and str(progress.job.id) not in already:
                inbound.release()  # this turn now waits for its job: the chat's next message ("stop that") goes on
            if relay is not None:
                relay(progress)

        remove = engine.ops.add_progress_listener(listener)
        try:
            with engine.ops.jobs_in_foreground():
                result = await run_turn(
                    engine, text, operator=caller.name, channel=str(inbound.channel), session=session
                )
        except ClawOpsError as err:
            # The turn's own sentence (a message too long, a crashed turn saying what it had set going) reaches
            # the phone as it is: a generic "something went wrong, try again" could have it sent twice.
            log.warning("%s turn from %s ended: %s", inbound.channel, inbound.sender_id, err)
            return Reply(text=str(err))
        finally:
            remove()
            turns_in_chat[chat] -= 1
            if relay is not None:
                await relay.finish()
            if turns_in_chat[chat] <= 0:
                del turns_in_chat[chat]
                relays.pop(chat, None)
        if inbound.is_voice:  # origin="voice": its confirmation must repeat the scope
            engine.conversation.mark_spoken(
                caller,
                session,
                [c.plan.id for c in result.tool_calls if c.plan is not None and c.plan.status == "pending"],
            )
        documents: list[Path] = []
        spoken: list[str] = []
        for call in result.tool_calls:
            if call.tool == "briefing" and call.status == "done" and isinstance(call.result, dict):
                delivered = call.result.get("delivered")
                if isinstance(delivered, dict) and inbound.channel in delivered and delivered[inbound.channel] is None:
                    continue  # the briefer already sent its voice note and report here (through the hub)
                html = call.result.get("html")
                if html and Path(str(html)).exists():
                    documents.append(Path(str(html)))
                spoken.append(str(call.result.get("text") or ""))
        if not documents and not spoken:
            return result.reply
        return Reply(
            text=result.reply,
            documents=tuple(documents),
            document_caption="Full report",
            speak=_speak_text(" ".join(spoken), engine.scheduler.voice) if any(spoken) else None,
        )

    return turn


class _ProgressRelay:
    """Job progress of one operator's chat turn, shown in one message per job and edited in place.

    Listeners must not block the job, so each report only records the latest line; one task posts it, then
    edits at most about once a second (Telegram's own pace for edits in one chat).
    """

    def __init__(
        self, show: Callable[[Any, str, int | None], Awaitable[int | None]], address: str, operator: str
    ) -> None:
        self._show = show
        self._address = address
        self._operator = operator
        self._latest: dict[str, str] = {}
        self._message: dict[str, int | None] = {}
        self._dirty: list[str] = []
        self._task: asyncio.Task[None] | None = None

    def __call__(self, progress: Any) -> None:
        if progress.operator != self._operator:
            return
        job = str(progress.job.id)
        self._latest[job] = str(progress.line)
        if job not in self._dirty:
            self._dirty.append(job)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._push())

    async def _push(self) -> None:
        while self._dirty:
            job = self._dirty.pop(0)
            self._message[job] = await self._show(self._address, self._latest[job], self._message.get(job))
            if self._dirty:
                await asyncio.sleep(1.0)

    async def finish(self) -> None:
        """Let the last line (the job's end) reach the message, briefly; the reply follows anyway."""
        if self._task is not None and not self._task.done():
            with contextlib.suppress(TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(self._task), timeout=5.0)


def _speak_text(text: str, config: VoiceConfig | None) -> Callable[[], Awaitable[tuple[bytes, float | None] | None]]:
    async def speak() -> tuple[bytes, float | None] | None:
        import voice

        if not voice.available(config):
            return None
        try:
            ogg = await voice.asynthesize(" ".join(text.split()), config)  # the briefing script is written for the ear
            return ogg, voice.probe(ogg)
        except voice.VoiceError as exc:
            log.warning("could not speak the briefing: %s", exc)
            return None

    return speak


@dataclass
class LiveChannels:
    """What ``start_channels`` started: stop it with :meth:`stop` (waits for replies in flight, bounded)."""

    hub: ChannelHub
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    warming: asyncio.Task[None] | None = None
    _http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        """The channels' one HTTP client to the messaging APIs, made when a channel first needs it: making it loads
        the TLS trust store (~40 ms of CPU), which a daemon with no channel configured never uses."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0))
        return self._http

    async def stop(self, timeout: float = 30.0) -> None:
        self.stop_event.set()
        if self.tasks:
            _, pending = await asyncio.wait(self.tasks, timeout=timeout)
            for task in pending:
                task.cancel()
        for close in self.closers:
            with contextlib.suppress(Exception):
                await close()
        if self._http is not None:
            await self._http.aclose()


def _secret(value: Any) -> str:
    return value.get_secret_value() if value is not None else ""


def _outbox(engine: Engine, channel: str) -> Outbox:
    """An Outbox whose dropped sends are logged and audited as failed (never as delivered), and whose held-back
    sends are logged and audited once they did go out, so the record says where each "queued" ended."""
    from engine import audit

    def failed(key: str, label: str, why: str) -> None:
        log.error("%s delivery failed", channel, extra={"to": key, "part": label, "error": why})
        with engine.store.session() as s:
            audit.append(
                s,
                actor="engine",
                channel=channel,
                action="channel.delivery",
                target=key,
                outcome="failed",
                detail={"part": label, "error": why[:300]},
            )

    def late(key: str, label: str, attempts: int) -> None:
        log.info("%s delivery went out after waiting", channel, extra={"to": key, "part": label, "tries": attempts})
        with engine.store.session() as s:
            audit.append(
                s,
                actor="engine",
                channel=channel,
                action="channel.delivery",
                target=key,
                outcome="ok",
                detail={"part": label, "late": True, "tries": attempts},
            )

    return Outbox(on_failure=failed, on_late_send=late)


async def start_channels(
    engine: Engine, run_turn: RunTurn, *, workdir: Path | None = None, warm_voice: bool = True
) -> LiveChannels:
    """Start every configured channel; never raises for a channel problem (it is logged as not live).

    ``warm_voice`` loads the speech models in the background once a channel is live (the daemon does)."""
    from engine.trust import refusal_auditor

    settings = engine.settings
    hub = engine.channel_hub
    live = LiveChannels(hub)
    audit = refusal_auditor(engine.store, throttle=engine.trust.throttle)
    handler = make_voice_handler(channel_turn(engine, run_turn), config=engine.scheduler.voice)
    work = workdir or settings.home / "channels"

    # -- Telegram ------------------------------------------------------------------------------------
    token = _secret(settings.telegram_bot_token)
    if not token:
        hub.mark_down("telegram", "not configured: set CLAWOPS_TELEGRAM_BOT_TOKEN")
    else:
        from engine.channels.telegram import TelegramChannel, TelegramClient

        client = TelegramClient(live.http, token, base_url=settings.telegram_api_base)
        tg = TelegramChannel(
            client,
            handler,
            identity_lookup(engine, "telegram"),
            audit=audit,
            workdir=work,
            outbox=_outbox(engine, "telegram"),
        )
        hook_url, hook_secret = settings.telegram_webhook_url, _secret(settings.telegram_webhook_secret)
        if hook_url and not hook_secret:
            hub.mark_down(
                "telegram",
                "CLAWOPS_TELEGRAM_WEBHOOK_URL is set without CLAWOPS_TELEGRAM_WEBHOOK_SECRET; "
                "set the secret, or unset the URL for long polling",
            )
        else:
            hub.add("telegram", tg)
            live.tasks.append(asyncio.create_task(_run_telegram(hub, tg, hook_url, hook_secret, live.stop_event)))
            live.tasks.append(asyncio.create_task(tg.outbox.run(live.stop_event)))
            if hook_url:

                async def tg_webhook(
                    method: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes
                ) -> tuple[int, str]:
                    if method != "POST":
                        return 405, "Telegram webhooks are POSTs"
                    return await tg.receive(body, headers, hook_secret)

                hub.webhooks["telegram"] = tg_webhook
            live.closers.append(tg.drain)

    # -- WhatsApp ------------------------------------------------------------------------------------
    wa_settings = {
        "CLAWOPS_WHATSAPP_ACCESS_TOKEN": _secret(settings.whatsapp_access_token),
        "CLAWOPS_WHATSAPP_PHONE_NUMBER_ID": settings.whatsapp_phone_number_id or "",
        "CLAWOPS_WHATSAPP_APP_SECRET": _secret(settings.whatsapp_app_secret),
        "CLAWOPS_WHATSAPP_VERIFY_TOKEN": _secret(settings.whatsapp_verify_token),
    }
    missing = [name for name, value in wa_settings.items() if not value]
    if len(missing) == len(wa_settings):
        hub.mark_down("whatsapp", "not configured: set " + ", ".join(wa_settings))
    elif missing:
        hub.mark_down("whatsapp", "incomplete: set " + ", ".join(missing))
    else:
        from engine.channels.whatsapp import WhatsAppChannel, WhatsAppClient

        wa_client = WhatsAppClient(
            live.http,
            wa_settings["CLAWOPS_WHATSAPP_ACCESS_TOKEN"],
            wa_settings["CLAWOPS_WHATSAPP_PHONE_NUMBER_ID"],
            base_url=settings.whatsapp_api_base,
        )
        wa = WhatsAppChannel(
            wa_client,
            handler,
            identity_lookup(engine, "whatsapp"),
            app_secret=wa_settings["CLAWOPS_WHATSAPP_APP_SECRET"],
            verify_token=wa_settings["CLAWOPS_WHATSAPP_VERIFY_TOKEN"],
            audit=audit,
            workdir=work,
            outbox=_outbox(engine, "whatsapp"),
        )

        async def wa_webhook(
            method: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes
        ) -> tuple[int, str]:
            if method == "GET":
                return wa.verify_subscription(query)
            if method != "POST":
                return 405, "WhatsApp webhooks are GET (verify) or POST"
            status = await wa.receive(body, headers)
            return status, {401: "bad or missing X-Hub-Signature-256", 400: "not a WhatsApp webhook payload"}.get(
                status, ""
            )

        hub.add("whatsapp", wa)
        hub.webhooks["whatsapp"] = wa_webhook
        live.tasks.append(asyncio.create_task(wa.outbox.run(live.stop_event)))
        live.closers.append(wa.drain)
        log.info("channel live", extra={"channel": "whatsapp", "mode": "webhook", "path": "/webhook/whatsapp"})

    for name, why in sorted(hub.down.items()):
        log.info("channel not live", extra={"channel": name, "reason": why})
    if hub.live and warm_voice:
        live.warming = asyncio.create_task(_warm_voice(engine.scheduler.voice))
    return live


async def _warm_voice(config: VoiceConfig | None) -> None:
    """Load the speech models (``config``'s: the engine's) in the background once a channel is live, so the first
    voice note is not the one that waits for them (nothing else waits for this)."""
    import voice

    if not voice.available(config):
        log.info("voice notes answered in text only", extra={"reason": voice.unavailable_reason(config)})
        return
    try:
        seconds = await asyncio.to_thread(voice.preload, config)
    except Exception as exc:  # a model that cannot load is said again, per note, by the voice handler
        log.warning("voice models did not load", extra={"error": str(exc)})
        return
    log.info("voice models loaded", extra={"seconds": seconds})


async def _run_telegram(hub: ChannelHub, tg: Any, hook_url: str | None, hook_secret: str, stop: asyncio.Event) -> None:
    """Check the token, choose webhook or long polling (deleting any webhook first), then poll until stop."""
    while not stop.is_set():
        try:
            me = await tg.client.get_me()
            if hook_url:
                await tg.client.set_webhook(hook_url, hook_secret)
            else:
                await tg.client.delete_webhook()
            break
        except ChannelError as exc:
            if not exc.retryable:
                hub.mark_down("telegram", str(exc))
                log.error("channel not live", extra={"channel": "telegram", "reason": str(exc)})
                return
            log.warning("telegram not reachable yet; retrying", extra={"error": str(exc)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=30.0)
    else:
        return
    log.info(
        "channel live",
        extra={
            "channel": "telegram",
            "mode": "webhook" if hook_url else "long polling",
            "bot": (me or {}).get("username"),
        },
    )
    if not hook_url:
        await tg.run(stop)
