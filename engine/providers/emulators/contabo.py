"""Contabo API v1 emulator (compute instances, secrets, data centers; shared/specs/contabo.yaml).

Also emulates the Keycloak OAuth2 password grant at
``/auth/realms/contabo/protocol/openid-connect/token`` (tokens live 300 emulated seconds;
an expired token issued here gets 401, any other bearer token is accepted).  Every API
call must carry an ``x-request-id`` UUID.  Bodies are ``{data: [...], _links}`` (``data``
always an array); errors are NestJS-style ``{statusCode, message}``.  Creating an
instance is a purchase; there is no delete, only ``/cancel`` (the instance runs until the
cancel date, then disappears).  ``/compute/images`` lists the standard images; Contabo publishes no
product catalogue, only the offers for one instance (``…/products/available``, with prices).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from engine.providers.emulators._catalog import (
    CONTABO_DEFAULT_IMAGE,
    CONTABO_IMAGES,
    CONTABO_PRICES,
    CONTABO_PRODUCTS,
    CONTABO_REGIONS,
)
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

TOKEN_PATH = "/auth/realms/contabo/protocol/openid-connect/token"
_UUID_RE = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-5][0-9A-Fa-f]{3}-[089abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$")
_STATUS = {
    "provisioning": "provisioning",
    "booting": "installing",
    "running": "running",
    "off": "stopped",
    "rebooting": "running",
    "starting": "running",
    "stopping": "stopped",
}
TENANT, CUSTOMER = "DE", "54321"


class Contabo(Vendor):
    name = "contabo"
    prefix = "/v1"
    rate_windows = ((10.0, 1.0),)
    rate_headers = ""

    def __init__(self, state: Any) -> None:
        super().__init__(state)
        self.tokens: dict[str, float] = {}
        self.secrets: dict[int, dict[str, Any]] = {}

    def error(self, status: int, code: str, message: str) -> web.Response:
        if status == 429:
            message = "Rate-limit reached. Please wait for some time before doing more requests."
        elif status == 401:
            message = "Unauthorized"
        return json_response({"statusCode": status, "message": message}, status)

    def public_path(self, path: str) -> bool:
        return path == TOKEN_PATH or super().public_path(path)

    def is_create(self, request: web.Request) -> bool:
        return request.method == "POST" and request.path == "/v1/compute/instances"

    def check_headers(self, request: web.Request) -> web.Response | None:
        token = request.headers.get("Authorization", "")[7:].strip()
        expiry = self.tokens.get(token)
        if expiry is not None and self.state.now() >= expiry:
            return self.error(401, "unauthorized", "Unauthorized")
        rid = request.headers.get("x-request-id", "")
        if not _UUID_RE.match(rid):
            return json_response(
                {"statusCode": 400, "message": ["x-request-id must be a UUID"], "error": "Bad Request"}, 400
            )
        return None

    def routes(self) -> list[web.RouteDef]:
        p = self.prefix
        return [
            web.post(TOKEN_PATH, self.token),
            web.post(p + "/compute/instances", self.create),
            web.get(p + "/compute/instances", self.list),
            web.get(p + "/compute/instances/{id}", self.get),
            web.post(p + "/compute/instances/{id}/cancel", self.cancel),
            web.post(p + "/compute/instances/{id}/actions/{verb:start|stop|restart|shutdown}", self.power),
            web.post(p + "/compute/instances/{id}/snapshots", self.snapshot),
            web.post(p + "/secrets", self.create_secret),
            web.get(p + "/data-centers", self.data_centers),
            web.get(p + "/compute/images", self.images),
            web.get(p + "/compute/instances/{id}/products/available", self.available_products),
        ]

    # --- rendering ---------------------------------------------------------------------------

    def links(self, request: web.Request) -> dict[str, str]:
        return {"self": request.path_qs}

    def instance_json(self, s: EmuServer) -> dict[str, Any]:
        cores, ram, disk, product_name = CONTABO_PRODUCTS[s.plan]
        dc_name, dc_slug, region_name = CONTABO_REGIONS[s.location]
        stage = s.stage(self.state.now())
        return {
            "tenantId": TENANT,
            "customerId": CUSTOMER,
            "additionalIps": [],
            "name": f"vmi{s.id}",
            "displayName": s.name,
            "instanceId": s.id,
            "dataCenter": dc_name,
            "region": s.location,
            "regionName": region_name,
            "productId": s.plan,
            "imageId": s.image,
            "ipConfig": {
                "v4": {"ip": ipv4_for(s.seq), "netmaskCidr": 18, "gateway": "100.64.0.1"},
                "v6": {"ip": ipv6_for(s.seq), "netmaskCidr": 64, "gateway": "fe80::1"},
            },
            "macAddress": f"00:50:56:{(s.seq >> 16) & 255:02x}:{(s.seq >> 8) & 255:02x}:{s.seq & 255:02x}",
            "ramMb": ram * 1024,
            "cpuCores": cores,
            "osType": "Linux",
            "diskMb": disk * 1024,
            "sshKeys": s.extra.get("sshKeys", []),
            "createdDate": self.state.iso(s.created),
            "cancelDate": s.cancel_date or "",
            "status": _STATUS.get(stage, "unknown"),
            "vHostId": 1001,
            "vHostNumber": 11,
            "vHostName": "m1011",
            "addOns": [],
            "errorMessage": "",
            "productType": "nvme",
            "productName": product_name,
            "defaultUser": "root",
            "applicationId": "",
        }

    def plant(
        self,
        *,
        name: str,
        location: str = "EU",
        plan: str = "V91",
        image: str = CONTABO_DEFAULT_IMAGE,
        ready: bool = True,
    ) -> EmuServer:
        seq = self.state.next_seq()
        s = EmuServer(
            id=200_000_000 + seq,
            name=name,
            plan=plan,
            location=location,
            image=image,
            created=self.state.now() - (86400 if ready else 0),
            provision_s=120.0,
            boot_s=60.0,
            seq=seq,
        )
        s.extra["period"] = 1
        return self.state.add_server(s)

    def _live(self) -> list[EmuServer]:
        today = self.state.today()
        out = []
        for s in self.state.live_servers():
            if s.cancel_date and s.cancel_date < today:
                del self.state.servers[s.id]  # the contract ended: the instance is gone
                continue
            out.append(s)
        return out

    def _instance(self, request: web.Request) -> EmuServer:
        try:
            sid = int(request.match_info["id"])
        except ValueError:
            raise EmuError(400, "bad_request", "instanceId must be an integer") from None
        for s in self._live():
            if s.id == sid:
                return s
        raise EmuError(404, "not_found", f"Entry Instances not found by instanceId {sid}")

    # --- handlers ----------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "password":
            return json_response(
                {"error": "unsupported_grant_type", "error_description": "Unsupported grant_type"}, 400
            )
        missing = [k for k in ("client_id", "client_secret", "username", "password") if not form.get(k)]
        if missing:
            return json_response({"error": "invalid_request", "error_description": f"Missing {missing[0]}"}, 400)
        token = "emu-" + secrets.token_urlsafe(24)
        self.tokens[token] = self.state.now() + 300.0
        return json_response(
            {
                "access_token": token,
                "expires_in": 300,
                "refresh_expires_in": 1800,
                "refresh_token": "emu-r-" + secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "not-before-policy": 0,
                "session_state": secrets.token_hex(8),
                "scope": "profile",
            }
        )

    async def create(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        period = body.get("period")
        if period not in (1, 3, 6, 12, 24):
            raise EmuError(400, "bad_request", "period must be one of 1, 3, 6, 12, 24")
        product = body.get("productId", "V91")
        if product not in CONTABO_PRODUCTS:
            raise EmuError(400, "bad_request", f"productId {product} is not available")
        region = body.get("region", "EU")
        if region not in CONTABO_REGIONS:
            raise EmuError(400, "bad_request", f"region {region} is not available")
        if region in self.state.faults.outage_locations:
            raise EmuError(500, "internal", "Internal server error")
        for key in body.get("sshKeys") or []:
            if key not in self.secrets:
                raise EmuError(400, "bad_request", f"secret {key} not found")
        s = self.plant(
            name=str(body.get("displayName") or ""),
            location=region,
            plan=product,
            image=str(body.get("imageId") or CONTABO_DEFAULT_IMAGE),
            ready=False,
        )
        s.extra.update(period=period, sshKeys=list(body.get("sshKeys") or []))
        s.user_data = body.get("userData")
        return json_response(
            {
                "data": [
                    {
                        "tenantId": TENANT,
                        "customerId": CUSTOMER,
                        "instanceId": s.id,
                        "createdDate": self.state.iso(s.created),
                        "imageId": s.image,
                        "productId": s.plan,
                        "region": s.location,
                        "addOns": [],
                        "osType": "Linux",
                        "status": "provisioning",
                        "sshKeys": s.extra["sshKeys"],
                    }
                ],
                "_links": {"self": f"/v1/compute/instances/{s.id}"},
            },
            201,
        )

    async def list(self, request: web.Request) -> web.Response:
        page = int_param(request, "page", 1)
        size = int_param(request, "size", 10, 100)
        items = sorted(self._live(), key=lambda s: s.id)
        q = request.query
        if q.get("displayName"):
            items = [s for s in items if s.name == q["displayName"]]
        if q.get("search"):
            items = [s for s in items if q["search"] in s.name or q["search"] in f"vmi{s.id}"]
        if q.get("status"):
            items = [s for s in items if _STATUS.get(s.stage(self.state.now())) == q["status"]]
        total = len(items)
        pages = max(1, -(-total // size))

        def link(n: int) -> str:
            return f"/v1/compute/instances?page={n}&size={size}"

        links = {"self": request.path_qs, "first": link(1), "last": link(pages)}
        if page > 1:
            links["previous"] = link(page - 1)
        if page < pages:
            links["next"] = link(page + 1)
        return json_response(
            {
                "_pagination": {"size": size, "totalElements": total, "totalPages": pages, "page": page},
                "data": [self.instance_json(s) for s in items[(page - 1) * size : page * size]],
                "_links": links,
            }
        )

    async def get(self, request: web.Request) -> web.Response:
        return json_response({"data": [self.instance_json(self._instance(request))], "_links": self.links(request)})

    async def cancel(self, request: web.Request) -> web.Response:
        s = self._instance(request)
        body = await read_json(request) if request.can_read_body else {}
        end = datetime.fromtimestamp(s.created, UTC) + timedelta(days=30 * int(s.extra.get("period", 1)))
        today = datetime.fromtimestamp(self.state.now(), UTC)
        while end.date() <= today.date():
            end += timedelta(days=30)
        wanted = body.get("cancelDate")
        s.cancel_date = str(wanted)[:10] if wanted else end.strftime("%Y-%m-%d")
        return json_response(
            {
                "data": [{"tenantId": TENANT, "customerId": CUSTOMER, "instanceId": s.id, "cancelDate": s.cancel_date}],
                "_links": self.links(request),
            },
            201,
        )

    async def power(self, request: web.Request) -> web.Response:
        s = self._instance(request)
        verb = request.match_info["verb"]
        now = self.state.now()
        if s.location in self.state.faults.outage_locations:
            raise EmuError(500, "internal", "Internal server error")
        if not s.ready(now):
            raise EmuError(409, "conflict", "Instance is currently being provisioned")
        if verb == "restart":
            s.transition, s.power = ("rebooting", now + 20.0), "on"
        elif verb in ("stop", "shutdown"):
            s.transition, s.power = ("stopping", now + 10.0), "off"
        else:
            s.transition, s.power = ("starting", now + 10.0), "on"
        return json_response(
            {
                "data": [{"tenantId": TENANT, "customerId": CUSTOMER, "instanceId": s.id, "action": verb}],
                "_links": self.links(request),
            },
            201,
        )

    async def snapshot(self, request: web.Request) -> web.Response:
        s = self._instance(request)
        body = await read_json(request)
        name = body.get("name")
        if not name or len(str(name)) > 30:
            raise EmuError(400, "bad_request", "name must be 1 to 30 characters")
        snap_id = f"snap{self.state.next_seq()}"
        self.state.snapshots[snap_id] = {"server": s.id}
        now = self.state.now()
        return json_response(
            {
                "data": [
                    {
                        "tenantId": TENANT,
                        "customerId": CUSTOMER,
                        "snapshotId": snap_id,
                        "name": name,
                        "description": str(body.get("description", "")),
                        "instanceId": s.id,
                        "createdDate": self.state.iso(now),
                        "autoDeleteDate": self.state.iso(now + 30 * 86400),
                        "imageId": s.image,
                        "imageName": "ubuntu-24.04",
                    }
                ],
                "_links": self.links(request),
            },
            201,
        )

    async def create_secret(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if not body.get("name") or not body.get("value") or body.get("type") not in ("password", "ssh"):
            raise EmuError(400, "bad_request", "name, value and type (password|ssh) are required")
        sid = 1000 + len(self.secrets) + 1
        now = self.state.iso()
        self.secrets[sid] = body
        return json_response(
            {
                "data": [
                    {
                        "tenantId": TENANT,
                        "customerId": CUSTOMER,
                        "secretId": sid,
                        "name": body["name"],
                        "type": body["type"],
                        "value": body["value"],
                        "createdAt": now,
                        "updatedAt": now,
                    }
                ],
                "_links": {"self": f"/v1/secrets/{sid}"},
            },
            201,
        )

    async def data_centers(self, request: web.Request) -> web.Response:
        data = [
            {
                "name": name,
                "slug": slug,
                "capabilities": ["VPS", "VDS", "Private-Networking"],
                "s3Url": f"https://{slug.lower()}.contabostorage.com",
                "regionName": region_name,
                "regionSlug": region,
                "tenantId": TENANT,
                "customerId": CUSTOMER,
            }
            for region, (name, slug, region_name) in CONTABO_REGIONS.items()
        ]
        return json_response(
            {
                "_pagination": {"size": 10, "totalElements": len(data), "totalPages": 1, "page": 1},
                "data": data,
                "_links": {
                    "self": request.path_qs,
                    "first": "/v1/data-centers?page=1&size=10",
                    "last": "/v1/data-centers?page=1&size=10",
                },
            }
        )

    def _page(self, request: web.Request, items: Sequence[Any], path: str) -> dict[str, Any]:
        """Contabo's envelope: ``_pagination`` + ``data`` (always an array) + ``_links``."""
        page = int_param(request, "page", 1)
        size = int_param(request, "size", 10, 100)
        total = len(items)
        pages = max(1, -(-total // size))

        def link(n: int) -> str:
            return f"{path}?page={n}&size={size}"

        links = {"self": request.path_qs, "first": link(1), "last": link(pages)}
        if page > 1:
            links["previous"] = link(page - 1)
        if page < pages:
            links["next"] = link(page + 1)
        return {
            "_pagination": {"size": size, "totalElements": total, "totalPages": pages, "page": page},
            "data": list(items[(page - 1) * size : page * size]),
            "_links": links,
        }

    async def images(self, request: web.Request) -> web.Response:
        """The standard images (Contabo's custom-image upload is not emulated)."""
        q = request.query
        items: Sequence[dict[str, Any]] = [
            {
                "imageId": image_id,
                "tenantId": TENANT,
                "customerId": CUSTOMER,
                "name": name,
                "description": description,
                "url": "",
                "sizeMb": size_mb,
                "uploadedSizeMb": 0.0,
                "osType": "Linux",
                "version": version,
                "format": "qcow2",
                "status": "downloaded",
                "errorMessage": "",
                "standardImage": True,
                "creationDate": created,
                "lastModifiedDate": created,
                "tags": [],
            }
            for image_id, (name, description, version, size_mb, created) in CONTABO_IMAGES.items()
        ]
        if q.get("name"):
            items = [i for i in items if i["name"] == q["name"]]
        if q.get("search"):
            items = [i for i in items if q["search"].lower() in (i["name"] + i["description"]).lower()]
        if q.get("standardImage") == "false":
            items = []
        return json_response(self._page(request, items, "/v1/compute/images"))

    async def available_products(self, request: web.Request) -> web.Response:
        """The products this instance can move to, with prices: the only product listing Contabo's API has."""
        s = self._instance(request)
        current = CONTABO_PRICES[s.plan]
        data = []
        for offer, (product_id, (cores, ram, disk, name)) in enumerate(CONTABO_PRODUCTS.items(), start=800):
            price = CONTABO_PRICES[product_id]
            data.append(
                {
                    "tenantId": TENANT,
                    "customerId": CUSTOMER,
                    "instanceId": s.id,
                    "productId": product_id,
                    "name": name,
                    "category": "ssd" if "SSD" in name else "nvme",
                    "ramSizeGb": ram,
                    "diskSizeGb": disk,
                    "cpuCores": cores,
                    "netSpeed": 600,
                    "snapshots": 2,
                    "vsPrice": price,
                    "vsOriginalPrice": price,
                    "windowsPrice": 0,
                    "backupPrice": 0,
                    "storageExtensionPrice": 0,
                    "locationFeePrice": 0,
                    "addonsPrice": 0,
                    "hasStorageExtension": False,
                    "hasBackupAddon": False,
                    "hasWindows": False,
                    "hasLocationFee": False,
                    "current": product_id == s.plan,
                    "offerId": offer,
                    "locationChangeRequired": False,
                    "liveMigrationAvailable": disk >= CONTABO_PRODUCTS[s.plan][2],
                    "storageExtensionAvailable": True,
                    "backupAvailable": True,
                    "upgradeDiscount": 0,
                    "requiredConfirmations": [],
                    "priceDifferenceWithStorageExtension": round(price - current, 2),
                    "priceDifferenceWithoutStorageExtension": round(price - current, 2),
                }
            )
            if not data[-1]["liveMigrationAvailable"]:
                data[-1]["liveMigrationDisabledReason"] = "disk_downsize"
        return json_response({"data": data, "_links": self.links(request)})
