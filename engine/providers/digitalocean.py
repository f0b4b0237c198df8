"""DigitalOcean driver (API v2, ``https://api.digitalocean.com/v2``).

Ownership: tags ``clawops`` and ``clawops-instance:<instance id>`` (names are not unique at
DigitalOcean, so a retried create is deduplicated by ``GET /droplets?tag_name=``).  Resize is
a droplet action that needs the droplet off; the disk is never grown (``disk: false``) so a
later downsize stays possible.
"""

from __future__ import annotations

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
from engine.providers.states import ACTION_STATUS, digitalocean_phase, state_of


class DigitalOceanDriver(HttpDriver):
    name = "digitalocean"
    default_base_url = "https://api.digitalocean.com/v2"
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
    per_page = 200

    def _parse_error(self, body: Any, resp: Any) -> tuple[str | None, str | None, str | None]:
        if isinstance(body, dict):
            return body.get("id"), body.get("message"), body.get("request_id")
        return None, None, None

    def _info(self, obj: Any, op: str, action_id: str | None = None) -> ServerInfo:
        sid = self.field(obj, "id", int, op)
        status = self.field(obj, "status", str, op)
        tags = obj.get("tags") or []
        if not isinstance(tags, list):
            raise self.bad(op, "field 'tags' is not a list")
        nets = obj.get("networks") or {}
        v4 = next((n.get("ip_address") for n in nets.get("v4") or [] if n.get("type") == "public"), None)
        v6 = next((n.get("ip_address") for n in nets.get("v6") or [] if n.get("type") == "public"), None)
        phase = digitalocean_phase(status, bool(obj.get("locked")))
        labels = dict(t.split(":", 1) for t in tags if ":" in t)
        return ServerInfo(
            server_id=str(sid),
            instance_id=instance_id_from_tags(tags),
            state=state_of(phase),
            vendor_status=status,
            ipv4=v4,
            ipv6=v6,
            plan_id=obj.get("size_slug"),
            location=(obj.get("region") or {}).get("slug"),
            name=obj.get("name"),
            phase=phase,
            labels=labels,
            action_id=action_id,
        )

    def _action(self, obj: Any, op: str) -> ActionInfo:
        status = self.field(obj, "status", str, op)
        return ActionInfo(
            action_id=str(self.field(obj, "id", int, op)),
            command=str(obj.get("type", "")),
            status=ACTION_STATUS["digitalocean"].get(status, "error"),
            vendor_status=status,
            error="action errored" if status == "errored" else None,
        )

    async def _pages(self, op: str, path: str, key: str, params: dict[str, Any] | None = None) -> list[Any]:
        items: list[Any] = []
        url: str | None = path
        query: dict[str, Any] | None = {**(params or {}), "per_page": self.per_page}
        while url:
            data = await self.call(op, "GET", url, params=query)
            items.extend(self.field(data, key, list, op))
            url = (((data.get("links") or {}).get("pages") or {}).get("next")) or None
            query = None  # the next link is a full URL carrying page, per_page and filters
        return items

    async def create_server(self, spec: ServerSpec) -> ServerInfo:
        tags = [FLEET_TAG, owner_tag(spec.instance_id)] + [f"{k}:{v}" for k, v in spec.labels.items()]
        body: dict[str, Any] = {
            "name": spec.name,
            "region": location_part(spec.region_location),
            "size": spec.plan_id,
            "image": spec.image,
            "tags": tags,
            "ipv6": True,
            "monitoring": True,
        }
        if spec.ssh_keys:
            body["ssh_keys"] = list(spec.ssh_keys)
        if spec.user_data:
            body["user_data"] = spec.user_data

        async def create() -> ServerInfo:
            data = await self.call("create_server", "POST", "/droplets", json=body)
            actions = ((data or {}).get("links") or {}).get("actions") or []
            action_id = str(actions[0]["id"]) if actions and "id" in actions[0] else None
            return self._info(self.field(data, "droplet", dict, "create_server"), "create_server", action_id)

        return await self._create_with_lookup(spec, create)

    async def get_server(self, server_id: str) -> ServerInfo:
        data = await self.call("get_server", "GET", f"/droplets/{server_id}")
        return self._info(self.field(data, "droplet", dict, "get_server"), "get_server")

    async def list_servers(self) -> list[ServerInfo]:
        return [self._info(d, "list_servers") for d in await self._pages("list_servers", "/droplets", "droplets")]

    async def find_server(self, instance_id: str) -> ServerInfo | None:
        found = await self._pages("find_server", "/droplets", "droplets", {"tag_name": owner_tag(instance_id)})
        return self._info(found[0], "find_server") if found else None

    async def delete_server(self, server_id: str) -> None:
        await self.call("delete_server", "DELETE", f"/droplets/{server_id}")

    async def _droplet_action(self, op: str, server_id: str, body: dict[str, Any]) -> ActionInfo:
        data = await self.call(op, "POST", f"/droplets/{server_id}/actions", json=body)
        return self._action(self.field(data, "action", dict, op), op)

    async def reboot_server(self, server_id: str) -> None:
        await self._droplet_action("reboot_server", server_id, {"type": "reboot"})

    async def power_off(self, server_id: str) -> ActionInfo:
        return await self._droplet_action("power_off", server_id, {"type": "power_off"})

    async def power_on(self, server_id: str) -> ActionInfo:
        return await self._droplet_action("power_on", server_id, {"type": "power_on"})

    async def resize_server(self, server_id: str, plan_id: str) -> ActionInfo:
        return await self._droplet_action(
            "resize_server", server_id, {"type": "resize", "size": plan_id, "disk": False}
        )

    async def snapshot_server(self, server_id: str, name: str) -> SnapshotInfo:
        action = await self._droplet_action("snapshot_server", server_id, {"type": "snapshot", "name": name})
        return SnapshotInfo(f"action:{action.action_id}", server_id, action.status, action.action_id)

    async def list_regions(self) -> list[RegionInfo]:
        return [
            RegionInfo(r["slug"], region_name(self.name, r["slug"]), r.get("name"), None, bool(r.get("available")))
            for r in await self._pages("list_regions", "/regions", "regions")
        ]

    async def list_plans(self) -> list[PlanPrice]:
        plans = []
        for s in await self._pages("list_plans", "/sizes", "sizes"):
            try:
                plans.append(
                    PlanPrice(
                        str(s["slug"]),
                        int(s["vcpus"]),
                        s["memory"] / 1024,
                        float(s["disk"]),
                        "USD",
                        float(s["price_monthly"]),
                        float(s["price_hourly"]),
                        tuple(s.get("regions") or ()),
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise self.bad("list_plans", f"size {s.get('slug')} is malformed") from exc
        return plans

    async def get_action(self, action_id: str) -> ActionInfo:
        data = await self.call("get_action", "GET", f"/actions/{action_id}")
        return self._action(self.field(data, "action", dict, "get_action"), "get_action")
