"""Hostinger VPS driver (``https://developers.hostinger.com`` + ``/api/vps/v1``, ``/api/billing/v1``).

Creating a VM **is a purchase** (``item_id`` = catalog price id, charged to the default
payment method): never retried blindly.  Hostinger has no labels, so our instance id rides in
the hostname (``<name>--<instance id>``) and a lookup lists the VMs (a plain array, one
request).  No delete and no cancel in the public API: ``delete_server`` disables the
subscription's auto-renewal and the VM runs until ``expires_at`` (``get_server`` reports
that date as ``cancel_date`` and the phase DELETING).  No cloud-init: ``user_data`` becomes a
post-install script (≤ 48 KB) run once after setup.  No resize.  Actions are per VM, so an
action id here is ``<vm id>/<action id>``.
"""

from __future__ import annotations

from typing import Any

from engine.providers._base import (
    ActionInfo,
    Capabilities,
    Phase,
    PlanPrice,
    RegionInfo,
    ServerInfo,
    ServerSpec,
    SnapshotInfo,
    instance_id_from_name,
    location_part,
    owned_name,
    region_name,
)
from engine.providers._http import HttpDriver
from engine.providers.errors import ProviderInvalidRequest
from engine.providers.states import ACTION_STATUS, HOSTINGER, state_of, table_phase

VPS = "/api/vps/v1"
BILLING = "/api/billing/v1"


