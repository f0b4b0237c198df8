"""The HTML report on a phone: headless Chromium (Debian's, as the web chat's browser test uses) at 390 px
wide — nothing wider than the screen (charts scale, tables wrap), every section there."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from engine import audit
from engine.briefer import produce_briefing
from engine.runtime import Engine
from engine.store import Incident, Instance

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

MEASURE = """() => {
  const width = window.innerWidth;
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width + 0.5)
    .map(e => e.tagName + ' ' + Math.round(e.getBoundingClientRect().right));
  const clipped = [...document.querySelectorAll('table')].filter(t => t.scrollWidth > t.clientWidth + 1).length;
  return {width, scroll: document.documentElement.scrollWidth, wide, clipped,
          charts: [...document.querySelectorAll('svg')].map(s => Math.round(s.getBoundingClientRect().width)),
          headings: [...document.querySelectorAll('h2')].map(h => h.textContent)};
}"""


def _report(home: Path) -> Path:
    engine = Engine.open(demo_pairs=60)
    try:
        now = datetime.now(UTC)
        with engine.store.session() as s:
            down = s.exec(select(Instance).where(col(Instance.role) == "primary").limit(2)).all()
            for inst in down:  # two users down for an hour: the SLA table has long ids and reasons
                inst.state, inst.updated_at = "FAILED", now - timedelta(hours=1)
                inst.health_reason = "gateway unreachable for 12 consecutive sweeps, docker daemon not responding"
                s.add(inst)
            s.add(
                Incident(
                    id="inc-0001",
                    key="provider:hetzner:nbg1",
                    title="Hetzner Nuremberg network degradation affecting many gateways",
                    provider="hetzner",
                    region="eu-hetzner-nbg1",
                    status="open",
                    opened_at=now,
                )
            )
            audit.append(
                s,
                actor="guardian",
                channel="guardian",
                action="guardian.state",
                target=down[0].id,
                detail={"from": "DEGRADED", "to": "ACTIVE"},
            )
        return produce_briefing(engine, engine.settings, "daily", home / "out", now, speak=False).html_path
    finally:
        engine.close()


@pytest.mark.browser
async def test_the_report_fits_a_390px_phone(clawops_home: Path) -> None:
    if not CHROMIUM.exists():  # ./dev test installs it; a skip here would hide that the report was never looked at
        pytest.fail("Debian's chromium is needed at /usr/bin/chromium: apt-get install -y chromium", pytrace=False)
    html = _report(clawops_home)
    playwright: Any = importlib.import_module("playwright.async_api")
    async with playwright.async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
            await page.goto(html.as_uri())
            seen = await page.evaluate(MEASURE)
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "briefing_390px.png"), full_page=True)
        finally:
            await browser.close()
    assert seen["width"] == 390
    assert seen["scroll"] <= 390 and not seen["wide"], seen  # no horizontal scrolling, nothing cut off
    assert seen["clipped"] == 0, seen
    assert seen["charts"] and all(0 < w <= 390 for w in seen["charts"]), seen  # the charts scale down
    assert {"Fleet", "SLA breaches", "Incidents", "Cost"} <= set(seen["headings"])
