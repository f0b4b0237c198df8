"""Vultr API v2 emulator (instances, snapshots, regions, plans; shared/specs/vultr.json).

Three status fields as the real API: ``status`` (pending → active), ``power_status`` and
``server_status`` (none → installingbooting → ok).  Cursor pagination (``meta.links.next``).
Rate limit ~30 requests/s per token, no headers (as documented), 429 beyond.  The catalogue listings
(``/regions``, ``/plans``, ``/os``) need no API key, as in the vendor spec.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from engine.providers.emulators._catalog import VULTR_LOCATIONS, VULTR_OS, VULTR_OS_FAMILY, VULTR_PLANS, EmuPlan
from engine.providers.emulators._core import (
    EmuError,
    EmuServer,
    Vendor,
    int_param,
    ipv4_for,
    ipv6_for,
    json_response,
    read_json,
)

_LOC = {loc.id: loc for loc in VULTR_LOCATIONS}
_PLANS = {p.id: p for p in VULTR_PLANS}


def _cursor(offset: int) -> str:
    return base64.b64encode(f"next__{offset}".encode()).decode()


def _offset(cursor: str) -> int:
    try:
        return int(base64.b64decode(cursor).decode().split("__", 1)[1])
    except (ValueError, IndexError, binascii.Error, UnicodeDecodeError):
        raise EmuError(400, "invalid_input", "Invalid cursor.") from None


class Vultr(Vendor):
    name = "vultr"
    prefix = "/v2"
    rate_windows = ((30.0, 1.0),)
    rate_headers = ""

    def error(self, status: int, code: str, message: str) -> web.Response:
        if status == 401:
            message = "Invalid API token."
        elif status == 429:
            message = "Rate limit reached - please try your request again later."
        return json_response({"error": message, "status": status}, status)

    def is_create(self, request: web.Request) -> bool:
        return request.method == "POST" and request.path == "/v2/instances"

    def public_path(self, path: str) -> bool:
        """The catalogue listings need no API key (``security: []`` in the vendor spec)."""
        return path in ("/v2/os", "/v2/regions", "/v2/plans") or super().public_path(path)

    def routes(self) -> list[web.RouteDef]:
        p = self.prefix
        return [
            web.post(p + "/instances", self.create),
            web.get(p + "/instances", self.list),
            web.get(p + "/instances/{id}", self.get),
            web.patch(p + "/instances/{id}", self.update),
            web.delete(p + "/instances/{id}", self.delete),
            web.post(p + "/instances/{id}/{verb:reboot|halt|start}", self.power),
            web.post(p + "/snapshots", self.snapshot),
            web.get(p + "/regions", self.regions),
            web.get(p + "/plans", self.plans),
            web.get(p + "/os", self.os),
        ]

    def plan_json(self, p: EmuPlan) -> dict[str, Any]:
        return {
            "id": p.id,
            "vcpu_count": p.vcpu,
            "ram": int(p.ram_gb * 1024),
            "disk": p.disk_gb,
            "disk_count": 1,
            "bandwidth": 1024 * p.vcpu,
            "monthly_cost": int(p.monthly) if p.monthly == int(p.monthly) else p.monthly,
            "hourly_cost": p.hourly,
            "type": "vc2",
            "locations": list(p.locations),
        }

    def instance_json(self, s: EmuServer) -> dict[str, Any]:
        stage = s.stage(self.state.now())
        plan = _PLANS[s.plan]
        status, server_status = {
            "provisioning": ("pending", "none"),
            "booting": ("active", "installingbooting"),
        }.get(stage, ("active", "ok"))
        if stage == "resizing":
            status, server_status = "resizing", "locked"
        elif stage in ("rebooting", "starting", "stopping"):
            server_status = "locked"
        ready_ip = stage != "provisioning"
        return {
            "id": s.id,
            "os": VULTR_OS.get(int(s.image), "Custom") if s.image.isdigit() else s.image,
            "ram": int(plan.ram_gb * 1024),
            "disk": plan.disk_gb,
            "main_ip": ipv4_for(s.seq) if ready_ip else "0.0.0.0",
            "vcpu_count": plan.vcpu,
            "region": s.location,
            "default_password": "" if s.extra.get("password_hidden") else "v7!Emulated",
            "date_created": self.state.iso(s.created),
            "status": status,
            "power_status": "running" if s.power == "on" else "stopped",
            "server_status": server_status,
            "allowed_bandwidth": 1024 * plan.vcpu,
            "netmask_v4": "255.255.254.0",
            "gateway_v4": "100.64.0.1" if ready_ip else "0.0.0.0",
            "v6_networks": [{"network": "2001:db8::", "main_ip": ipv6_for(s.seq), "network_size": 64}],
            "hostname": s.extra.get("hostname", s.name),
            "label": s.name,
            "tag": s.tags[0] if s.tags else "",
            "internal_ip": "",
            "kvm": f"https://my.vultr.com/subs/vps/novnc/api.php?data={s.id}",
            "os_id": int(s.image) if s.image.isdigit() else 0,
            "app_id": 0,
            "image_id": "",
            "firewall_group_id": "",
            "features": ["ipv6"],
            "plan": s.plan,
            "tags": list(s.tags),
            "user_scheme": "root",
        }

    def plant(
        self,
        *,
        name: str,
        location: str = "ewr",
        plan: str = "vc2-2c-4gb",
        tags: list[str] | None = None,
        image: str = "2284",
        ready: bool = True,
    ) -> EmuServer:
        seq = self.state.next_seq()
        s = EmuServer(
            id=str(uuid.uuid4()),
            name=name,
            plan=plan,
            location=location,
            image=image,
            created=self.state.now() - (3600 if ready else 0),
            provision_s=40.0,
            boot_s=20.0,
            tags=list(tags or []),
            seq=seq,
        )
        return self.state.add_server(s)

    def _instance(self, request: web.Request) -> EmuServer:
        s = self.state.get_server(request.match_info["id"])
        if s is None:
            raise EmuError(404, "not_found", "Invalid instance-id.")
        return s

    async def create(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        region, plan = body.get("region"), body.get("plan")
        if not region or not plan:
            raise EmuError(400, "invalid_input", "Missing required fields: region and plan.")
        if region not in _LOC:
            raise EmuError(400, "invalid_input", "Invalid region.")
        if plan not in _PLANS:
            raise EmuError(400, "invalid_input", "Invalid plan.")
        sources = [k for k in ("os_id", "iso_id", "snapshot_id", "app_id", "image_id") if body.get(k)]
        if len(sources) != 1:
            raise EmuError(400, "invalid_input", "Exactly one of os_id, iso_id, snapshot_id, app_id or image_id.")
        if "os_id" in sources and int(body["os_id"]) not in VULTR_OS:
            raise EmuError(400, "invalid_input", "Invalid os_id.")
        if region in self.state.faults.outage_locations:
            raise EmuError(503, "unavailable", f"Region {region} is temporarily unavailable.")
        user_data = body.get("user_data")
        if user_data is not None:
            try:
                base64.b64decode(user_data, validate=True)
            except (binascii.Error, ValueError):
                raise EmuError(400, "invalid_input", "Invalid user_data: it must be base64 encoded.") from None
        s = self.plant(
            name=str(body.get("label") or ""),
            location=region,
            plan=plan,
            tags=body.get("tags") or [],
            image=str(body.get("os_id") or body.get("image_id") or ""),
            ready=False,
        )
        s.user_data = user_data
        if body.get("hostname"):
            s.extra["hostname"] = body["hostname"]
        return json_response({"instance": self.instance_json(s)}, 202)

    async def list(self, request: web.Request) -> web.Response:
        per_page = int_param(request, "per_page", 100, 500)
        items = sorted(self.state.live_servers(), key=lambda s: (s.created, s.seq))
        q = request.query
        if "tag" in q:
            items = [s for s in items if q["tag"] in s.tags]
        if "label" in q:
            items = [s for s in items if s.name == q["label"]]
        if "region" in q:
            items = [s for s in items if s.location == q["region"]]
        start = _offset(q["cursor"]) if q.get("cursor") else 0
        chunk = items[start : start + per_page]
        nxt = _cursor(start + per_page) if start + per_page < len(items) else ""
        prev = _cursor(max(0, start - per_page)) if start > 0 else ""
        return json_response(
            {
                "instances": [self.instance_json(s) for s in chunk],
                "meta": {"total": len(items), "links": {"next": nxt, "prev": prev}},
            }
        )

    async def get(self, request: web.Request) -> web.Response:
        return json_response({"instance": self.instance_json(self._instance(request))})

    async def update(self, request: web.Request) -> web.Response:
        s = self._instance(request)
        body = await read_json(request)
        plan = body.get("plan")
        if plan is not None:
            if plan not in _PLANS:
                raise EmuError(400, "invalid_input", "Invalid plan.")
            cur, new = _PLANS[s.plan], _PLANS[plan]
            if (new.vcpu, new.ram_gb, new.disk_gb) < (cur.vcpu, cur.ram_gb, cur.disk_gb) or new.disk_gb < cur.disk_gb:
                raise EmuError(400, "invalid_input", "Plan downgrades are not supported; choose a larger plan.")
            s.plan = plan
            s.transition = ("resizing", self.state.now() + 60.0)
        if "label" in body:
            s.name = str(body["label"])
        if "tags" in body:
            s.tags = list(body["tags"])
        return json_response({"instance": self.instance_json(s)}, 202)

    async def delete(self, request: web.Request) -> web.Response:
        s = self._instance(request)
        del self.state.servers[s.id]
        return web.Response(status=204)

    async def power(self, request: web.Request) -> web.Response:
        s = self._instance(request)
        verb = request.match_info["verb"]
        now = self.state.now()
        if s.location in self.state.faults.outage_locations:
            raise EmuError(503, "unavailable", f"Region {s.location} is temporarily unavailable.")
        if not s.ready(now):
            raise EmuError(400, "invalid_input", "Unable to perform this action while the server is busy.")
        if verb == "reboot":
            s.transition, s.power = ("rebooting", now + 15.0), "on"
        elif verb == "halt":
            s.transition, s.power = ("stopping", now + 5.0), "off"
        else:
            s.transition, s.power = ("starting", now + 10.0), "on"
        return web.Response(status=204)

    async def snapshot(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        s = self.state.get_server(str(body.get("instance_id", "")))
        if s is None:
            raise EmuError(400, "invalid_input", "Invalid instance_id.")
        snap_id = str(uuid.uuid4())
        self.state.snapshots[snap_id] = {"server": s.id, "created": self.state.now()}
        return json_response(
            {
                "snapshot": {
                    "id": snap_id,
                    "date_created": self.state.iso(),
                    "description": str(body.get("description", "")),
                    "size": 0,
                    "status": "pending",
                    "os_id": int(s.image) if s.image.isdigit() else 0,
                    "app_id": 0,
                }
            },
            201,
        )

    async def regions(self, request: web.Request) -> web.Response:
        regions = [
            {
                "id": loc.id,
                "city": loc.city,
                "country": loc.country,
                "continent": loc.continent,
                "options": ["ddos_protection"],
            }
            for loc in VULTR_LOCATIONS
        ]
        return self._listing(request, "regions", regions)

    async def plans(self, request: web.Request) -> web.Response:
        plans = [self.plan_json(p) for p in VULTR_PLANS]
        if request.query.get("type") not in (None, "all", "vc2"):
            plans = []
        return self._listing(request, "plans", plans)

    def _listing(self, request: web.Request, key: str, items: Sequence[dict[str, Any]]) -> web.Response:
        """A cursor-paginated catalogue listing (``per_page``, ``cursor``; ``meta.links.next`` empty on the last)."""
        per_page = int_param(request, "per_page", 100, 500)
        start = _offset(request.query["cursor"]) if request.query.get("cursor") else 0
        nxt = _cursor(start + per_page) if start + per_page < len(items) else ""
        prev = _cursor(max(0, start - per_page)) if start > 0 else ""
        return json_response(
            {
                key: list(items[start : start + per_page]),
                "meta": {"total": len(items), "links": {"next": nxt, "prev": prev}},
            }
        )

    async def os(self, request: web.Request) -> web.Response:
        items = [
            {"id": os_id, "name": name, "arch": VULTR_OS_FAMILY[os_id][0], "family": VULTR_OS_FAMILY[os_id][1]}
            for os_id, name in VULTR_OS.items()
        ]
        return self._listing(request, "os", items)
