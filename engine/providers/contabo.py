"""Contabo driver (API v1, ``https://api.contabo.com/v1``).

Auth is an OAuth2 password grant against Contabo's Keycloak (client id + secret + API user +
password) for a short-lived bearer token, cached until shortly before ``expires_in`` and
refreshed once on a 401.  Every call carries a fresh ``x-request-id`` (UUID4).

Creating an instance **is a purchase** (a monthly contract): it is never retried blindly.
Our instance id rides in the display name (``<name>--<instance id>``), so after an
ambiguous failure the driver searches for it before anything else.  There is no delete:
``delete_server`` cancels the contract and the instance runs until its cancel date
(reported as ``Phase.DELETING`` → DRAINING, then gone).  No resize (add-ons only) and no
pricing endpoint: :data:`PRODUCTS` is the maintained price table.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from engine.providers._base import (
    Capabilities,
    PlanPrice,
    RegionInfo,
    ServerInfo,
    ServerSpec,
    SnapshotInfo,
    instance_id_from_name,
    location_part,
    owned_name,
)
from engine.providers._http import HttpDriver
from engine.providers.errors import ProviderAuthError, ProviderBadResponse, error_for_status
from engine.providers.states import contabo_phase, state_of

AUTH_URL = "https://auth.contabo.com/auth/realms/contabo/protocol/openid-connect/token"
#: Our location → Contabo region slug.
REGIONS = {"nue": "EU", "east": "US-east", "central": "US-central", "west": "US-west", "sin": "SIN", "uk": "UK"}
#: Maintained price table (Contabo has no pricing API): product id → (vCPU, RAM GB, disk GB, EUR/month).
#: Figures from Contabo's public price list as of 2026-08 [3rd]; monthly contract, no setup fee on 1 month.
PRODUCTS = {
    "V91": (4, 8, 75, 5.50),
    "V92": (4, 8, 150, 5.50),
    "V94": (6, 12, 100, 9.50),
    "V97": (8, 24, 200, 17.00),
}
#: Image slugs → Contabo image UUIDs (GET /v1/compute/images); a UUID is passed through.
IMAGES = {"ubuntu-22.04": "afecbb85-e2fc-46f0-9684-b46b1faf00bb"}


@dataclass(frozen=True, slots=True)
class ContaboCredentials:
    client_id: str
    client_secret: str
    username: str
    password: str


class ContaboDriver(HttpDriver):
    name = "contabo"
    default_base_url = "https://api.contabo.com/v1"
    capabilities = Capabilities(
        can_delete=False,
        create_is_purchase=True,
        supports_cloud_init=True,
        can_resize=False,
        can_snapshot=True,
        hourly_billing=False,
        supports_labels=False,
        has_action_objects=False,
        pricing_api=False,
    )
    page_size = 100

    def __init__(
        self,
        client: httpx.AsyncClient,
        credentials: ContaboCredentials | None = None,
        *,
        auth_url: str = AUTH_URL,
        **kw: Any,
    ) -> None:
        self.credentials = credentials or ContaboCredentials("clawops", "secret", "api@example.com", "pw")
        super().__init__(client, self.credentials.client_id + ":" + self.credentials.username, **kw)
        self.auth_url = auth_url
        self._access: str | None = None
        self._expires = 0.0
        self._token_lock = asyncio.Lock()

    # --- auth --------------------------------------------------------------------------------

    async def _fetch_token(self) -> None:
        c = self.credentials
        try:
            resp = await self.client.post(
                self.auth_url,
                data={
                    "client_id": c.client_id,
                    "client_secret": c.client_secret,
                    "username": c.username,
                    "password": c.password,
                    "grant_type": "password",
                },
            )
        except httpx.HTTPError as exc:
            raise ProviderAuthError(
                self.name,
                "authenticate",
                vendor_message=f"token endpoint unreachable ({exc})",
                hint="check CLAWOPS_CONTABO_AUTH_URL and connectivity.",
            ) from exc
        body: Any = None
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code >= 400 or not isinstance(body, dict) or not body.get("access_token"):
            message = (body or {}).get("error_description") if isinstance(body, dict) else None
            cls = ProviderAuthError if resp.status_code in (400, 401, 403) else error_for_status(resp.status_code)
            raise cls(
                self.name,
                "authenticate",
                status=resp.status_code,
                code=(body or {}).get("error") if isinstance(body, dict) else None,
                vendor_message=message or "no access token returned",
            )
        loop = asyncio.get_running_loop()
        lifetime = float(body.get("expires_in", 300))
        self._access = str(body["access_token"])
        self._expires = loop.time() + self._scaled(lifetime * 0.8)

    async def _auth_headers(self) -> dict[str, str]:
        loop = asyncio.get_running_loop()
        if self._access is None or loop.time() >= self._expires:
            async with self._token_lock:
                if self._access is None or loop.time() >= self._expires:
                    await self._fetch_token()
        return {"Authorization": f"Bearer {self._access}", "x-request-id": str(uuid.uuid4())}

    async def _send(self, operation: str, method: str, path: str, *args: Any) -> httpx.Response:
        # A 401 with a cached token usually means it expired early: fetch a new one and resend, once.
        had_token = self._access is not None
        try:
            return await super()._send(operation, method, path, *args)
        except ProviderAuthError as exc:
            if exc.status != 401 or not had_token:
                raise
            self._access = None
            return await super()._send(operation, method, path, *args)

    def _parse_error(self, body: Any, resp: Any) -> tuple[str | None, str | None, str | None]:
        if isinstance(body, dict):
            msg = body.get("message")
            if isinstance(msg, list):
                msg = "; ".join(str(m) for m in msg)
            return (
                (str(body.get("error")) if body.get("error") else None),
                msg,
                resp.request.headers.get("x-request-id"),
            )
        return None, None, None

    # --- mapping -------------------------------------------------------------------------------

    def _one(self, data: Any, op: str) -> dict[str, Any]:
        items = self.field(data, "data", list, op)
        if not items or not isinstance(items[0], dict):
            raise ProviderBadResponse(self.name, op, vendor_message="'data' is empty")
        return items[0]

    def _info(self, obj: dict[str, Any], op: str) -> ServerInfo:
        sid = self.field(obj, "instanceId", int, op)
        status = self.field(obj, "status", str, op)
        cancel = obj.get("cancelDate") or None
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        phase = contabo_phase(status, cancel, today)
        ip = (obj.get("ipConfig") or {}).get("v4", {}).get("ip")
        ip6 = (obj.get("ipConfig") or {}).get("v6", {}).get("ip")
        name = obj.get("displayName")
        return ServerInfo(
            server_id=str(sid),
            instance_id=instance_id_from_name(name),
            state=state_of(phase),
            vendor_status=status,
            ipv4=ip,
            ipv6=ip6,
            plan_id=obj.get("productId"),
            location=obj.get("region"),
            name=name,
            phase=phase,
            cancel_date=cancel,
        )

    async def _pages(self, op: str, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            data = await self.call(op, "GET", path, params={**(params or {}), "page": page, "size": self.page_size})
            items.extend(self.field(data, "data", list, op))
            pagination = data.get("_pagination") or {}
            if page >= int(pagination.get("totalPages") or 1):
                return items
            page += 1

    # --- operations ----------------------------------------------------------------------------

    async def _ssh_secret_ids(self, keys: tuple[str, ...]) -> list[int]:
        ids = []
        for i, key in enumerate(keys):
            if key.isdigit():
                ids.append(int(key))
                continue
            data = await self.call(
                "create_secret",
                "POST",
                "/secrets",
                json={"name": f"clawops-key-{uuid.uuid4().hex[:8]}-{i}", "value": key, "type": "ssh"},
            )
            ids.append(int(self._one(data, "create_secret")["secretId"]))
        return ids

    async def create_server(self, spec: ServerSpec) -> ServerInfo:
        location = location_part(spec.region_location)
        display = owned_name(spec)
        body: dict[str, Any] = {
            "productId": spec.plan_id,
            "region": REGIONS.get(location, location),
            "period": 1,
            "displayName": display,
            "defaultUser": "root",
        }
        image = IMAGES.get(spec.image, spec.image if len(spec.image) == 36 else None)
        if image:
            body["imageId"] = image
        if spec.user_data:
            body["userData"] = spec.user_data
        if spec.ssh_keys:
            body["sshKeys"] = await self._ssh_secret_ids(spec.ssh_keys)

        async def create() -> ServerInfo:
            data = await self.call("create_server", "POST", "/compute/instances", json=body)
            obj = self._one(data, "create_server")
            sid = self.field(obj, "instanceId", int, "create_server")
            status = str(obj.get("status", "provisioning"))
            phase = contabo_phase(status, None, "")
            return ServerInfo(
                str(sid),
                spec.instance_id,
                state_of(phase),
                status,
                plan_id=spec.plan_id,
                location=body["region"],
                name=display,
                phase=phase,
            )

        return await self._create_with_lookup(spec, create)

    async def get_server(self, server_id: str) -> ServerInfo:
        data = await self.call("get_server", "GET", f"/compute/instances/{server_id}")
        return self._info(self._one(data, "get_server"), "get_server")

    async def list_servers(self) -> list[ServerInfo]:
        return [self._info(i, "list_servers") for i in await self._pages("list_servers", "/compute/instances")]

    async def find_server(self, instance_id: str) -> ServerInfo | None:
        for obj in await self._pages("find_server", "/compute/instances", {"search": instance_id}):
            info = self._info(obj, "find_server")
            if info.instance_id == instance_id:
                return info
        return None

    async def delete_server(self, server_id: str) -> None:
        """Contabo cannot delete: cancel the contract; the instance runs until its cancel date."""
        await self.call("cancel_server", "POST", f"/compute/instances/{server_id}/cancel", json={})

    async def _power(self, op: str, server_id: str, verb: str) -> None:
        await self.call(op, "POST", f"/compute/instances/{server_id}/actions/{verb}")

    async def reboot_server(self, server_id: str) -> None:
        await self._power("reboot_server", server_id, "restart")

    async def power_off(self, server_id: str) -> None:
        await self._power("power_off", server_id, "stop")

    async def power_on(self, server_id: str) -> None:
        await self._power("power_on", server_id, "start")

    async def snapshot_server(self, server_id: str, name: str) -> SnapshotInfo:
        data = await self.call(
            "snapshot_server",
            "POST",
            f"/compute/instances/{server_id}/snapshots",
            json={"name": name[:30], "description": name},
        )
        snap = self._one(data, "snapshot_server")
        return SnapshotInfo(str(snap.get("snapshotId")), server_id, "created")

    async def list_regions(self) -> list[RegionInfo]:
        from engine.providers._base import region_name

        ours = {v: k for k, v in REGIONS.items()}
        out = []
        for dc in await self._pages("list_regions", "/data-centers"):
            slug = str(dc.get("regionSlug"))
            out.append(RegionInfo(slug, region_name(self.name, ours.get(slug)), dc.get("name"), None))
        return out

    async def list_plans(self) -> list[PlanPrice]:
        """The maintained table: Contabo publishes no pricing endpoint."""
        return [
            PlanPrice(pid, cpu, float(ram), float(disk), "EUR", monthly, None, tuple(REGIONS.values()), "table")
            for pid, (cpu, ram, disk, monthly) in PRODUCTS.items()
        ]
