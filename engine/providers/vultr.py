"""Vultr driver (API v2, ``https://api.vultr.com/v2``).

Ownership: tags ``clawops`` and ``clawops-instance:<instance id>`` (labels are not unique),
found with ``GET /instances?tag=``.  No action objects: power calls answer 204 and the
instance is polled.  ``user_data`` must be base64.  Resize is ``PATCH plan`` and only ever
upgrades.  The 2023 spec has no ``hourly_cost``; when absent it is monthly / 730.
"""

from __future__ import annotations

import base64
from typing import Any

from engine.providers._base import (
    FLEET_TAG,
    ActionInfo,
    Capabilities,
    PlanPrice,
    RegionInfo,
    ServerInfo,
    ServerSpec,
    SnapshotInfo,
    instance_id_from_tags,
    location_part,
    owner_tag,
    region_name,
)
from engine.providers._http import HttpDriver
from engine.providers.states import state_of, vultr_phase

#: Image slugs → Vultr ``os_id`` (GET /os); a numeric image is passed through as an os_id.
OS_IDS = {"ubuntu-24.04": 2284, "ubuntu-22.04": 1743, "debian-12": 2136}


class VultrDriver(HttpDriver):
    name = "vultr"
    default_base_url = "https://api.vultr.com/v2"
    capabilities = Capabilities(
        can_delete=True,
        create_is_purchase=False,
        supports_cloud_init=True,
        can_resize=True,
        resize_needs_power_off=False,
        resize_upgrade_only=True,
        can_snapshot=True,
        hourly_billing=True,
        supports_labels=True,
        has_action_objects=False,
        pricing_api=True,
    )
    per_page = 500

    def _parse_error(self, body: Any, resp: Any) -> tuple[str | None, str | None, str | None]:
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return None, body["error"], None
        return None, None, None

    def _info(self, obj: Any, op: str) -> ServerInfo:
        sid = self.field(obj, "id", str, op)
        status = self.field(obj, "status", str, op)
        power = self.field(obj, "power_status", str, op)
        server_status = self.field(obj, "server_status", str, op)
        tags = obj.get("tags") or []
        if not isinstance(tags, list):
            raise self.bad(op, "field 'tags' is not a list")
        phase = vultr_phase(status, power, server_status)
        ip = obj.get("main_ip") or None
        v6 = obj.get("v6_networks") or []
        return ServerInfo(
            server_id=sid,
            instance_id=instance_id_from_tags(tags),
            state=state_of(phase),
            vendor_status=f"{status}/{power}/{server_status}",
            ipv4=None if ip == "0.0.0.0" else ip,
            ipv6=(v6[0].get("main_ip") if v6 else None),
            plan_id=obj.get("plan"),
            location=obj.get("region"),
            name=obj.get("label"),
            phase=phase,
            labels=dict(t.split(":", 1) for t in tags if ":" in t),
        )

    async def _pages(self, op: str, path: str, key: str, params: dict[str, Any] | None = None) -> list[Any]:
        items: list[Any] = []
        cursor = ""
        while True:
            query = {**(params or {}), "per_page": self.per_page}
            if cursor:
                query["cursor"] = cursor
            data = await self.call(op, "GET", path, params=query)
            items.extend(self.field(data, key, list, op))
            cursor = (((data.get("meta") or {}).get("links") or {}).get("next")) or ""
            if not cursor:
                return items

    async def create_server(self, spec: ServerSpec) -> ServerInfo:
        tags = [FLEET_TAG, owner_tag(spec.instance_id)] + [f"{k}:{v}" for k, v in spec.labels.items()]
        body: dict[str, Any] = {
            "region": location_part(spec.region_location),
            "plan": spec.plan_id,
            "os_id": int(spec.image) if spec.image.isdigit() else OS_IDS.get(spec.image, OS_IDS["ubuntu-24.04"]),
            "label": spec.name,
            "hostname": spec.name,
            "tags": tags,
            "enable_ipv6": True,
            "backups": "disabled",
        }
        if spec.ssh_keys:
            body["sshkey_id"] = list(spec.ssh_keys)
        if spec.user_data:
            body["user_data"] = base64.b64encode(spec.user_data.encode()).decode()

        async def create() -> ServerInfo:
            data = await self.call("create_server", "POST", "/instances", json=body)
            return self._info(self.field(data, "instance", dict, "create_server"), "create_server")

        return await self._create_with_lookup(spec, create)

    async def get_server(self, server_id: str) -> ServerInfo:
        data = await self.call("get_server", "GET", f"/instances/{server_id}")
        return self._info(self.field(data, "instance", dict, "get_server"), "get_server")

    async def list_servers(self) -> list[ServerInfo]:
        return [self._info(i, "list_servers") for i in await self._pages("list_servers", "/instances", "instances")]

    async def find_server(self, instance_id: str) -> ServerInfo | None:
        found = await self._pages("find_server", "/instances", "instances", {"tag": owner_tag(instance_id)})
        return self._info(found[0], "find_server") if found else None

    async def delete_server(self, server_id: str) -> None:
        await self.call("delete_server", "DELETE", f"/instances/{server_id}")

    async def reboot_server(self, server_id: str) -> None:
        await self.call("reboot_server", "POST", f"/instances/{server_id}/reboot")

    async def power_off(self, server_id: str) -> ActionInfo | None:
        await self.call("power_off", "POST", f"/instances/{server_id}/halt")
        return None

    async def power_on(self, server_id: str) -> ActionInfo | None:
        await self.call("power_on", "POST", f"/instances/{server_id}/start")
        return None

    async def resize_server(self, server_id: str, plan_id: str) -> ActionInfo | None:
        """Upgrade to ``plan_id`` (Vultr refuses downgrades with a 400 the caller sees as invalid request)."""
        await self.call("resize_server", "PATCH", f"/instances/{server_id}", json={"plan": plan_id})
        return None

    async def snapshot_server(self, server_id: str, name: str) -> SnapshotInfo:
        data = await self.call(
            "snapshot_server", "POST", "/snapshots", json={"instance_id": server_id, "description": name}
        )
        snap = self.field(data, "snapshot", dict, "snapshot_server")
        return SnapshotInfo(str(snap.get("id")), server_id, str(snap.get("status")))

    async def list_regions(self) -> list[RegionInfo]:
        return [
            RegionInfo(r["id"], region_name(self.name, r["id"]), r.get("city"), r.get("country"))
            for r in await self._pages("list_regions", "/regions", "regions")
        ]

    async def list_plans(self) -> list[PlanPrice]:
        plans = []
        for p in await self._pages("list_plans", "/plans", "plans", {"type": "vc2"}):
            try:
                monthly = float(p["monthly_cost"])
                hourly = float(p["hourly_cost"]) if p.get("hourly_cost") is not None else round(monthly / 730, 5)
                plans.append(
                    PlanPrice(
                        str(p["id"]),
                        int(p["vcpu_count"]),
                        p["ram"] / 1024,
                        float(p["disk"]),
                        "USD",
                        monthly,
                        hourly,
                        tuple(p.get("locations") or ()),
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise self.bad("list_plans", f"plan {p.get('id')} is malformed") from exc
        return plans
