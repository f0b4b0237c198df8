"""Hetzner Cloud driver (API v1, ``https://api.hetzner.cloud/v1``).

Ownership: label ``clawops-instance=<instance id>`` (plus ``clawops=1``), found with
``label_selector``.  Names are unique per project, so a create that really succeeded
before a timeout makes the retry fail with ``409 uniqueness_error``, which the base
class answers by looking the server up.  Resize needs the server off and never
upgrades the disk (that would make a later downgrade impossible).
"""

from __future__ import annotations

from typing import Any

from engine.providers._base import (
    FLEET_TAG,
    OWNER_LABEL,
    ActionInfo,
    Capabilities,
    PlanPrice,
    RegionInfo,
    ServerInfo,
    ServerSpec,
    SnapshotInfo,
    location_part,
    region_name,
)
from engine.providers._http import HttpDriver
from engine.providers.errors import ProviderAPIError, ProviderConflict
from engine.providers.states import ACTION_STATUS, HETZNER, state_of, table_phase


class HetznerDriver(HttpDriver):
    name = "hetzner"
    default_base_url = "https://api.hetzner.cloud/v1"
    capabilities = Capabilities(
        can_delete=True,
        create_is_purchase=False,
        supports_cloud_init=True,
        can_resize=True,
        resize_needs_power_off=True,
        can_snapshot=True,
        hourly_billing=True,
        supports_labels=True,
        has_action_objects=True,
        pricing_api=True,
    )
    per_page = 50

    def _parse_error(self, body: Any, resp: Any) -> tuple[str | None, str | None, str | None]:
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            return err.get("code"), err.get("message"), resp.headers.get("x-correlation-id")
        return None, None, None

    def _should_retry(self, exc: BaseException, idempotent: bool) -> bool:
        # hcloud also retries `conflict` and `locked` (another action holds the server) for safe calls.
        if idempotent and isinstance(exc, ProviderConflict) and exc.code in ("conflict", "locked"):
            return True
        return super()._should_retry(exc, idempotent)

    # --- mapping -------------------------------------------------------------------------------

    def _info(self, obj: Any, op: str, action_id: str | None = None) -> ServerInfo:
        sid = self.field(obj, "id", int, op)
        status = self.field(obj, "status", str, op)
        labels = obj.get("labels") or {}
        if not isinstance(labels, dict):
            raise self.bad(op, "field 'labels' is not an object")
        net = obj.get("public_net") or {}
        v4, v6 = net.get("ipv4") or {}, net.get("ipv6") or {}
        phase = table_phase(HETZNER, status)
        return ServerInfo(
            server_id=str(sid),
            instance_id=labels.get(OWNER_LABEL),
            state=state_of(phase),
            vendor_status=status,
            ipv4=v4.get("ip"),
            ipv6=v6.get("ip"),
            plan_id=(obj.get("server_type") or {}).get("name"),
            location=(obj.get("location") or {}).get("name"),
            name=obj.get("name"),
            phase=phase,
            labels=dict(labels),
            action_id=action_id,
        )

    def _action(self, obj: Any, op: str) -> ActionInfo:
        status = self.field(obj, "status", str, op)
        err = obj.get("error") or None
        return ActionInfo(
            action_id=str(self.field(obj, "id", int, op)),
            command=str(obj.get("command", "")),
            status=ACTION_STATUS["hetzner"].get(status, "error"),
            vendor_status=status,
            progress=obj.get("progress"),
            error=(err or {}).get("message") if err else None,
        )

    # --- operations ----------------------------------------------------------------------------

    async def create_server(self, spec: ServerSpec) -> ServerInfo:
        labels = {**spec.labels, OWNER_LABEL: spec.instance_id, FLEET_TAG: "1"}
        body: dict[str, Any] = {
            "name": spec.name,
            "server_type": spec.plan_id,
            "image": spec.image,
            "location": location_part(spec.region_location),
            "labels": labels,
            "start_after_create": True,
        }
        if spec.ssh_keys:
            body["ssh_keys"] = list(spec.ssh_keys)
        if spec.user_data:
            body["user_data"] = spec.user_data

        async def create() -> ServerInfo:
            data = await self.call("create_server", "POST", "/servers", json=body)
            action = (data or {}).get("action") or {}
            return self._info(
                self.field(data, "server", dict, "create_server"),
                "create_server",
                str(action["id"]) if "id" in action else None,
            )

        return await self._create_with_lookup(spec, create)

    async def get_server(self, server_id: str) -> ServerInfo:
        data = await self.call("get_server", "GET", f"/servers/{server_id}")
        return self._info(self.field(data, "server", dict, "get_server"), "get_server")

    async def _pages(self, op: str, path: str, key: str, params: dict[str, Any] | None = None) -> list[Any]:
        items: list[Any] = []
        page: int | None = 1
        while page is not None:
            data = await self.call(op, "GET", path, params={**(params or {}), "page": page, "per_page": self.per_page})
            items.extend(self.field(data, key, list, op))
            pagination = (data.get("meta") or {}).get("pagination") or {}
            page = pagination.get("next_page")
        return items

    async def list_servers(self) -> list[ServerInfo]:
        return [self._info(s, "list_servers") for s in await self._pages("list_servers", "/servers", "servers")]

    async def find_server(self, instance_id: str) -> ServerInfo | None:
        found = await self._pages(
            "find_server", "/servers", "servers", {"label_selector": f"{OWNER_LABEL}={instance_id}"}
        )
        return self._info(found[0], "find_server") if found else None

    async def delete_server(self, server_id: str) -> None:
        await self.call("delete_server", "DELETE", f"/servers/{server_id}")

    async def _server_action(self, op: str, server_id: str, action: str, body: Any = None) -> ActionInfo:
        data = await self.call(op, "POST", f"/servers/{server_id}/actions/{action}", json=body)
        return self._action(self.field(data, "action", dict, op), op)

    async def reboot_server(self, server_id: str) -> None:
        await self._server_action("reboot_server", server_id, "reboot")

    async def power_off(self, server_id: str) -> ActionInfo:
        return await self._server_action("power_off", server_id, "poweroff")

    async def power_on(self, server_id: str) -> ActionInfo:
        return await self._server_action("power_on", server_id, "poweron")

    async def resize_server(self, server_id: str, plan_id: str) -> ActionInfo:
        """Change the server type; the server must be off (``422 server_not_stopped`` otherwise)."""
        return await self._server_action(
            "resize_server", server_id, "change_type", {"server_type": plan_id, "upgrade_disk": False}
        )

    async def snapshot_server(self, server_id: str, name: str) -> SnapshotInfo:
        data = await self.call(
            "snapshot_server",
            "POST",
            f"/servers/{server_id}/actions/create_image",
            json={"description": name, "type": "snapshot", "labels": {FLEET_TAG: "1"}},
        )
        image = self.field(data, "image", dict, "snapshot_server")
        action = self._action(self.field(data, "action", dict, "snapshot_server"), "snapshot_server")
        return SnapshotInfo(str(image.get("id")), server_id, str(image.get("status")), action.action_id)

    async def list_regions(self) -> list[RegionInfo]:
        return [
            RegionInfo(loc["name"], region_name(self.name, loc["name"]), loc.get("city"), loc.get("country"))
            for loc in await self._pages("list_regions", "/locations", "locations")
        ]

    async def list_plans(self) -> list[PlanPrice]:
        plans = []
        for st in await self._pages("list_plans", "/server_types", "server_types"):
            prices = st.get("prices") or []
            if not prices:
                continue
            try:
                monthly = min(float(p["price_monthly"]["net"]) for p in prices)
                hourly = min(float(p["price_hourly"]["net"]) for p in prices)
            except (KeyError, TypeError, ValueError) as exc:
                raise self.bad("list_plans", f"server type {st.get('name')} has malformed prices") from exc
            plans.append(
                PlanPrice(
                    str(st["name"]),
                    int(st["cores"]),
                    float(st["memory"]),
                    float(st["disk"]),
                    "EUR",
                    monthly,
                    hourly,
                    tuple(str(p["location"]) for p in prices),
                )
            )
        return plans

    async def get_action(self, action_id: str) -> ActionInfo:
        data = await self.call("get_action", "GET", f"/actions/{action_id}")
        return self._action(self.field(data, "action", dict, "get_action"), "get_action")


__all__ = ["HetznerDriver", "ProviderAPIError"]
