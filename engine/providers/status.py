"""Vendor status pages, read into one :class:`ProviderStatus` (for the ``provider_health`` tool).

Formats: Atlassian Statuspage JSON (DigitalOcean, Hostinger), Atom (Hetzner), Vultr's own
``status.json``, RSS (Contabo).  A status page that cannot be read is reported as
``unknown`` with the reason: it never raises, because "we could not check" is an answer policy
rule 4 (check the status page before declaring a widespread incident) must see, not a crash.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

#: provider → (format, public base URL, feed path).
FEEDS: dict[str, tuple[str, str, str]] = {
    "hetzner": ("atom", "https://status.hetzner.com", "/en.atom"),
    "digitalocean": ("statuspage", "https://status.digitalocean.com", "/api/v2/summary.json"),
    "hostinger": ("statuspage", "https://statuspage.hostinger.com", "/api/v2/summary.json"),
    "vultr": ("vultr", "https://status.vultr.com", "/status.json"),
    "contabo": ("rss", "https://contabo-status.com", "/rss.xml"),
}
_RESOLVED = re.compile(r"\b(resolved|completed|fixed)\b", re.I)
RECENT = timedelta(days=3)
"""Feed entries (Atom/RSS) older than this are history, not current incidents."""


@dataclass(frozen=True, slots=True)
class StatusIncident:
    title: str
    locations: tuple[str, ...] = ()
    status: str = "investigating"
    impact: str = "major"
    started: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    provider: str
    indicator: str
    """``operational`` | ``degraded`` | ``outage`` | ``unknown``."""
    description: str
    incidents: tuple[StatusIncident, ...] = ()
    source: str = ""
    error: str | None = None
    checked_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def ok(self) -> bool:
        return self.indicator == "operational"

    def affects(self, location: str) -> bool:
        """True if an open incident names this vendor location (or names none: provider-wide)."""
        return any(not i.locations or location.lower() in (x.lower() for x in i.locations) for i in self.incidents)


async def provider_status(provider: str, client: httpx.AsyncClient, base_url: str | None = None) -> ProviderStatus:
    """Fetch and read ``provider``'s status page (``base_url`` overrides the public one, e.g. an emulator)."""
    if provider not in FEEDS:
        return ProviderStatus(provider, "unknown", f"No status page is known for {provider}.")
    kind, public, path = FEEDS[provider]
    url = (base_url or public).rstrip("/") + path
    try:
        resp = await client.get(url, timeout=10.0)
        resp.raise_for_status()
        if kind == "statuspage":
            return _statuspage(provider, url, resp.json())
        if kind == "vultr":
            return _vultr(provider, url, resp.json())
        return _feed(provider, url, resp.text, atom=kind == "atom")
    except (httpx.HTTPError, ValueError, KeyError, TypeError, ET.ParseError) as exc:
        return ProviderStatus(
            provider,
            "unknown",
            f"The {provider} status page could not be read.",
            source=url,
            error=f"{type(exc).__name__}: {exc}",
        )


def _summarise(
    provider: str, url: str, incidents: list[StatusIncident], description: str | None = None
) -> ProviderStatus:
    if not incidents:
        return ProviderStatus(provider, "operational", description or "All systems operational.", (), url)
    worst = "outage" if any(i.impact in ("major", "critical") for i in incidents) else "degraded"
    text = description or "; ".join(i.title for i in incidents[:3])
    return ProviderStatus(provider, worst, text, tuple(incidents), url)


def _statuspage(provider: str, url: str, body: dict[str, Any]) -> ProviderStatus:
    incidents = [
        StatusIncident(
            str(i.get("name")),
            tuple(str(c.get("name", "")).lower() for c in i.get("components") or []),
            str(i.get("status", "")),
            str(i.get("impact", "none")),
            i.get("created_at"),
        )
        for i in body.get("incidents") or []
        if i.get("status") not in ("resolved", "postmortem")
    ]
    indicator = (body.get("status") or {}).get("indicator", "none")
    if not incidents and indicator not in ("none", None):
        incidents = [StatusIncident(str((body.get("status") or {}).get("description")), (), "ongoing", indicator)]
    return _summarise(provider, url, incidents, None if incidents else (body.get("status") or {}).get("description"))


def _vultr(provider: str, url: str, body: dict[str, Any]) -> ProviderStatus:
    incidents = [
        StatusIncident(str(a.get("subject")), (), str(a.get("status", "ongoing")), "major", a.get("start_date"))
        for a in body.get("service_alerts") or []
    ]
    for region, info in (body.get("regions") or {}).items():
        for a in (info or {}).get("alerts") or []:
            incidents.append(
                StatusIncident(
                    str(a.get("subject")), (str(region),), str(a.get("status", "ongoing")), "major", a.get("start_date")
                )
            )
    return _summarise(provider, url, incidents)


def _feed(provider: str, url: str, text: str, *, atom: bool) -> ProviderStatus:
    root = ET.fromstring(text)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    now = datetime.now(UTC)
    incidents = []
    entries = root.findall("a:entry", ns) if atom else root.findall("./channel/item")
    for entry in entries:
        if atom:
            title = entry.findtext("a:title", "", ns)
            body = entry.findtext("a:content", "", ns) or entry.findtext("a:summary", "", ns)
            when_raw = entry.findtext("a:published", "", ns) or entry.findtext("a:updated", "", ns)
            cat = entry.find("a:category", ns)
            where = cat.get("term", "") if cat is not None else ""
            when = datetime.fromisoformat(when_raw) if when_raw else now
        else:
            title = entry.findtext("title", "")
            body = entry.findtext("description", "")
            where = entry.findtext("category", "")
            raw = entry.findtext("pubDate", "")
            when = parsedate_to_datetime(raw) if raw else now
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if now - when > RECENT or _RESOLVED.search(title) or _RESOLVED.search(body or ""):
            continue
        incidents.append(
            StatusIncident(title, tuple(x for x in where.split(",") if x), "ongoing", "major", when.isoformat())
        )
    return _summarise(provider, url, incidents)
