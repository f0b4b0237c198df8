"""``clawops web`` at the protocol level: the door (API key), then a real chat process driven like a browser.

The browser's side of textual-serve is JSON frames in and terminal bytes out;
pyte plays the terminal, so the test reads the screen an operator would see.
"""

from __future__ import annotations

import json
import time

import aiohttp
import pyte
from sqlmodel import col, select

from engine.store import ChatMessage, Operator
from tests.api.api_testkit import Keys, WebServer

WIDTH, HEIGHT = 110, 32


async def test_the_door_refuses_everyone_without_a_key(web_chat: WebServer, keys: Keys) -> None:
    async with aiohttp.ClientSession(base_url=web_chat.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        page = await http.get("/")
        assert page.status == 200 and 'name="key"' in await page.text()  # the sign-in form, not the app
        for path in ("/ws", "/static/js/textual.js", "/download/x"):
            assert (await http.get(path)).status == 401
        wrong = await http.post("/login", data={"key": "claw_wrong_" + "q" * 30}, allow_redirects=False)
        assert wrong.status == 401 and "not accepted" in await wrong.text()
        assert len(http.cookie_jar) == 0
        ok = await http.post("/login", data={"key": keys.alice}, allow_redirects=False)
        assert ok.status == 303
        cookie = ok.cookies["clawops_web"]
        assert cookie["httponly"] and cookie["samesite"] == "Strict" and keys.alice not in cookie.value
        app_page = await http.get("/")
        assert app_page.status == 200 and "textual.js" in await app_page.text()
        other_site = await http.get("/ws", headers={"Origin": "https://evil.example"})
        assert other_site.status == 403


async def test_a_question_typed_in_the_web_chat_gets_its_reply(web_chat: WebServer, keys: Keys) -> None:
    screen = pyte.Screen(WIDTH, HEIGHT)
    stream = pyte.ByteStream(screen)
    async with aiohttp.ClientSession(base_url=web_chat.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert (await http.post("/login", data={"key": keys.bob}, allow_redirects=False)).status == 303
        async with http.ws_connect(f"/ws?width={WIDTH}&height={HEIGHT}") as ws:

            async def until(predicate: str, limit: float = 120.0) -> str:
                deadline = time.monotonic() + limit
                while time.monotonic() < deadline:
                    text = "\n".join(screen.display)
                    if predicate in text:
                        return text
                    try:
                        msg = await ws.receive(timeout=1.0)
                    except TimeoutError:
                        continue
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        stream.feed(msg.data)
                    elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                        break
                raise AssertionError(f"never saw {predicate!r}; the screen was:\n" + "\n".join(screen.display))

            await until("Message the team")
            await ws.send_str(json.dumps(["stdin", "fleet status"]))
            await ws.send_str(json.dumps(["stdin", "\r"]))
            text = await until("[CMD]")
            assert "fleet status" in text
    store = web_chat.engine.store
    with store.session() as s:
        bob = s.exec(select(Operator).where(col(Operator.name) == "bob")).one()
        rows = s.exec(select(ChatMessage).where(col(ChatMessage.operator_id) == bob.id)).all()
    assert [r.text for r in rows if r.role == "operator"] == ["fleet status"]
    assert rows[0].channel == "tui"
