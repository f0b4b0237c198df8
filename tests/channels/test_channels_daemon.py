"""Issue 16, done-when: ``clawops engine`` started the README way (only env vars) serves Telegram (long polling
against the Bot API emulator) and WhatsApp (signed webhooks on the API port, replies through the Graph API
emulator): linked operators' text and voice turns are answered (voice with "Heard", the text, then a voice
note), strangers get one refusal and no fleet data, "brief me now" brings a voice note and the report
document, a revoked identity is refused from its next message, bad webhooks run nothing, and the update and
message kinds the bot does not act on (edits, button presses, channel posts, membership changes, reactions,
delivery statuses, and malformed ones) are ignored without a crash or an answer, while the bot keeps listening.

One daemon process for the whole module; the emulators run on their own event loop in a thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

import httpx
import numpy as np
import pytest

import voice
from engine.channels import (
    NOTHING_HEARD,
    SentMessage,
    TelegramEmulator,
    WhatsAppEmulator,
    WhatsAppSent,
    sign_payload,
)
from tests.clawops_cli import run_clawops
from tests.speech_kit import STEADY_VOICE
from voice._codec import encode_ogg_opus

pytestmark = [pytest.mark.voice, pytest.mark.slow]

OWNER_TG, ALICE_TG, BOB_TG, STRANGER_TG = 4242, 5151, 6161, 999
OWNER_WA, BOB_WA, STRANGER_WA = "491701234567", "447700900123", "15550001111"
T = TypeVar("T")


class Emulators:
    """Both emulators on one event loop in a background thread, so the (sync) tests can drive them."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.tg = TelegramEmulator()
        self.wa = WhatsAppEmulator()
        self.run(self.tg.start())
        self.run(self.wa.start())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout=120)

    def call(self, fn: Callable[[], T]) -> T:
        async def wrapped() -> T:
            return fn()

        return self.run(wrapped())

    def close(self) -> None:
        self.run(self.tg.stop())
        self.run(self.wa.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 240.0) -> Any:
    """Poll ``check`` until it returns something truthy (the daemon works on its own clock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = run_clawops(args, env=env, timeout=180)
    assert done.returncode == 0, done.stderr
    return done


class Daemon:
    def __init__(self, url: str, env: dict[str, str], proc: subprocess.Popen[str]) -> None:
        self.url, self.env, self.proc = url, env, proc


@pytest.fixture(scope="module")
def emus() -> Iterator[Emulators]:
    emulators = Emulators()
    yield emulators
    emulators.close()


@pytest.fixture(scope="module")
def daemon(emus: Emulators, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAWOPS_")}
    env.update(
        {
            "CLAWOPS_HOME": str(home),
            "CLAWOPS_DEMO_PAIRS": "20",
            "CLAWOPS_DEMO_PROVIDERS": "sim",
            "CLAWOPS_GATEWAY_PORT": "0",
            # The README's way: the bot token and where the Bot API is; WhatsApp's four Cloud API settings.
            "CLAWOPS_TELEGRAM_BOT_TOKEN": emus.tg.token,
            "CLAWOPS_TELEGRAM_API_BASE": emus.tg.base_url,
            "CLAWOPS_WHATSAPP_ACCESS_TOKEN": emus.wa.access_token,
            "CLAWOPS_WHATSAPP_PHONE_NUMBER_ID": emus.wa.phone_number_id,
            "CLAWOPS_WHATSAPP_APP_SECRET": emus.wa.app_secret,
            "CLAWOPS_WHATSAPP_VERIFY_TOKEN": "verify-me",
            "CLAWOPS_WHATSAPP_API_BASE": emus.wa.base_url,
        }
    )
    cli(["operator", "link", "owner", "telegram", str(OWNER_TG)], env)
    cli(["operator", "link", "owner", "whatsapp", f"+{OWNER_WA}"], env)
    cli(["operator", "add", "alice", "--role", "viewer", "--telegram", str(ALICE_TG)], env)
    cli(["operator", "add", "bob", "--role", "viewer", "--telegram", str(BOB_TG), "--whatsapp", f"+{BOB_WA}"], env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "engine", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), url
    emus.wa.webhook_url = f"{url}/webhook/whatsapp"
    yield Daemon(url, env, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    live = {r.get("channel") for r in logs if r["msg"] == "channel live"}
    assert live == {"telegram", "whatsapp"}, err[-3000:]
    # Junk from the messaging APIs and users' mistakes are answered or ignored, never crash anything.
    assert [r for r in logs if r.get("exc") or r["level"] == "critical"] == [], err[-3000:]
    assert proc.returncode == 0, err[-3000:]


def tg_sent(emus: Emulators, chat: int) -> list[SentMessage]:
    return emus.call(lambda: [s for s in emus.tg.sent if s.chat_id == str(chat)])


def wa_sent(emus: Emulators, to: str) -> list[WhatsAppSent]:
    return emus.call(lambda: [s for s in emus.wa.sent if s.to == to])


@pytest.fixture(scope="module")
def question() -> bytes:
    return voice.synthesize("What's degraded?", STEADY_VOICE)


# ------------------------------------------------------------------------------------------------ Telegram


def test_telegram_text_voice_and_briefing_turns(daemon: Daemon, emus: Emulators, question: bytes) -> None:
    start = len(tg_sent(emus, OWNER_TG))  # what other tests of this module already had sent to the owner
    emus.call(lambda: emus.tg.send_text(OWNER_TG, "fleet status"))
    first = wait_for("the text answer", lambda: tg_sent(emus, OWNER_TG)[start:])
    assert first[0].kind == "text" and first[0].text is not None and "DEMO" in first[0].text

    emus.call(lambda: emus.tg.send_voice(OWNER_TG, question, duration=2))
    voice_turn = wait_for(
        "Heard, the text, then a voice note",
        lambda: (m := tg_sent(emus, OWNER_TG)[start + 1 :]) and any(s.kind == "voice" for s in m) and m,
    )
    heard, answer, spoken = voice_turn[:3]
    assert heard.text is not None and heard.text.startswith("Heard:") and "degraded" in heard.text.lower()
    assert answer.kind == "text" and answer.text is not None and "DEGRADED" in answer.text
    assert spoken.kind == "voice" and spoken.content is not None and spoken.content[:4] == b"OggS"

    emus.call(lambda: emus.tg.send_text(OWNER_TG, "brief me now"))
    briefing = wait_for(
        "the briefing's voice note and report",
        lambda: (m := tg_sent(emus, OWNER_TG)[start + 4 :]) and any(s.kind == "document" for s in m) and m,
    )
    assert "voice" in [s.kind for s in briefing]
    report = next(s for s in briefing if s.kind == "document")
    assert report.filename is not None and report.filename.endswith(".html")
    assert report.content is not None and b"<html" in report.content.lower()
    # The owner's next turn is answered after everything "brief me now" sent: it sent one report, not two.
    before = len(tg_sent(emus, OWNER_TG))
    emus.call(lambda: emus.tg.send_text(OWNER_TG, "help"))
    wait_for("the owner's next answer", lambda: len(tg_sent(emus, OWNER_TG)) > before)
    assert [s.kind for s in tg_sent(emus, OWNER_TG)[start:]].count("document") == 1


def test_telegram_stranger_gets_one_refusal_and_no_fleet_data(daemon: Daemon, emus: Emulators) -> None:
    emus.call(lambda: emus.tg.send_text(STRANGER_TG, "fleet status"))
    emus.call(lambda: emus.tg.send_text(STRANGER_TG, "show acct-001"))
    refusal = wait_for("the stranger's refusal", lambda: tg_sent(emus, STRANGER_TG))
    # The owner's next turn is answered after both of the stranger's messages were handled.
    before = len(tg_sent(emus, OWNER_TG))
    emus.call(lambda: emus.tg.send_text(OWNER_TG, "fleet status"))
    answered = wait_for("the owner's answer", lambda: tg_sent(emus, OWNER_TG)[before:])
    assert [s.kind for s in answered] == ["text"]  # the owner got their answer, nothing of the stranger's
    refusal = tg_sent(emus, STRANGER_TG)
    assert len(refusal) == 1 and refusal[0].text is not None
    assert "operator link" in refusal[0].text and "DEMO" not in refusal[0].text and "acct" not in refusal[0].text


def test_telegram_revoked_identity_is_refused_from_then_on(daemon: Daemon, emus: Emulators) -> None:
    emus.call(lambda: emus.tg.send_text(ALICE_TG, "fleet status"))
    answered = wait_for("alice's answer", lambda: tg_sent(emus, ALICE_TG))
    assert answered[0].text is not None and "DEMO" in answered[0].text
    cli(["operator", "revoke", "alice"], daemon.env)
    emus.call(lambda: emus.tg.send_text(ALICE_TG, "fleet status"))
    refused = wait_for("alice's refusal", lambda: (m := tg_sent(emus, ALICE_TG)) and len(m) > 1 and m)
    assert len(refused) == 2 and refused[1].text is not None and "operator link" in refused[1].text
    assert "DEMO" not in refused[1].text


def test_telegram_other_updates_and_malformed_ones_leave_the_bot_listening(daemon: Daemon, emus: Emulators) -> None:
    tg = emus.tg

    def queue() -> None:
        # Kinds the bot does not act on, as Telegram sends them; then two messages no real Telegram sends.
        tg.push_update("edited_message", tg.message(BOB_TG, text="fleet status", edit_date=1))
        tg.push_update(
            "callback_query", {"id": "7", "from": tg.message(BOB_TG)["from"], "chat_instance": "1", "data": "go"}
        )
        tg.push_update(
            "channel_post",
            {"message_id": 1, "chat": {"id": -100, "type": "channel", "title": "c"}, "date": 0, "text": "fleet status"},
        )
        tg.push_update(
            "my_chat_member",
            {
                "chat": {"id": BOB_TG, "type": "private"},
                "date": 0,
                "from": tg.message(BOB_TG)["from"],
                "new_chat_member": {"status": "kicked", "user": {"id": 1, "is_bot": True}},
            },
        )
        tg.push_update("message", {"message_id": 2, "from": {"id": BOB_TG}, "chat": "junk", "text": "x"})
        tg.push_update("message", tg.message(BOB_TG, voice="junk"))
        tg.send_text(BOB_TG, "/start")  # what Telegram's START button sends: a greeting, not "start instances"
        tg.send_text(BOB_TG, "help")

    emus.call(queue)
    replies = wait_for("the answers", lambda: (m := tg_sent(emus, BOB_TG)) and len(m) >= 3 and m)
    not_a_note, greeting, helped = [s.text for s in replies]
    assert not_a_note is not None and "voice note" in not_a_note and "DEMO" not in not_a_note
    assert greeting == helped and greeting is not None and "start" not in greeting.split()


# ------------------------------------------------------------------------------------------------ WhatsApp


def test_whatsapp_webhook_handshake_and_bad_input(daemon: Daemon, emus: Emulators) -> None:
    hook = f"{daemon.url}/webhook/whatsapp"
    start = len(wa_sent(emus, OWNER_WA))  # what other tests of this module already had sent to the owner
    ok = httpx.get(hook, params={"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "c42"})
    assert (ok.status_code, ok.text) == (200, "c42")
    wrong = httpx.get(hook, params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "c42"})
    assert wrong.status_code == 403 and "c42" not in wrong.text
    body = json.dumps(emus.wa._envelope(OWNER_WA, {"type": "text", "text": {"body": "fleet status"}})).encode()
    forged = httpx.post(hook, content=body, headers={"X-Hub-Signature-256": sign_payload(body, "not-the-secret")})
    unsigned = httpx.post(hook, content=body)
    junk = b'{"entry": "nope"'
    malformed = httpx.post(hook, content=junk, headers={"X-Hub-Signature-256": sign_payload(junk, emus.wa.app_secret)})
    assert (forged.status_code, unsigned.status_code, malformed.status_code) == (401, 401, 400)
    # Nothing ran for any of them: the only replies later are to the signed message below, once, though
    # Meta delivers it twice.
    signed = {"X-Hub-Signature-256": sign_payload(body, emus.wa.app_secret), "Content-Type": "application/json"}
    assert httpx.post(hook, content=body, headers=signed).status_code == 200
    assert httpx.post(hook, content=body, headers=signed).status_code == 200
    wait_for("the answer", lambda: wa_sent(emus, OWNER_WA)[start:])
    emus.run(emus.wa.deliver_text(OWNER_WA, "help"))  # a later message: by its answer, the duplicate is done
    wait_for("the second answer", lambda: len(wa_sent(emus, OWNER_WA)[start:]) >= 2)
    texts = [s.text or "" for s in wa_sent(emus, OWNER_WA)[start:]]
    assert sum("DEMO" in t for t in texts) == 1, texts


def test_whatsapp_text_voice_briefing_and_stranger(daemon: Daemon, emus: Emulators, question: bytes) -> None:
    start = len(wa_sent(emus, OWNER_WA))  # what other tests of this module already had sent to the owner
    assert emus.run(emus.wa.deliver_text(OWNER_WA, "fleet status")) == 200
    first = wait_for("the text answer", lambda: wa_sent(emus, OWNER_WA)[start:])
    assert first[0].kind == "text" and first[0].text is not None and "DEMO" in first[0].text

    assert emus.run(emus.wa.deliver_audio(OWNER_WA, question)) == 200
    turn = wait_for(
        "Heard, the text, then a voice note",
        lambda: (m := wa_sent(emus, OWNER_WA)[start + 1 :]) and any(s.kind == "audio" for s in m) and m,
    )
    heard, answer, spoken = turn[:3]
    assert heard.text is not None and heard.text.startswith("Heard:")
    assert answer.text is not None and "DEGRADED" in answer.text
    assert spoken.kind == "audio" and spoken.mime_type == "audio/ogg" and (spoken.content or b"")[:4] == b"OggS"

    assert emus.run(emus.wa.deliver_text(OWNER_WA, "brief me now")) == 200
    briefing = wait_for(
        "the briefing's voice note and report",
        lambda: (m := wa_sent(emus, OWNER_WA)[start + 4 :]) and any(s.kind == "document" for s in m) and m,
    )
    assert "audio" in [s.kind for s in briefing]
    assert (next(s for s in briefing if s.kind == "document").filename or "").endswith(".html")

    assert emus.run(emus.wa.deliver_text(STRANGER_WA, "fleet status")) == 200
    assert emus.run(emus.wa.deliver_text(STRANGER_WA, "fleet status")) == 200
    refusal = wait_for("the stranger's refusal", lambda: wa_sent(emus, STRANGER_WA))
    before = len(wa_sent(emus, OWNER_WA))
    assert emus.run(emus.wa.deliver_text(OWNER_WA, "help")) == 200
    wait_for("the owner's answer", lambda: len(wa_sent(emus, OWNER_WA)) > before)
    refusal = wa_sent(emus, STRANGER_WA)
    assert [s.kind for s in wa_sent(emus, OWNER_WA)[start:]].count("document") == 1
    assert len(refusal) == 1 and "operator link" in (refusal[0].text or "") and "DEMO" not in (refusal[0].text or "")


def test_whatsapp_other_message_kinds(daemon: Daemon, emus: Emulators) -> None:
    wa = emus.wa
    silent = encode_ogg_opus(np.zeros(48_000, dtype=np.float32), 48_000)
    media = emus.call(lambda: wa.add_media(silent, "audio/ogg"))
    status = {"id": "wamid.out.1", "status": "read", "timestamp": "1", "recipient_id": BOB_WA}
    for payload in (
        wa._envelope(BOB_WA, {"type": "reaction", "reaction": {"message_id": "wamid.out.1", "emoji": "👍"}}),
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "1",
                    "changes": [
                        {"field": "messages", "value": {"messaging_product": "whatsapp", "statuses": [status]}}
                    ],
                }
            ],
        },
        {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {"messages": 5}}]}]},
        {"object": "whatsapp_business_account", "entry": [{"changes": 5}, 5]},
        wa._envelope(BOB_WA, {"type": "voice", "voice": {"id": media, "mime_type": "audio/ogg"}}),
        wa._envelope(BOB_WA, {"type": "text", "text": {"body": "help"}}),
    ):
        assert emus.run(wa.post_webhook(payload)) == 200
    replies = wait_for("the answers", lambda: (m := wa_sent(emus, BOB_WA)) and len(m) >= 2 and m)
    # A reaction, a delivery status and junk run nothing; the voice note runs nothing either (silence), and
    # the answers keep the order the messages came in.
    assert [(r.kind, r.text) for r in replies][0] == ("text", NOTHING_HEARD)
    assert len(replies) == 2 and replies[1].kind == "text" and replies[1].text != NOTHING_HEARD
