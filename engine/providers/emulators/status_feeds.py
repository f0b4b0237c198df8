"""Emulated vendor status pages, in each vendor's feed format, rendered from ``state.incidents``.

- DigitalOcean, Hostinger: Atlassian Statuspage JSON (``/api/v2/summary.json``, ``/api/v2/status.json``)
- Hetzner: Atom (``/en.atom``)
- Vultr: ``/status.json`` (``service_alerts[]``, ``regions{id:{alerts[]}}``)
- Contabo: RSS 2.0 (``/rss.xml``)

All are served under ``/status`` on the emulator's port, without auth.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from aiohttp import web

from engine.providers.emulators._core import Incident, json_response

if TYPE_CHECKING:
    from engine.providers.emulators._core import Vendor

_INDICATOR = {"none": "none", "minor": "minor", "major": "major", "critical": "critical"}


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def status_routes(vendor: Vendor) -> list[web.RouteDef]:
    state = vendor.state

    def active() -> list[Incident]:
        return [i for i in state.incidents if i.resolved is None]

    async def statuspage_summary(request: web.Request) -> web.Response:
        open_incidents = active()
        worst = max(
            (i.impact for i in open_incidents), key=["none", "minor", "major", "critical"].index, default="none"
        )
        desc = {
            "none": "All Systems Operational",
            "minor": "Minor Service Outage",
            "major": "Partial System Outage",
            "critical": "Major System Outage",
        }[worst]
        affected = {loc for i in open_incidents for loc in i.locations}
        body: dict[str, Any] = {
            "page": {
                "id": f"emu-{vendor.name}",
                "name": vendor.name,
                "url": str(request.url.origin()) + "/status",
                "updated_at": state.iso(),
            },
            "status": {"indicator": _INDICATOR[worst], "description": desc},
            "components": [
                {"id": f"c-{loc}", "name": loc.upper(), "status": "major_outage" if loc in affected else "operational"}
                for loc in sorted(affected)
            ],
            "incidents": [
                {
                    "id": i.id,
                    "name": i.title,
                    "status": i.status,
                    "impact": i.impact,
                    "created_at": state.iso(i.started),
                    "updated_at": state.iso(),
                    "components": [{"id": f"c-{loc}", "name": loc.upper()} for loc in i.locations],
                }
                for i in open_incidents
            ],
            "scheduled_maintenances": [],
        }
        if request.path.endswith("/status.json"):
            body = {"page": body["page"], "status": body["status"]}
        return json_response(body)

    async def atom(request: web.Request) -> web.Response:
        entries = "".join(
            f"<entry><id>tag:status.hetzner.com,2026:{i.id}</id><title>{escape(i.title)}</title>"
            f"<updated>{_dt(i.resolved or i.started).isoformat()}</updated>"
            f"<published>{_dt(i.started).isoformat()}</published>"
            f'<category term="{escape(",".join(i.locations))}"/>'
            f'<content type="html">{escape(("Resolved. " if i.resolved else "") + i.title)}</content></entry>'
            for i in reversed(state.incidents)
        )
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<feed xmlns="http://www.w3.org/2005/Atom"><id>tag:status.hetzner.com,2026:feed</id>'
            f"<title>Hetzner Status</title><updated>{_dt(state.now()).isoformat()}</updated>{entries}</feed>"
        )
        return web.Response(text=xml, content_type="application/atom+xml")

    async def rss(request: web.Request) -> web.Response:
        items = "".join(
            f"<item><guid>{i.id}</guid><title>{escape(('[Resolved] ' if i.resolved else '') + i.title)}</title>"
            f"<pubDate>{format_datetime(_dt(i.started))}</pubDate>"
            f"<category>{escape(','.join(i.locations))}</category>"
            f"<description>{escape(i.status)}</description></item>"
            for i in reversed(state.incidents)
        )
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>Contabo Status</title><link>{request.url.origin()}/status</link>"
            f"<description>Contabo status</description>{items}</channel></rss>"
        )
        return web.Response(text=xml, content_type="application/rss+xml")

    async def vultr_status(request: web.Request) -> web.Response:
        def alert(i: Incident) -> dict[str, Any]:
            return {
                "id": i.id,
                "subject": i.title,
                "start_date": state.iso(i.started),
                "status": "ongoing",
                "updated_at": state.iso(),
                "entries": [{"updated_at": state.iso(), "message": i.status}],
            }

        regions: dict[str, Any] = {}
        service_alerts = []
        for i in active():
            if i.locations:
                for loc in i.locations:
                    regions.setdefault(loc, {"alerts": []})["alerts"].append(alert(i))
            else:
                service_alerts.append(alert(i))
        return json_response({"service_alerts": service_alerts, "regions": regions})

    if vendor.name in ("digitalocean", "hostinger"):
        return [
            web.get("/status/api/v2/summary.json", statuspage_summary),
            web.get("/status/api/v2/status.json", statuspage_summary),
        ]
    if vendor.name == "hetzner":
        return [web.get("/status/en.atom", atom)]
    if vendor.name == "vultr":
        return [web.get("/status/status.json", vultr_status)]
    return [web.get("/status/rss.xml", rss)]
