"""DigitalOcean API v2 emulator (droplets, actions, sizes, regions; shared/specs/digitalocean.yaml).

Lifecycle: ``new`` (45 s) → ``active``; actions go ``in-progress`` → ``completed`` and lock the
droplet meanwhile.  Rate limit: 250/min and 5,000/h per token; ``ratelimit-*`` headers describe
the hourly window and a 429 carries ``retry-after``.  ``/images`` lists distribution images and snapshots.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from engine.providers.emulators._catalog import DO_IMAGES, DO_LOCATIONS, DO_PLANS, EmuPlan
from engine.providers.emulators._core import (
    EmuAction,
    EmuError,
    EmuServer,
    Vendor,
    int_param,
    ipv4_for,
    json_response,
    read_json,
)

_LOC = {loc.id: loc for loc in DO_LOCATIONS}
_PLANS = {p.id: p for p in DO_PLANS}
_ERROR_ID = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    422: "unprocessable_entity",
    429: "too_many_requests",
}
_ACTION_STATUS = {"running": "in-progress", "success": "completed", "error": "errored"}


class DigitalOcean(Vendor):
    name = "digitalocean"
    prefix = "/v2"
    rate_windows = ((250.0, 60.0), (5000.0, 3600.0))
    rate_headers = "digitalocean"

    def error(self, status: int, code: str, message: str) -> web.Response:
        ident = _ERROR_ID.get(status, "server_error" if status >= 500 else code)
        if status == 429:
            message = "API Rate limit exceeded."
        return json_response({"id": ident, "message": message, "request_id": str(uuid.uuid4())}, status)

    def is_create(self, request: web.Request) -> bool:
        return request.method == "POST" and request.path == "/v2/droplets"

    def routes(self) -> list[web.RouteDef]:
        p = self.prefix
        return [
            web.post(p + "/droplets", self.create),
            web.get(p + "/droplets", self.list),
            web.get(p + "/droplets/{id}", self.get),
            web.delete(p + "/droplets/{id}", self.delete),
            web.post(p + "/droplets/{id}/actions", self.action),
            web.get(p + "/actions/{id}", self.get_action),
            web.get(p + "/sizes", self.sizes),
            web.get(p + "/regions", self.regions),
            web.get(p + "/images", self.images),
        ]

    # --- rendering ---------------------------------------------------------------------------

    def region_json(self, slug: str) -> dict[str, Any]:
        loc = _LOC[slug]
        return {
            "name": loc.city + (" 3" if slug.endswith("3") else " 1"),
            "slug": slug,
            "features": ["backups", "ipv6", "metadata", "install_agent", "storage", "image_transfer"],
            "available": slug not in self.state.faults.outage_locations,
            "sizes": [p.id for p in DO_PLANS],
        }

    def size_json(self, plan: EmuPlan) -> dict[str, Any]:
        return {
            "slug": plan.id,
            "memory": int(plan.ram_gb * 1024),
            "vcpus": plan.vcpu,
            "disk": plan.disk_gb,
            "transfer": float(max(1, plan.vcpu)),
            "price_monthly": float(plan.monthly),
            "price_hourly": float(plan.hourly),
            "regions": list(plan.locations),
            "available": True,
            "description": "Basic",
        }

    def action_json(self, a: EmuAction) -> dict[str, Any]:
        now = self.state.now()
        status = _ACTION_STATUS[a.status(now)]
        s = self.state.servers.get(a.resource_id)
        slug = s.location if s else "nyc3"
        return {
            "id": a.id,
            "status": status,
            "type": a.command,
            "started_at": self.state.iso(a.started),
            "completed_at": self.state.iso(a.finished_at()) if status != "in-progress" else None,
            "resource_id": a.resource_id,
            "resource_type": "droplet",
            "region": self.region_json(slug),
            "region_slug": slug,
        }

    def distribution_image_json(self, slug: str) -> dict[str, Any]:
        known = {img[1]: img for img in DO_IMAGES}
        image_id, _, name, distribution, created = known.get(
            slug, (152722766, slug, slug, "Unknown", "2024-04-25T15:45:27Z")
        )
        return {
            "id": image_id,
            "name": name,
            "type": "base",
            "distribution": distribution,
            "slug": slug,
            "public": True,
            "regions": list(_LOC),
            "created_at": created,
            "min_disk_size": 7,
            "size_gigabytes": 2.36,
            "description": f"{distribution} {name}",
            "tags": [],
            "status": "available",
            "error_message": "",
        }

    def snapshot_image_json(self, snap_id: int) -> dict[str, Any]:
        snap = self.state.snapshots[snap_id]
        s = self.state.servers.get(snap["server"])
        return {
            "id": snap_id,
            "name": snap["name"],
            "type": "snapshot",
            "distribution": "Ubuntu",
            "slug": None,
            "public": False,
            "regions": [snap["region"]],
            "created_at": self.state.iso(snap["created"]),
            "min_disk_size": snap["disk"],
            "size_gigabytes": round(snap["disk"] * 0.3, 2),
            "description": f"snapshot of {s.name if s else snap['server']}",
            "tags": [],
            "status": "available",
            "error_message": "",
        }

    def droplet_json(self, s: EmuServer) -> dict[str, Any]:
        now = self.state.now()
        stage = s.stage(now)
        plan = _PLANS[s.plan]
        status = {"provisioning": "new", "booting": "new", "running": "active", "off": "off"}.get(
            stage, "off" if s.power == "off" else "active"
        )
        locked = stage not in ("running", "off", "provisioning", "booting")
        return {
            "id": s.id,
            "name": s.name,
            "memory": int(plan.ram_gb * 1024),
            "vcpus": plan.vcpu,
            "disk": plan.disk_gb,
            "locked": locked,
            "status": status,
            "kernel": None,
            "created_at": self.state.iso(s.created),
            "features": ["droplet_agent", "private_networking"],
            "backup_ids": [],
            "next_backup_window": None,
            "snapshot_ids": s.extra.get("snapshots", []),
            "image": self.distribution_image_json(s.image),
            "volume_ids": [],
            "size": self.size_json(plan),
            "size_slug": s.plan,
            "networks": {
                "v4": (
                    [
                        {
                            "ip_address": ipv4_for(s.seq),
                            "netmask": "255.255.240.0",
                            "gateway": "100.64.0.1",
                            "type": "public",
                        }
                    ]
                    if stage != "provisioning"
                    else []
                ),
                "v6": [],
            },
            "region": self.region_json(s.location),
            "tags": list(s.tags),
            "vpc_uuid": "5a4981aa-9653-4bd1-bef5-d6bff52042e4",
        }

    def plant(
        self,
        *,
        name: str,
        location: str = "nyc3",
        plan: str = "s-2vcpu-4gb",
        tags: list[str] | None = None,
        image: str = "ubuntu-24-04-x64",
        ready: bool = True,
    ) -> EmuServer:
        seq = self.state.next_seq()
        s = EmuServer(
            id=300_000_000 + seq,
            name=name,
            plan=plan,
            location=location,
            image=image,
            created=self.state.now() - (3600 if ready else 0),
            provision_s=35.0,
            boot_s=10.0,
            tags=list(tags or []),
            seq=seq,
        )
        return self.state.add_server(s)

    def _droplet(self, request: web.Request) -> EmuServer:
        try:
            sid = int(request.match_info["id"])
        except ValueError:
            raise EmuError(404, "not_found", "The resource you were accessing could not be found.") from None
        s = self.state.get_server(sid)
        if s is None:
            raise EmuError(404, "not_found", "The resource you were accessing could not be found.")
        return s

    def _paginate(self, request: web.Request, items: list[Any], key: str) -> dict[str, Any]:
        page = int_param(request, "page", 1)
        per_page = int_param(request, "per_page", 20, 200)
        total = len(items)
        last = max(1, -(-total // per_page))
        base = request.url.with_query({k: v for k, v in request.query.items() if k not in ("page", "per_page")})

        def link(n: int) -> str:
            return str(base.update_query({"page": n, "per_page": per_page}))

        pages: dict[str, str] = {}
        if page > 1:
            pages.update(first=link(1), prev=link(page - 1))
        if page < last:
            pages.update(next=link(page + 1), last=link(last))
        return {
            key: items[(page - 1) * per_page : page * per_page],
            "links": {"pages": pages},
            "meta": {"total": total},
        }

    # --- handlers ----------------------------------------------------------------------------

    async def create(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        name, size, image = body.get("name"), body.get("size"), body.get("image")
        if not name or not size or not image:
            raise EmuError(422, "unprocessable_entity", "You must specify name, size and image.")
        region = body.get("region") or "nyc3"
        if size not in _PLANS:
            raise EmuError(422, "unprocessable_entity", "You specified an invalid size for Droplet creation.")
        if region not in _LOC:
            raise EmuError(422, "unprocessable_entity", "You specified an invalid region for Droplet creation.")
        if region in self.state.faults.outage_locations:
            raise EmuError(503, "server_error", f"Region {region} is currently unavailable.")
        user_data = body.get("user_data")
        if user_data is not None and len(str(user_data).encode()) > 64 * 1024:
            raise EmuError(422, "unprocessable_entity", "user_data must be 64 KiB or less.")
        s = self.plant(
            name=str(name), location=region, plan=str(size), tags=body.get("tags") or [], image=str(image), ready=False
        )
        s.user_data = user_data
        a = self.state.new_action("create", s.id, s.provision_s + s.boot_s)
        href = f"{request.url.origin()}/v2/actions/{a.id}"
        return json_response(
            {"droplet": self.droplet_json(s), "links": {"actions": [{"id": a.id, "rel": "create", "href": href}]}}, 202
        )

    async def list(self, request: web.Request) -> web.Response:
        droplets = sorted(self.state.live_servers(), key=lambda s: s.id)
        if "tag_name" in request.query:
            droplets = [s for s in droplets if request.query["tag_name"] in s.tags]
        if "name" in request.query:
            droplets = [s for s in droplets if s.name == request.query["name"]]
        body = self._paginate(request, droplets, "droplets")
        body["droplets"] = [self.droplet_json(s) for s in body["droplets"]]
        return json_response(body)

    async def get(self, request: web.Request) -> web.Response:
        return json_response({"droplet": self.droplet_json(self._droplet(request))})

    async def delete(self, request: web.Request) -> web.Response:
        s = self._droplet(request)
        s.deleting_until = self.state.now()
        self.state.get_server(s.id)
        return web.Response(status=204, content_type="application/json")  # DO sets it on this 204

    async def action(self, request: web.Request) -> web.Response:
        s = self._droplet(request)
        body = await read_json(request)
        kind = body.get("type")
        now = self.state.now()
        if s.location in self.state.faults.outage_locations:
            raise EmuError(503, "server_error", f"Region {s.location} is currently unavailable.")
        stage = s.stage(now)
        if stage not in ("running", "off"):
            raise EmuError(422, "unprocessable_entity", "Droplet already has a pending event.")
        if kind in ("reboot", "power_cycle"):
            s.transition, s.power, duration = ("rebooting", now + 15.0), "on", 15.0
        elif kind in ("shutdown", "power_off"):
            s.transition, s.power, duration = ("stopping", now + 5.0), "off", 5.0
        elif kind == "power_on":
            s.transition, s.power, duration = ("starting", now + 10.0), "on", 10.0
        elif kind == "resize":
            size = body.get("size")
            if size not in _PLANS:
                raise EmuError(422, "unprocessable_entity", "You specified an invalid size.")
            if s.power != "off":
                raise EmuError(422, "unprocessable_entity", "Droplet must be powered off before resizing.")
            s.plan, s.transition, duration = size, ("resizing", now + 60.0), 60.0
        elif kind == "snapshot":
            snap = 900_000_000 + self.state.next_seq()
            s.extra.setdefault("snapshots", []).append(snap)
            self.state.snapshots[snap] = {
                "server": s.id,
                "name": str(body.get("name") or f"{s.name}-snapshot"),
                "created": now,
                "region": s.location,
                "disk": _PLANS[s.plan].disk_gb,
            }
            s.transition, duration = ("snapshotting", now + 30.0), 30.0
        else:
            raise EmuError(422, "unprocessable_entity", f"Action type '{kind}' is not supported.")
        a = self.state.new_action(str(kind), s.id, duration)
        return json_response({"action": self.action_json(a)}, 201)

    async def get_action(self, request: web.Request) -> web.Response:
        try:
            a = self.state.actions[int(request.match_info["id"])]
        except (KeyError, ValueError):
            raise EmuError(404, "not_found", "The resource you were accessing could not be found.") from None
        return json_response({"action": self.action_json(a)})

    async def sizes(self, request: web.Request) -> web.Response:
        body = self._paginate(request, [self.size_json(p) for p in DO_PLANS], "sizes")
        return json_response(body)

    async def regions(self, request: web.Request) -> web.Response:
        body = self._paginate(request, [self.region_json(loc.id) for loc in DO_LOCATIONS], "regions")
        return json_response(body)

    async def images(self, request: web.Request) -> web.Response:
        """Public distribution images and this account's snapshots (``type``, ``private``, ``tag_name``)."""
        q = request.query
        public = [self.distribution_image_json(img[1]) for img in DO_IMAGES]
        private = [self.snapshot_image_json(snap) for snap in sorted(self.state.snapshots)]
        kind = q.get("type")
        if kind == "distribution":
            items = public
        elif kind == "application":
            items = []
        elif q.get("private") == "true":
            items = private
        else:
            items = public + private
        if "tag_name" in q:
            items = [img for img in items if q["tag_name"] in img["tags"]]
        return json_response(self._paginate(request, items, "images"))
