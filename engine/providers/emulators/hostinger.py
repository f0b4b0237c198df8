"""Hostinger VPS API emulator (``/api/vps/v1``, ``/api/billing/v1``; shared/specs/hostinger.json).

Buying a VM is an order (``item_id`` is a catalog *price* id) that charges a payment method;
the VM goes ``initial`` → ``creating`` (90 s) → ``starting`` (30 s) → ``running``.  There is
no delete and no cancel: only ``DELETE /api/billing/v1/subscriptions/{id}/auto-renewal/disable``,
after which the VM runs to ``expires_at`` and is then destroyed.  The VM list is a plain array.
Errors are ``{message, correlation_id}`` (422 adds ``errors{field: [..]}``); 429 has no headers.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from aiohttp import web

from engine.providers.emulators._catalog import HOSTINGER_LOCATIONS, HOSTINGER_PLANS, HOSTINGER_TEMPLATES
from engine.providers.emulators._core import (
    EmuAction,
    EmuError,
    EmuServer,
    Vendor,
    ipv4_for,
    ipv6_for,
    json_response,
    read_json,
)

VPS = "/api/vps/v1"
BILLING = "/api/billing/v1"
_DC = {loc.numeric_id: loc for loc in HOSTINGER_LOCATIONS}
_STATE = {
    "provisioning": "creating",
    "booting": "starting",
    "running": "running",
    "off": "stopped",
    "rebooting": "starting",
    "starting": "starting",
    "stopping": "stopping",
    "snapshotting": "running",
    "deleting": "destroying",
}
_ACTION_STATE = {"running": "sent", "success": "success", "error": "error"}
MONTH = 30 * 86400.0


class Hostinger(Vendor):
    name = "hostinger"
    prefix = ""
    rate_windows = ((10.0, 1.0),)
    rate_headers = ""

    def __init__(self, state: Any) -> None:
        super().__init__(state)
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.scripts: dict[int, dict[str, Any]] = {}
        self.script_seq = 300

    def error(self, status: int, code: str, message: str) -> web.Response:
        if status == 401:
            message = "Unauthenticated."
        elif status == 429:
            message = "Too Many Attempts."
        return json_response({"message": message, "correlation_id": str(uuid.uuid4())}, status)

    def invalid(self, field: str, message: str) -> web.Response:
        return json_response(
            {"message": message, "errors": {field: [message]}, "correlation_id": str(uuid.uuid4())}, 422
        )

    def is_create(self, request: web.Request) -> bool:
        return request.method == "POST" and request.path == VPS + "/virtual-machines"

    def routes(self) -> list[web.RouteDef]:
        vm = VPS + "/virtual-machines/{id}"
        return [
            web.post(VPS + "/virtual-machines", self.purchase),
            web.get(VPS + "/virtual-machines", self.list),
            web.get(vm, self.get),
            web.post(vm + "/{verb:restart|start|stop}", self.power),
            web.get(vm + "/actions/{action}", self.get_action),
            web.post(vm + "/snapshot", self.snapshot),
            web.get(VPS + "/data-centers", self.data_centers),
            web.get(VPS + "/templates", self.templates),
            web.post(VPS + "/post-install-scripts", self.create_script),
            web.get(VPS + "/post-install-scripts", self.list_scripts),
            web.delete(VPS + "/post-install-scripts/{id}", self.delete_script),
            web.get(BILLING + "/catalog", self.catalog),
            web.get(BILLING + "/subscriptions", self.list_subscriptions),
            web.delete(BILLING + "/subscriptions/{id}/auto-renewal/disable", self.disable_renewal),
        ]

    # --- rendering ---------------------------------------------------------------------------

    def vm_json(self, s: EmuServer) -> dict[str, Any]:
        cpus, ram, disk, _, _ = HOSTINGER_PLANS[s.plan]
        stage = s.stage(self.state.now())
        state = (
            "initial" if stage == "provisioning" and self.state.now() < s.created + 5 else _STATE.get(stage, "error")
        )
        return {
            "id": s.id,
            "firewall_group_id": None,
            "subscription_id": s.extra["subscription"],
            "data_center_id": s.extra["dc"],
            "plan": f"KVM {s.plan.rsplit('kvm', 1)[-1]}",
            "hostname": s.name,
            "state": state,
            "actions_lock": "unlocked" if stage in ("running", "off") else "locked",
            "cpus": cpus,
            "memory": ram * 1024,
            "disk": disk * 1024,
            "bandwidth": 1024 * 1024 * 4,
            "ns1": "8.8.8.8",
            "ns2": "8.8.4.4",
            "ipv4": [{"id": s.seq, "address": ipv4_for(s.seq), "ptr": None}],
            "ipv6": [{"id": s.seq + 1, "address": ipv6_for(s.seq), "ptr": None}],
            "template": {
                "id": int(s.image),
                "name": HOSTINGER_TEMPLATES.get(int(s.image), "Custom"),
                "description": HOSTINGER_TEMPLATES.get(int(s.image), "Custom"),
                "documentation": None,
            },
            "created_at": self.state.iso(s.created),
        }

    def action_json(self, a: EmuAction) -> dict[str, Any]:
        return {
            "id": a.id,
            "name": a.command,
            "state": _ACTION_STATE[a.status(self.state.now())],
            "created_at": self.state.iso(a.started),
            "updated_at": self.state.iso(),
        }

    def subscription_json(self, sub_id: str) -> dict[str, Any]:
        sub = self.subscriptions[sub_id]
        monthly = int(round(HOSTINGER_PLANS[sub["plan"]][3] * 100))
        return {
            "id": sub_id,
            "name": f"KVM {sub['plan'].rsplit('kvm', 1)[-1]}",
            "status": "active" if sub["auto"] else "not_renewing",
            "billing_period": 1,
            "billing_period_unit": "month",
            "currency_code": "USD",
            "total_price": monthly,
            "renewal_price": monthly,
            "is_auto_renewed": sub["auto"],
            "created_at": self.state.iso(sub["created"]),
            "expires_at": self.state.iso(sub["expires"]),
            "next_billing_at": self.state.iso(sub["expires"]) if sub["auto"] else None,
        }

    def plant(
        self,
        *,
        name: str,
        location: str = "vno",
        plan: str = "hostingercom-vps-kvm2",
        image: str = "1077",
        ready: bool = True,
    ) -> EmuServer:
        seq = self.state.next_seq()
        dc = next(loc.numeric_id for loc in HOSTINGER_LOCATIONS if loc.id == location)
        created = self.state.now() - (86400 if ready else 0)
        s = EmuServer(
            id=1_000_000 + seq,
            name=name,
            plan=plan,
            location=location,
            image=image,
            created=created,
            provision_s=90.0,
            boot_s=30.0,
            seq=seq,
        )
        sub_id = "Azz" + secrets.token_hex(7)
        self.subscriptions[sub_id] = {
            "plan": plan,
            "auto": True,
            "created": created,
            "expires": created + MONTH,
            "vm": s.id,
        }
        s.extra.update(subscription=sub_id, dc=dc)
        return self.state.add_server(s)

    def _live(self) -> list[EmuServer]:
        now = self.state.now()
        out = []
        for s in self.state.live_servers():
            sub = self.subscriptions[s.extra["subscription"]]
            if sub["auto"] and now >= sub["expires"]:
                while sub["expires"] <= now:
                    sub["expires"] += MONTH  # renewed
            if not sub["auto"] and now >= sub["expires"]:
                del self.state.servers[s.id]  # the subscription ran out: the VM is destroyed
                continue
            out.append(s)
        return out

    def _vm(self, request: web.Request) -> EmuServer:
        try:
            sid = int(request.match_info["id"])
        except ValueError:
            raise EmuError(404, "not_found", "Virtual machine not found") from None
        for s in self._live():
            if s.id == sid:
                return s
        raise EmuError(404, "not_found", "Virtual machine not found")

    # --- handlers ----------------------------------------------------------------------------

    async def purchase(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        item = str(body.get("item_id") or "")
        setup = body.get("setup")
        if not item:
            return self.invalid("item_id", "The item id field is required.")
        if not isinstance(setup, dict):
            return self.invalid("setup", "The setup field is required.")
        plan = item.rsplit("-", 2)[0] if item.count("-") >= 3 else item
        if plan not in HOSTINGER_PLANS or not item.endswith(("-usd-1m", "-usd-12m", "-usd-24m")):
            return self.invalid("item_id", f"The selected item id {item} is invalid.")
        dc = setup.get("data_center_id")
        if dc not in _DC:
            return self.invalid("setup.data_center_id", "The selected data center is invalid.")
        if setup.get("template_id") not in HOSTINGER_TEMPLATES:
            return self.invalid("setup.template_id", "The selected template is invalid.")
        script = setup.get("post_install_script_id")
        if script is not None and script not in self.scripts:
            return self.invalid("setup.post_install_script_id", "The selected post install script is invalid.")
        if _DC[dc].id in self.state.faults.outage_locations:
            raise EmuError(500, "server_error", "Something went wrong, please try again later.")
        s = self.plant(
            name=str(setup.get("hostname") or f"srv{self.state.next_seq()}.hstgr.cloud"),
            location=_DC[dc].id,
            plan=plan,
            image=str(setup["template_id"]),
            ready=False,
        )
        s.user_data = self.scripts[script]["content"] if script is not None else None
        price = int(round(HOSTINGER_PLANS[plan][4] * 100))
        now = self.state.iso()
        order = {
            "id": 2_000_000 + s.seq,
            "subscription_id": s.extra["subscription"],
            "status": "completed",
            "currency": "USD",
            "subtotal": price,
            "total": price,
            "billing_address": {
                "first_name": "Emu",
                "last_name": "Lator",
                "company": None,
                "address_1": None,
                "address_2": None,
                "city": None,
                "state": None,
                "zip": None,
                "country": "LT",
                "phone": None,
                "email": "ops@example.com",
            },
            "created_at": now,
            "updated_at": now,
        }
        return json_response({"order": order, "virtual_machine": self.vm_json(s)})

    async def list(self, request: web.Request) -> web.Response:
        return json_response([self.vm_json(s) for s in sorted(self._live(), key=lambda s: s.id)])

    async def get(self, request: web.Request) -> web.Response:
        return json_response(self.vm_json(self._vm(request)))

    async def power(self, request: web.Request) -> web.Response:
        s = self._vm(request)
        verb = request.match_info["verb"]
        now = self.state.now()
        if s.location in self.state.faults.outage_locations:
            raise EmuError(500, "server_error", "Something went wrong, please try again later.")
        if not s.ready(now):
            raise EmuError(409, "conflict", "Virtual machine is locked by another action.")
        if verb == "restart":
            s.transition, s.power = ("rebooting", now + 20.0), "on"
        elif verb == "stop":
            s.transition, s.power = ("stopping", now + 10.0), "off"
        else:
            s.transition, s.power = ("starting", now + 10.0), "on"
        a = self.state.new_action(f"vps_{verb}", s.id, 20.0 if verb == "restart" else 10.0)
        return json_response(self.action_json(a))

    async def get_action(self, request: web.Request) -> web.Response:
        s = self._vm(request)
        try:
            a = self.state.actions[int(request.match_info["action"])]
        except (KeyError, ValueError):
            raise EmuError(404, "not_found", "Action not found") from None
        if a.resource_id != s.id:
            raise EmuError(404, "not_found", "Action not found")
        return json_response(self.action_json(a))

    async def snapshot(self, request: web.Request) -> web.Response:
        s = self._vm(request)
        self.state.snapshots[s.id] = {"server": s.id, "created": self.state.now()}  # one slot: overwrites
        a = self.state.new_action("vps_snapshot_create", s.id, 30.0)
        return json_response(self.action_json(a))

    async def data_centers(self, request: web.Request) -> web.Response:
        return json_response(
            [
                {
                    "id": loc.numeric_id,
                    "name": loc.id,
                    "location": loc.country,
                    "city": loc.city,
                    "continent": loc.continent,
                }
                for loc in HOSTINGER_LOCATIONS
            ]
        )

    async def templates(self, request: web.Request) -> web.Response:
        return json_response(
            [
                {"id": tid, "name": name, "description": name, "documentation": None}
                for tid, name in HOSTINGER_TEMPLATES.items()
            ]
        )

    async def create_script(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if not body.get("name") or not body.get("content"):
            return self.invalid("content", "The name and content fields are required.")
        if len(str(body["content"]).encode()) > 48 * 1024:
            return self.invalid("content", "The content may not be greater than 48 kilobytes.")
        self.script_seq += 1
        sid = self.script_seq
        now = self.state.iso()
        self.scripts[sid] = {
            "id": sid,
            "name": body["name"],
            "content": body["content"],
            "created_at": now,
            "updated_at": now,
        }
        return json_response(self.scripts[sid])

    async def list_scripts(self, request: web.Request) -> web.Response:
        """Paginated like the vendor's (``data`` + ``meta``), 15 per page."""
        try:
            page = max(int(request.query.get("page", "1")), 1)
        except ValueError:
            return self.invalid("page", "The page must be an integer.")
        items = sorted(self.scripts.values(), key=lambda sc: int(sc["id"]))
        chunk = items[(page - 1) * 15 : page * 15]
        return json_response({"data": chunk, "meta": {"current_page": page, "per_page": 15, "total": len(items)}})

    async def delete_script(self, request: web.Request) -> web.Response:
        try:
            sid = int(request.match_info["id"])
        except ValueError:
            return self.error(404, "404", "Post-install script not found")
        if self.scripts.pop(sid, None) is None:
            return self.error(404, "404", "Post-install script not found")
        return json_response({"message": "Request accepted"})

    async def catalog(self, request: web.Request) -> web.Response:
        items = []
        for plan, (cpu, ram, disk, monthly, first) in HOSTINGER_PLANS.items():
            prices = [
                {
                    "id": f"{plan}-usd-{n}m",
                    "name": f"{n} month{'s' if n > 1 else ''}",
                    "currency": "USD",
                    "price": int(round(monthly * 100 * n * (1 if n == 1 else 0.8))),
                    "first_period_price": int(round(first * 100 * n)),
                    "period": n,
                    "period_unit": "month",
                }
                for n in (1, 12, 24)
            ]
            items.append(
                {
                    "id": plan,
                    "name": f"KVM {plan.rsplit('kvm', 1)[-1]}",
                    "category": "VPS",
                    "metadata": {"cpus": str(cpu), "memory": str(ram * 1024), "disk_space": str(disk * 1024)},
                    "prices": prices,
                }
            )
        if request.query.get("category") not in (None, "VPS"):
            items = []
        return json_response(items)

    async def list_subscriptions(self, request: web.Request) -> web.Response:
        self._live()
        return json_response(
            [
                self.subscription_json(sid)
                for sid in self.subscriptions
                if self.subscriptions[sid]["vm"] in self.state.servers
            ]
        )

    async def disable_renewal(self, request: web.Request) -> web.Response:
        sub_id = request.match_info["id"]
        if sub_id not in self.subscriptions:
            raise EmuError(404, "not_found", "Subscription not found")
        self.subscriptions[sub_id]["auto"] = False
        return json_response(self.subscription_json(sub_id))
