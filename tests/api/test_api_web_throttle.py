"""The web door throttles failed sign-ins by the browser's own address, and says so in one sentence."""

from __future__ import annotations

import aiohttp

from tests.api.api_testkit import Keys, WebServer


async def test_guessing_keys_at_the_web_door_is_throttled(web_chat: WebServer, keys: Keys) -> None:
    async with aiohttp.ClientSession(base_url=web_chat.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        statuses = []
        for n in range(12):  # more than the 10 failures one address may make in a burst
            page = await http.post("/login", data={"key": f"claw_guess{n:02d}_" + "q" * 30}, allow_redirects=False)
            statuses.append(page.status)
            text = await page.text()
        assert statuses[:10] == [401] * 10 and statuses[-1] == 429
        assert "Too many failed" in text and "try again in" in text
        # the right key from the same address still signs in: bad keys never lock a valid one out (issue 17)
        signed_in = await http.post("/login", data={"key": keys.alice}, allow_redirects=False)
        assert signed_in.status == 303
