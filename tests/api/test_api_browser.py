"""One real browser: headless Chromium (Debian's) signs in, types a question and the reply appears.

xterm.js draws on a canvas, so there is no text in the DOM: the test checks the
app-side effect (the turn stored in the signed-in operator's history) and
saves a screenshot under ``test-artifacts/`` for a person to look at.  The
setup installs Chromium with apt when it is missing, and Playwright (the
Python package only — its own browser download is never used) when that is.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from engine.store import ChatMessage, Operator
from tests.api.api_testkit import Keys, WebServer

CHROMIUM = Path("/usr/bin/chromium")
PLAYWRIGHT = "playwright==1.65.2"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _ensure_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail("Debian's chromium is needed at /usr/bin/chromium: apt-get install -y chromium", pytrace=False)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env, timeout=900)
    assert CHROMIUM.exists()


def _ensure_playwright() -> Any:
    try:
        return importlib.import_module("playwright.async_api")
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", PLAYWRIGHT], check=True, timeout=600)
        importlib.invalidate_caches()
        return importlib.import_module("playwright.async_api")


def _turns(engine: Any, operator: str) -> list[ChatMessage]:
    with engine.store.session() as s:
        op = s.exec(select(Operator).where(col(Operator.name) == operator)).one()
        return list(
            s.exec(select(ChatMessage).where(col(ChatMessage.operator_id) == op.id).order_by(col(ChatMessage.id))).all()
        )


async def _until(check: Any, limit: float = 120.0) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.25)
    return check()


@pytest.mark.browser
async def test_chromium_signs_in_types_a_question_and_sees_the_reply(web_chat: WebServer, keys: Keys) -> None:
    await asyncio.to_thread(_ensure_chromium)
    playwright_api = await asyncio.to_thread(_ensure_playwright)
    ARTIFACTS.mkdir(exist_ok=True)
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            page = await browser.new_page(viewport={"width": 1200, "height": 800})
            await page.route("**/fonts.googleapis.com/**", lambda route: route.abort())
            await page.goto(web_chat.url + "/")
            await page.fill("#key", keys.alice)  # the sign-in form: the chat is behind the key
            await page.click("button[type=submit]")
            await page.wait_for_selector("body.-first-byte", timeout=120_000)
            await asyncio.sleep(1.0)  # let the chat finish mounting before typing (not an assertion)
            await page.focus(".xterm-helper-textarea")
            await page.keyboard.type("fleet status")
            await page.keyboard.press("Enter")
            asked = await _until(lambda: [m for m in _turns(web_chat.engine, "alice") if m.role == "operator"], 60)
            if not asked:  # typed while the app was still starting: type it once more
                await page.focus(".xterm-helper-textarea")
                await page.keyboard.type("fleet status")
                await page.keyboard.press("Enter")
            replies = await _until(lambda: [m for m in _turns(web_chat.engine, "alice") if m.role == "agent"])
            assert replies and replies[0].text.startswith("[CMD]")
            assert [m.text for m in _turns(web_chat.engine, "alice") if m.role == "operator"] == ["fleet status"]
            await asyncio.sleep(1.0)  # the reply is drawn on the canvas a frame later
            shot = ARTIFACTS / "web_chat_chromium.png"
            await page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000  # a drawn terminal, not a blank page
        finally:
            await browser.close()
