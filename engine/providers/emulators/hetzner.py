"""Hetzner Cloud API v1 emulator (paths, fields and errors per shared/specs/hetzner.json).

Lifecycle: ``initializing`` (20 s) → ``starting`` (10 s) → ``running``; every mutation
returns an action object (``running`` → ``success``) to poll at ``/actions/{id}``.
Rate limit: 3,600 requests per token, refilled 1/s, with ``RateLimit-*`` headers (on every answer, a 401 too).
``/images`` lists the public OS images and the project's snapshots.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.providers.emulators._catalog import (
    HETZNER_IMAGES,
    HETZNER_LOCATIONS,
    HETZNER_PLANS,
    EmuLocation,
    EmuPlan,
)
from engine.providers.emulators._core import (
    EmuAction,
    EmuError,
    EmuServer,
    Vendor,
    int_param,
    ipv4_for,
    ipv6_for,
    json_response,
    read_json,
)

_STAGE_STATUS = {
    "provisioning": "initializing",
    "booting": "starting",
    "running": "running",
    "off": "off",
    "deleting": "deleting",
    "starting": "starting",
    "stopping": "stopping",
    "migrating": "migrating",
    "rebuilding": "rebuilding",
}
_LOC = {loc.id: loc for loc in HETZNER_LOCATIONS}
_PLANS = {p.id: p for p in HETZNER_PLANS}


def _match_labels(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k.strip().rstrip("=")) != v.strip().lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


class Hetzner(Vendor):
    name = "hetzner"
    prefix = "/v1"
    rate_windows = ((3600.0, 3600.0),)
    rate_headers = "hetzner"

    def error(self, status: int, code: str, message: str) -> web.Response:
        code = {404: "not_found", 401: "unauthorized", 429: "rate_limit_exceeded"}.get(status, code)
        if status >= 500 and code == "service_error":
            code = "unavailable" if status == 503 else "service_error"
        return json_response({"error": {"code": code, "message": message, "details": None}}, status)

    def is_create(self, request: web.Request) -> bool:
        return request.method == "POST" and request.path == "/v1/servers"

    def routes(self) -> list[web.RouteDef]:
        p = self.prefix
        return [
            web.post(p + "/servers", self.create_server),
            web.get(p + "/servers", self.list_servers),
            web.get(p + "/servers/{id}", self.get_server),
            web.delete(p + "/servers/{id}", self.delete_server),
            web.post(p + "/servers/{id}/actions/{action}", self.server_action),
            web.get(p + "/actions/{id}", self.get_action),
            web.get(p + "/locations", self.list_locations),
            web.get(p + "/server_types", self.list_server_types),
            web.get(p + "/images", self.list_images),
        ]

    # --- rendering ---------------------------------------------------------------------------

    def location_json(self, loc: EmuLocation) -> dict[str, Any]:
        return {
            "id": loc.numeric_id,
            "name": loc.id,
            "description": f"{loc.city} DC Park 1",
            "country": loc.country,
            "city": loc.city,
            "latitude": loc.lat,
            "longitude": loc.lon,
            "network_zone": loc.zone,
        }

    def server_type_json(self, plan: EmuPlan) -> dict[str, Any]:
        net_h, net_m = plan.hourly, plan.monthly
        return {
            "id": plan.numeric_id,
            "name": plan.id,
            "description": plan.id.upper(),
            "cores": plan.vcpu,
            "memory": plan.ram_gb,
            "disk": plan.disk_gb,
            "deprecated": False,
            "prices": [
                {
                    "location": loc,
                    "price_hourly": {"net": f"{net_h:.4f}", "gross": f"{net_h * 1.19:.4f}"},
                    "price_monthly": {"net": f"{net_m:.4f}", "gross": f"{net_m * 1.19:.4f}"},
                    "included_traffic": 21990232555520,
                    "price_per_tb_traffic": {"net": "1.0000", "gross": "1.1900"},
                }
                for loc in plan.locations
            ],
            "storage_type": "local",
            "cpu_type": "shared",
            "category": "shared_vcpu",
            "architecture": "x86",
            "deprecation": None,
            "locations": [
                {
                    "id": _LOC[loc].numeric_id,
                    "name": loc,
                    "deprecation": None,
                    "recommended": True,
                    "available": loc not in self.state.faults.outage_locations,
                }
                for loc in plan.locations
            ],
        }

    def action_json(self, action: EmuAction) -> dict[str, Any]:
        now = self.state.now()
        status = action.status(now)
        return {
            "id": action.id,
            "command": action.command,
            "status": status,
            "started": self.state.iso(action.started),
            "finished": self.state.iso(action.finished_at()) if status != "running" else None,
            "progress": action.progress(now),
            "resources": [{"id": action.resource_id, "type": action.resource_type}],
            "error": (
                {"code": action.error[0], "message": action.error[1]} if action.error and status == "error" else None
            ),
        }

    def server_json(self, s: EmuServer) -> dict[str, Any]:
        loc = _LOC[s.location]
        plan = _PLANS[s.plan]
        status = _STAGE_STATUS.get(s.stage(self.state.now()), "unknown")
        return {
            "id": s.id,
            "name": s.name,
            "status": status,
            "created": self.state.iso(s.created),
            "public_net": {
                "ipv4": {"id": s.id + 1, "ip": ipv4_for(s.seq), "blocked": False, "dns_ptr": f"static.{s.seq}.example"},
                "ipv6": {"id": s.id + 2, "ip": ipv6_for(s.seq) + "/64", "blocked": False, "dns_ptr": []},
                "floating_ips": [],
                "firewalls": [],
            },
            "private_net": [],
            "server_type": self.server_type_json(plan),
            "datacenter": {
                "id": loc.numeric_id,
                "name": f"{loc.id}-dc3",
                "description": f"{loc.city} 1 virtual DC 3",
                "location": self.location_json(loc),
                "server_types": {
                    "supported": [p.numeric_id for p in HETZNER_PLANS],
                    "available": [p.numeric_id for p in HETZNER_PLANS],
                    "available_for_migration": [p.numeric_id for p in HETZNER_PLANS],
                },
            },
            "location": self.location_json(loc),
            "image": self.system_image_json(s.image),
            "iso": None,
            "rescue_enabled": False,
            "locked": False,
            "backup_window": None,
            "outgoing_traffic": 0,
            "ingoing_traffic": 0,
            "included_traffic": 21990232555520,
            "protection": {"delete": False, "rebuild": False},
            "labels": s.labels,
            "volumes": [],
            "load_balancers": [],
            "primary_disk_size": plan.disk_gb,
            "placement_group": None,
        }

    def system_image_json(self, name: str) -> dict[str, Any]:
        """A public OS image (an unknown name renders as a system image of that name, as the API would)."""
        known = {img[1]: img for img in HETZNER_IMAGES}
        image_id, _, description, flavor, version, created = known.get(
            name, (161547269, name, name.replace("-", " ").title(), "unknown", None, "2024-04-25T13:08:29+00:00")
        )
        return {
            "id": image_id,
            "type": "system",
            "status": "available",
            "name": name,
            "description": description,
            "image_size": None,
            "disk_size": 5,
            "created": created,
            "created_from": None,
            "bound_to": None,
            "os_flavor": flavor,
            "os_version": version,
            "rapid_deploy": True,
            "protection": {"delete": False},
            "deprecated": None,
            "deleted": None,
            "labels": {},
            "architecture": "x86",
        }

    def snapshot_image_json(self, image_id: int) -> dict[str, Any]:
        snap = self.state.snapshots[image_id]
        action = self.state.actions[snap["action"]]
        done = action.status(self.state.now()) != "running"
        return dict(
            snap["image"],
            status="available" if done else "creating",
            image_size=round(snap["image"]["disk_size"] * 0.3, 2) if done else None,
        )

    def plant(
        self,
        *,
        name: str,
        location: str = "nbg1",
        plan: str = "cx23",
        labels: dict[str, str] | None = None,
        image: str = "ubuntu-24.04",
        ready: bool = True,
    ) -> EmuServer:
        seq = self.state.next_seq()
        s = EmuServer(
            id=40_000_000 + seq * 7,
            name=name,
            plan=plan,
            location=location,
            image=image,
            created=self.state.now() - (3600 if ready else 0),
            provision_s=20.0,
            boot_s=10.0,
            labels=dict(labels or {}),
            seq=seq,
        )
        return self.state.add_server(s)

    def _server(self, request: web.Request) -> EmuServer:
        try:
            sid = int(request.match_info["id"])
        except ValueError:
            raise EmuError(400, "invalid_input", "invalid server id") from None
        s = self.state.get_server(sid)
        if s is None:
            raise EmuError(404, "not_found", f"server with ID '{sid}' not found")
        return s

    # --- handlers ----------------------------------------------------------------------------

    async def create_server(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        name, stype, image = body.get("name"), body.get("server_type"), body.get("image")
        missing = [k for k, v in (("name", name), ("server_type", stype), ("image", image)) if not v]
        if missing:
            raise EmuError(422, "invalid_input", f"invalid input in field '{missing[0]}'")
        location = body.get("location") or "fsn1"
        if stype not in _PLANS:
            raise EmuError(422, "invalid_input", f"server type {stype} not found")
        if location not in _LOC:
            raise EmuError(422, "invalid_input", f"location {location} not found")
        if location in self.state.faults.outage_locations:
            raise EmuError(503, "unavailable", f"location {location} is currently unavailable")
        user_data = body.get("user_data")
        if user_data is not None and len(user_data.encode()) > 32 * 1024:
            raise EmuError(422, "invalid_input", "user_data must not exceed 32 KiB")
        if any(s.name == name for s in self.state.live_servers()):
            raise EmuError(409, "uniqueness_error", "server name is already used")
        labels = body.get("labels") or {}
        s = self.plant(name=str(name), location=location, plan=str(stype), labels=labels, image=str(image), ready=False)
        s.user_data = user_data
        if body.get("start_after_create") is False:
            s.power = "off"
        action = self.state.new_action("create_server", s.id, s.provision_s + s.boot_s)
        return json_response(
            {
                "server": self.server_json(s),
                "action": self.action_json(action),
                "next_actions": [],
                "root_password": None if body.get("ssh_keys") else "YItygq1v3GYjjMomLaKc",
            },
            201,
        )

    async def list_servers(self, request: web.Request) -> web.Response:
        page = int_param(request, "page", 1)
        per_page = int_param(request, "per_page", 25, 50)
        servers = list(self.state.live_servers())
        if "name" in request.query:
            servers = [s for s in servers if s.name == request.query["name"]]
        if "label_selector" in request.query:
            servers = [s for s in servers if _match_labels(s.labels, request.query["label_selector"])]
        statuses = request.query.getall("status", [])
        if statuses:
            servers = [s for s in servers if _STAGE_STATUS.get(s.stage(self.state.now())) in statuses]
        servers.sort(key=lambda s: s.id)
        total = len(servers)
        last = max(1, -(-total // per_page))
        chunk = servers[(page - 1) * per_page : page * per_page]
        return json_response(
            {
                "servers": [self.server_json(s) for s in chunk],
                "meta": {
                    "pagination": {
                        "page": page,
                        "per_page": per_page,
                        "previous_page": page - 1 if page > 1 else None,
                        "next_page": page + 1 if page < last else None,
                        "last_page": last,
                        "total_entries": total,
                    }
                },
            }
        )

    async def get_server(self, request: web.Request) -> web.Response:
        return json_response({"server": self.server_json(self._server(request))})

    async def delete_server(self, request: web.Request) -> web.Response:
        s = self._server(request)
        now = self.state.now()
        s.deleting_until = now + 5.0
        action = self.state.new_action("delete_server", s.id, 5.0)
        return json_response({"action": self.action_json(action)})

    async def server_action(self, request: web.Request) -> web.Response:
        s = self._server(request)
        kind = request.match_info["action"]
        now = self.state.now()
        body = await read_json(request) if request.can_read_body else {}
        if s.location in self.state.faults.outage_locations:
            raise EmuError(503, "unavailable", f"location {s.location} is currently unavailable")
        if not s.ready(now) and kind != "poweroff":
            raise EmuError(423, "locked", "server is locked by another action")
        if kind in ("reboot", "reset"):
            s.transition, s.power = ("starting", now + 10.0), "on"
            action = self.state.new_action(f"{kind}_server", s.id, 10.0)
        elif kind in ("shutdown", "poweroff"):
            s.transition, s.power = ("stopping", now + 5.0), "off"
            action = self.state.new_action("stop_server" if kind == "poweroff" else "shutdown_server", s.id, 5.0)
        elif kind == "poweron":
            s.transition, s.power = ("starting", now + 10.0), "on"
            action = self.state.new_action("start_server", s.id, 10.0)
        elif kind == "change_type":
            stype = body.get("server_type")
            if "upgrade_disk" not in body or not stype:
                raise EmuError(422, "invalid_input", "server_type and upgrade_disk are required")
            if stype not in _PLANS:
                raise EmuError(422, "invalid_server_type", f"server type {stype} not found")
            if s.power != "off":
                raise EmuError(422, "server_not_stopped", "server must be stopped before changing its type")
            target = _PLANS[stype]
            if target.disk_gb < _PLANS[s.plan].disk_gb and s.extra.get("disk_upgraded"):
                raise EmuError(422, "invalid_server_type", "cannot downgrade after a disk upgrade")
            s.extra["disk_upgraded"] = s.extra.get("disk_upgraded") or bool(body["upgrade_disk"])
            s.plan = stype
            s.transition = ("migrating", now + 60.0)
            action = self.state.new_action("change_server_type", s.id, 60.0)
        elif kind == "create_image":
            image_id = 50_000_000 + self.state.next_seq()
            action = self.state.new_action("create_image", s.id, 30.0)
            image = {
                "id": image_id,
                "type": body.get("type", "snapshot"),
                "status": "creating",
                "name": None,
                "description": body.get("description") or f"snapshot of {s.name}",
                "image_size": None,
                "disk_size": _PLANS[s.plan].disk_gb,
                "created": self.state.iso(now),
                "created_from": {"id": s.id, "name": s.name},
                "bound_to": None,
                "os_flavor": "ubuntu",
                "os_version": None,
                "rapid_deploy": False,
                "protection": {"delete": False},
                "deprecated": None,
                "deleted": None,
                "labels": body.get("labels") or {},
                "architecture": "x86",
            }
            self.state.snapshots[image_id] = {"server": s.id, "action": action.id, "image": image}
            return json_response({"image": self.snapshot_image_json(image_id), "action": self.action_json(action)}, 201)
        else:
            raise EmuError(404, "not_found", f"action {kind} not found")
        return json_response({"action": self.action_json(action)}, 201)

    async def get_action(self, request: web.Request) -> web.Response:
        try:
            action = self.state.actions[int(request.match_info["id"])]
        except (KeyError, ValueError):
            raise EmuError(404, "not_found", "action not found") from None
        return json_response({"action": self.action_json(action)})

    async def list_locations(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "locations": [self.location_json(loc) for loc in HETZNER_LOCATIONS],
                "meta": {
                    "pagination": {
                        "page": 1,
                        "per_page": 25,
                        "previous_page": None,
                        "next_page": None,
                        "last_page": 1,
                        "total_entries": len(HETZNER_LOCATIONS),
                    }
                },
            }
        )

    async def list_server_types(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "server_types": [self.server_type_json(p) for p in HETZNER_PLANS],
                "meta": {
                    "pagination": {
                        "page": 1,
                        "per_page": 25,
                        "previous_page": None,
                        "next_page": None,
                        "last_page": 1,
                        "total_entries": len(HETZNER_PLANS),
                    }
                },
            }
        )

    async def list_images(self, request: web.Request) -> web.Response:
        """Public OS images plus this project's snapshots; the filters and pagination the API documents."""
        page = int_param(request, "page", 1)
        per_page = int_param(request, "per_page", 25, 50)
        images = [self.system_image_json(img[1]) for img in HETZNER_IMAGES]
        images += [self.snapshot_image_json(image_id) for image_id in sorted(self.state.snapshots)]
        q = request.query
        for key in ("type", "status"):
            wanted = q.getall(key, [])
            if wanted:
                images = [img for img in images if img[key] in wanted]
        if "name" in q:
            images = [img for img in images if img["name"] == q["name"]]
        if "architecture" in q:
            images = [img for img in images if img["architecture"] == q["architecture"]]
        if "label_selector" in q:
            images = [img for img in images if _match_labels(img["labels"], q["label_selector"])]
        total = len(images)
        last = max(1, -(-total // per_page))
        return json_response(
            {
                "images": images[(page - 1) * per_page : page * per_page],
                "meta": {
                    "pagination": {
                        "page": page,
                        "per_page": per_page,
                        "previous_page": page - 1 if page > 1 else None,
                        "next_page": page + 1 if page < last else None,
                        "last_page": last,
                        "total_entries": total,
                    }
                },
            }
        )
