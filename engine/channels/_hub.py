"""The running channels of one engine, and the one way to reach an operator on them.

Each engine owns one (``Engine.channel_hub``), which the daemon fills at start-up (``.live``);
anything in the engine that must tell an operator something on their phone — the scheduled briefing,
an alert — calls::

    result = await engine.channel_hub.send_to_operator("owner", text, voice=ogg, documents=[report])

It finds the operator's linked identities (``clawops operator link``), sends through each live
channel's Outbox (so an API outage delays the message instead of losing it) and says truthfully what
happened per channel: ``sent``, ``queued`` (waiting for the API; goes out later, in order) or
``failed`` with the reason (channel not running, no linked identity, the API refused).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlmodel import col, or_, select

from engine.channels._base import Outbox, Reply, SendStatus

if TYPE_CHECKING:
    from engine.store import Store

__all__ = ["ChannelHub", "DeliveryResult", "LiveChannel"]

log = logging.getLogger("clawops.channels")

CHANNEL_NAMES = ("telegram", "whatsapp")

Webhook = Callable[[str, Mapping[str, str], Mapping[str, str], bytes], Awaitable[tuple[int, str]]]
"""(HTTP method, query, headers, raw body) → (status, text): a channel's webhook on the API port."""


class LiveChannel(Protocol):
    """What a running channel offers the hub: send a ``Reply`` to one address (chat id, phone number)."""

    async def send_reply(self, address: Any, reply: Reply) -> SendStatus: ...


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What ``send_to_operator`` did, per channel: ``statuses`` (sent/queued/failed) and ``errors`` (why)."""

    operator: str
    statuses: dict[str, SendStatus] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True only when every part reached every channel tried (nothing queued, nothing failed)."""
        return bool(self.statuses) and all(s == "sent" for s in self.statuses.values())

    @property
    def delivered(self) -> bool:
        """True when at least one channel has it sent or queued for sending (nothing was lost everywhere)."""
        return any(s in ("sent", "queued") for s in self.statuses.values())

    def sentence(self) -> str:
        """One line for the log, the audit and the chat."""
        if not self.statuses:
            return "Nothing was sent: no channel was tried."
        parts = []
        for name, status in self.statuses.items():
            if status == "sent":
                parts.append(f"sent on {name}")
            elif status == "queued":
                parts.append(
                    f"queued on {name} ({self.errors.get(name, 'the API is unavailable')}; sent when it is back)"
                )
            else:
                parts.append(f"failed on {name}: {self.errors.get(name, 'the API refused it')}")
        text = "; ".join(parts)
        return text[0].upper() + text[1:] + "."


class ChannelHub:
    """The live channels of one engine (empty until the daemon starts them) and why the others are not live."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = store
        self.live: dict[str, LiveChannel] = {}
        self.down: dict[str, str] = {}
        self.webhooks: dict[str, Webhook] = {}
        """Channel name → its webhook handler, served by the API at ``/webhook/<name>``."""

    def add(self, name: str, channel: LiveChannel) -> None:
        self.live[name] = channel
        self.down.pop(name, None)

    def mark_down(self, name: str, why: str) -> None:
        self.live.pop(name, None)
        self.down[name] = why

    def addresses(self, operator: str) -> dict[str, str]:
        """The operator's (by id or name) linked identities: channel → external id."""
        from engine.store import ChannelIdentity, Operator

        if self.store is None:
            return {}
        with self.store.session() as s:
            op = s.exec(
                select(Operator).where(or_(col(Operator.id) == operator, col(Operator.name) == operator))
            ).first()
            if op is None or op.revoked_at is not None:
                return {}
            rows = s.exec(select(ChannelIdentity).where(col(ChannelIdentity.operator_id) == op.id)).all()
            return {str(r.channel): str(r.external_id) for r in rows if r.channel in CHANNEL_NAMES}

    async def send_to_operator(
        self,
        operator: str,
        text: str,
        voice: bytes | Path | None = None,
        documents: Sequence[Path] = (),
        *,
        channels: Sequence[str] | None = None,
        voice_duration_s: float | None = None,
        caption: str | None = None,
    ) -> DeliveryResult:
        """Send ``text`` (then the OGG/Opus ``voice`` note, then ``documents``) to ``operator`` (id or name).

        ``channels`` narrows to some channels (default: every channel the operator is linked on, or, when
        linked nowhere, a failure saying so). Never raises for a delivery problem: read the result.
        """
        result = DeliveryResult(operator)
        linked = self.addresses(operator)
        wanted = list(channels) if channels else (list(linked) or [])
        if not wanted:
            result.statuses["telegram"] = "failed"
            result.errors["telegram"] = (
                f"operator {operator} has no linked Telegram or WhatsApp identity (clawops operator link)"
            )
            return result
        ogg = voice.read_bytes() if isinstance(voice, Path) else voice
        reply = Reply(
            text=text,
            voice_ogg=ogg,
            voice_duration_s=voice_duration_s,
            documents=tuple(documents),
            document_caption=caption,
        )
        for name in wanted:
            live = self.live.get(name)
            address = linked.get(name)
            if live is None:
                result.statuses[name] = "failed"
                result.errors[name] = f"the {name} channel is not running ({self.down.get(name, 'not configured')})"
            elif address is None:
                result.statuses[name] = "failed"
                result.errors[name] = f"operator {operator} has no linked {name} identity"
            else:
                try:
                    status = await live.send_reply(address, reply)
                except Exception as exc:  # a bug in one channel must not hide the other's result
                    log.exception("delivery to %s on %s failed", operator, name)
                    status = "failed"
                    result.errors[name] = f"{type(exc).__name__}: {exc}"
                result.statuses[name] = status
                if status == "queued":
                    result.errors.setdefault(name, f"{name} is unavailable right now")
                elif status == "failed":
                    result.errors.setdefault(name, _failure(live, address) or f"{name} refused the message")
        return result


def _failure(live: LiveChannel, address: str) -> str | None:
    """The messaging API's own reason for the part it refused (``Outbox.failure``), without a final period (the
    callers put it inside their own sentence)."""
    outbox = getattr(live, "outbox", None)
    why = outbox.failure(str(address)) if isinstance(outbox, Outbox) else None
    return why.rstrip(". ") or None if why else None
