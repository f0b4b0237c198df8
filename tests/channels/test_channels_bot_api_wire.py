"""The Bot API emulator speaks Telegram's wire format: JSON, urlencoded and multipart bodies, the ok/result and
ok/false/error_code/description envelopes, 429 with parameters.retry_after, getFile then /file/bot<token>/<path>."""

from __future__ import annotations

import httpx

from engine.channels import TelegramEmulator


async def test_bodies_envelopes_flood_and_files() -> None:
    async with TelegramEmulator() as emu, httpx.AsyncClient() as http:
        api = f"{emu.base_url}/bot{emu.token}"
        as_json = (await http.post(f"{api}/sendMessage", json={"chat_id": 7, "text": "json"})).json()
        as_form = (await http.post(f"{api}/sendMessage", data={"chat_id": "7", "text": "form"})).json()
        as_multipart = (
            await http.post(
                f"{api}/sendDocument", data={"chat_id": "7"}, files={"document": ("r.html", b"<html/>", "text/html")}
            )
        ).json()
        assert as_json["ok"] and as_form["ok"] and as_multipart["ok"]
        assert as_json["result"]["text"] == "json" and isinstance(as_json["result"]["message_id"], int)
        edited = (
            await http.post(
                f"{api}/editMessageText",
                json={"chat_id": 7, "message_id": as_json["result"]["message_id"], "text": "json, edited"},
            )
        ).json()
        assert edited["ok"] and emu.sent[0].text == "json, edited" and emu.sent[0].edits == ["json"]

        bad = await http.post(f"{api}/sendMessage", content=b"[1", headers={"Content-Type": "application/json"})
        empty = await http.post(f"{api}/sendMessage", json={"chat_id": 7, "text": ""})
        wrong_token = await http.post(f"{emu.base_url}/bot1:nope/getMe")
        for resp, status in ((bad, 400), (empty, 400), (wrong_token, 401)):
            body = resp.json()
            assert resp.status_code == status and body["ok"] is False and body["error_code"] == status
            assert isinstance(body["description"], str) and body["description"]

        emu.flood(times=1, retry_after=3, method="sendMessage")
        flooded = await http.post(f"{api}/sendMessage", json={"chat_id": 7, "text": "x"})
        assert flooded.status_code == 429 and flooded.json()["parameters"] == {"retry_after": 3}

        emu.send_voice(7, b"OggS-voice")
        update = (await http.post(f"{api}/getUpdates", json={"timeout": 0})).json()["result"][0]
        info = (await http.post(f"{api}/getFile", data={"file_id": update["message"]["voice"]["file_id"]})).json()
        path = info["result"]["file_path"]
        assert (await http.get(f"{emu.base_url}/file/bot{emu.token}/{path}")).content == b"OggS-voice"