class HostingerDriver(HttpDriver):
    name = "hostinger"
    default_base_url = "https://developers.hostinger.com"
    capabilities = Capabilities(
        can_delete=False,
        create_is_purchase=True,
        supports_cloud_init=False,
        can_resize=False,
        can_snapshot=True,
        hourly_billing=False,
        supports_labels=False,
        has_action_objects=True,
        pricing_api=True,
    )

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._data_centers: dict[str, int] | None = None
        self._templates: dict[str, int] | None = None

    def _parse_error(self, body: Any, resp: Any) -> tuple[str | None, str | None, str | None]:
        if not isinstance(body, dict):
            return None, None, None
        message = body.get("message")
        errors = body.get("errors")
        if isinstance(errors, dict) and errors:
            details = "; ".join(
                f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in errors.items()
            )
            message = f"{message} ({details})" if message else details
        return None, message, body.get("correlation_id")

    def _info(self, obj: Any, op: str, cancel_date: str | None = None) -> ServerInfo:
        sid = self.field(obj, "id", int, op)
        state = self.field(obj, "state", str, op)
        hostname = obj.get("hostname")
        phase = table_phase(HOSTINGER, state)
        if cancel_date and phase not in (Phase.GONE, Phase.ERROR):
            phase = Phase.DELETING
        v4 = obj.get("ipv4") or []
        v6 = obj.get("ipv6") or []
        dc = obj.get("data_center_id")
        location = next((name for name, i in (self._data_centers or {}).items() if i == dc), None)
        return ServerInfo(
            server_id=str(sid),
            instance_id=instance_id_from_name(hostname),
            state=state_of(phase),
            vendor_status=state,
            ipv4=v4[0].get("address") if v4 else None,
            ipv6=v6[0].get("address") if v6 else None,
            plan_id=obj.get("plan"),
            location=location or (str(dc) if dc is not None else None),
            name=hostname,
            phase=phase,
            cancel_date=cancel_date,
        )

    def _action(self, vm_id: str, obj: Any, op: str) -> ActionInfo:
        state = self.field(obj, "state", str, op)
        return ActionInfo(
            action_id=f"{vm_id}/{self.field(obj, 'id', int, op)}",
            command=str(obj.get("name", "")),
            status=ACTION_STATUS["hostinger"].get(state, "error"),
            vendor_status=state,
            error="action failed" if state == "error" else None,
        )

    # --- lookups -------------------------------------------------------------------------------

    async def _data_center_ids(self) -> dict[str, int]:
        if self._data_centers is None:
            await self.list_regions()
        assert self._data_centers is not None
        return self._data_centers

    async def _template_id(self, image: str) -> int:
        if image.isdigit():
            return int(image)
        if self._templates is None:
            items = await self.call("list_templates", "GET", f"{VPS}/templates")
            self._templates = {str(t.get("name")): int(t["id"]) for t in items or [] if "id" in t}
        wanted = image.replace("-", " ").lower()  # ubuntu-24.04 → "ubuntu 24.04"
        for name, tid in self._templates.items():
            if name.lower().startswith(wanted):
                return tid
        raise ProviderInvalidRequest(self.name, "create_server", vendor_message=f"no template matches '{image}'")

    # --- operations ----------------------------------------------------------------------------

    async def create_server(self, spec: ServerSpec) -> ServerInfo:
        location = location_part(spec.region_location)
        dcs = await self._data_center_ids()
        if location not in dcs:
            raise ProviderInvalidRequest(
                self.name,
                "create_server",
                vendor_message=f"unknown data center '{location}'",
                hint=f"use one of: {', '.join(sorted(dcs))}.",
            )
        hostname = owned_name(spec)
        setup: dict[str, Any] = {
            "template_id": await self._template_id(spec.image),
            "data_center_id": dcs[location],
            "hostname": hostname,
            "enable_backups": False,
            "install_monarx": False,
        }
        keys = [k for k in spec.ssh_keys if k.startswith(("ssh-", "ecdsa-"))]
        if keys:
            setup["public_key"] = {"name": f"clawops-{spec.instance_id}", "key": keys[0]}
        if spec.user_data:
            script = await self.call(
                "create_post_install_script",
                "POST",
                f"{VPS}/post-install-scripts",
                json={"name": f"clawops-{spec.instance_id}", "content": spec.user_data},
            )
            setup["post_install_script_id"] = self.field(script, "id", int, "create_post_install_script")
        body = {"item_id": spec.plan_id, "setup": setup}

        async def create() -> ServerInfo:
            data = await self.call("create_server", "POST", f"{VPS}/virtual-machines", json=body)
            return self._info(self.field(data, "virtual_machine", dict, "create_server"), "create_server")

        return await self._create_with_lookup(spec, create)

    async def forget_user_data(self, instance_id: str) -> int:
        """Delete the post-install script of ``instance_id``: it holds the node's bootstrap token (and a
        Tailscale key), and Hostinger would otherwise keep it in the account for good."""
        name, deleted, page = f"clawops-{instance_id}", 0, 1
        while True:
            data = await self.call("forget_user_data", "GET", f"{VPS}/post-install-scripts", params={"page": page})
            scripts = self.field(data, "data", list, "forget_user_data")
            for script in scripts:
                if isinstance(script, dict) and script.get("name") == name:
                    await self.call("forget_user_data", "DELETE", f"{VPS}/post-install-scripts/{script['id']}")
                    deleted += 1
            meta = data.get("meta") if isinstance(data, dict) else None
            per_page = int(meta.get("per_page") or 15) if isinstance(meta, dict) else 15
            total = int(meta.get("total") or 0) if isinstance(meta, dict) else 0
            if not scripts or page * per_page >= total:
                return deleted
            page += 1

    async def get_server(self, server_id: str) -> ServerInfo:
        await self._data_center_ids()
        vm = await self.call("get_server", "GET", f"{VPS}/virtual-machines/{server_id}")
        cancel = None
        sub_id = vm.get("subscription_id") if isinstance(vm, dict) else None
        if sub_id:
            subs = await self.call("get_server", "GET", f"{BILLING}/subscriptions")
            for sub in subs or []:
                if sub.get("id") == sub_id and sub.get("is_auto_renewed") is False:
                    cancel = sub.get("expires_at")
        return self._info(vm, "get_server", cancel)

    async def list_servers(self) -> list[ServerInfo]:
        await self._data_center_ids()
        vms = await self.call("list_servers", "GET", f"{VPS}/virtual-machines")
        if not isinstance(vms, list):
            raise self.bad("list_servers", "virtual-machines is not a list")
        return [self._info(vm, "list_servers") for vm in vms]

    async def delete_server(self, server_id: str) -> None:
        """Hostinger cannot delete or cancel via API: disable auto-renewal; the VM runs to its term end."""
        vm = await self.call("cancel_server", "GET", f"{VPS}/virtual-machines/{server_id}")
        sub_id = self.field(vm, "subscription_id", str, "cancel_server")
        await self.call("cancel_server", "DELETE", f"{BILLING}/subscriptions/{sub_id}/auto-renewal/disable")

    async def _vm_action(self, op: str, server_id: str, verb: str) -> ActionInfo:
        data = await self.call(op, "POST", f"{VPS}/virtual-machines/{server_id}/{verb}")
        return self._action(server_id, data, op)

    async def reboot_server(self, server_id: str) -> None:
        await self._vm_action("reboot_server", server_id, "restart")

    async def power_off(self, server_id: str) -> ActionInfo:
        return await self._vm_action("power_off", server_id, "stop")

    async def power_on(self, server_id: str) -> ActionInfo:
        return await self._vm_action("power_on", server_id, "start")

    async def snapshot_server(self, server_id: str, name: str) -> SnapshotInfo:
        """Hostinger keeps one snapshot per VM: a new one replaces the old."""
        action = await self._vm_action("snapshot_server", server_id, "snapshot")
        return SnapshotInfo(server_id, server_id, action.status, action.action_id)

    async def get_action(self, action_id: str) -> ActionInfo:
        vm_id, _, aid = action_id.partition("/")
        data = await self.call("get_action", "GET", f"{VPS}/virtual-machines/{vm_id}/actions/{aid}")
        return self._action(vm_id, data, "get_action")

    async def list_regions(self) -> list[RegionInfo]:
        dcs = await self.call("list_regions", "GET", f"{VPS}/data-centers")
        if not isinstance(dcs, list):
            raise self.bad("list_regions", "data-centers is not a list")
        self._data_centers = {str(d.get("name")): int(d["id"]) for d in dcs if "id" in d}
        return [
            RegionInfo(str(d.get("name")), region_name(self.name, d.get("name")), d.get("city"), d.get("location"))
            for d in dcs
        ]

    async def list_plans(self) -> list[PlanPrice]:
        """Monthly (1-month period) prices from the billing catalog; the price id is what create takes."""
        items = await self.call("list_plans", "GET", f"{BILLING}/catalog", params={"category": "VPS"})
        plans = []
        for item in items or []:
            meta = item.get("metadata") or {}
            try:
                cpus = int(meta.get("cpus", 0))
                ram = int(meta.get("memory", 0)) / 1024
                disk = int(meta["disk_space"]) / 1024 if "disk_space" in meta else None
            except (TypeError, ValueError):
                cpus, ram, disk = 0, 0.0, None
            for price in item.get("prices") or []:
                if price.get("period") == 1 and price.get("period_unit") == "month":
                    plans.append(
                        PlanPrice(
                            str(price["id"]),
                            cpus,
                            ram,
                            disk,
                            str(price.get("currency", "USD")),
                            int(price["price"]) / 100,
                            None,
                        )
                    )
        return plans
