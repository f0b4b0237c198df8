"""Job steps: what actually happens to one instance (or one pair), idempotently.

Every step can be run again after a crash and must converge: a create first
looks for the server by our instance id (drivers and the sim both dedupe on
it), a promotion that already happened is skipped, a delete that already
happened is not sent twice.  State moves go through the transition table, and
each provider delete is preceded by a *committed* audit entry (policy rule 3).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Table, bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from engine import audit
from engine.config import Settings
from engine.domain import REGIONS, InstanceState, Provider, Tier, check_transition, plan_for
from engine.errors import ClawOpsError, InputError, NotFound
from engine.guardian import FAILED_OVER_PREFIX
from engine.operations._archives import S3Clients, archive_store
from engine.operations._stop import NOT_BOUGHT, StepStopped
from engine.policy import Caller
from engine.providers import ProviderDriver, ServerSpec
from engine.store import Account, Instance, PlanRecord, Silence, Store, Tenant, utcnow
from engine.tls import default_tls_context

log = logging.getLogger(__name__)

S = InstanceState
DEFAULT_TENANT = "default"
_ACCT_NUM = re.compile(r"^acct-(\d+)$")


class NodeCommands(Protocol):
    """How operations reach clawnode on an instance (the node gateway in production)."""

    async def invoke(self, instance_id: str, command: str, params: Mapping[str, Any]) -> dict[str, Any]: ...


@runtime_checkable
class NodeBootstrap(Protocol):
    """Node commands that also bring up real servers' nodes (``GatewayNodeCommands``; not the demo's).

    With it, a create sends cloud-init that installs clawnode with a single-use bootstrap token,
    and BOOTSTRAPPING → ACTIVE waits (bounded) for that node to connect and report healthy.
    """

    async def user_data(self, instance_id: str, *, cloud_init: bool = True) -> str: ...

    async def wait_ready(self, instance_id: str) -> dict[str, Any]: ...

    def forget_instance(self, instance_id: str) -> None: ...


def move(inst: Instance, *states: InstanceState) -> None:
    """Walk ``inst`` through ``states``, each move checked against the transition table."""
    for state in states:
        if inst.state != state.value:
            check_transition(InstanceState(inst.state), state)
            inst.state = state.value
    inst.updated_at = utcnow()


def _next_account_numbers(s: Session, count: int) -> list[int]:
    ids = s.exec(select(Account.id)).all()
    highest = max((int(m.group(1)) for i in ids if (m := _ACCT_NUM.match(i))), default=0)
    return list(range(highest + 1, highest + 1 + count))


def materialize_pairs(s: Session, caller: Caller, rec: PlanRecord, settings: Settings) -> list[dict[str, Any]]:
    """At confirmation, turn a provisioning plan into accounts and REQUESTED instances (one step per pair)."""
    tenant_id = caller.tenant_id or DEFAULT_TENANT
    if s.get(Tenant, tenant_id) is None:
        s.add(Tenant(id=tenant_id, name="Default" if tenant_id == DEFAULT_TENANT else tenant_id, is_demo=settings.demo))
    numbers = _next_account_numbers(s, len(rec.steps))
    tier = Tier(rec.args["tier"])
    label = str(rec.args.get("label") or "")
    steps: list[dict[str, Any]] = []
    for step, number in zip(rec.steps, numbers, strict=True):
        acct = f"acct-{number:03d}"
        s.add(Account(id=acct, tenant_id=tenant_id, label=label))
        s.flush()
        ids = {}
        for role, region_name in (("primary", step["primary_region"]), ("standby", step["standby_region"])):
            region = REGIONS[region_name]
            plan = plan_for(region.provider, tier)
            inst_id = f"i-{acct}-{role[0]}"
            s.add(
                Instance(
                    id=inst_id,
                    account_id=acct,
                    tenant_id=tenant_id,
                    role=role,
                    provider=region.provider.value,
                    region=region.name,
                    tier=tier.value,
                    state=S.REQUESTED.value,
                    monthly_price=plan.monthly,
                    currency=plan.currency,
                )
            )
            ids[role] = inst_id
        steps.append(
            {
                **step,
                "instance": ids["primary"],
                "standby": ids["standby"],
                "account": acct,
                "text": f"{acct}: {step['text']}",
            }
        )
    return steps


_INSTANCES: Table = Instance.__table__  # type: ignore[attr-defined]
_RESTART_FACTS = sa_select(_INSTANCES.c.provider, _INSTANCES.c.provider_server_id, _INSTANCES.c.state).where(
    _INSTANCES.c.id == bindparam("instance_id")
)
"""What a restart step reads first, built once: the whole instance as an ORM record (twenty columns, three
dates parsed) cost more than the rest of a simulated restart, and a big restart job runs hundreds of them."""


class StepRunner:
    """Carries out one step of a job against the store, the providers and the nodes."""

    def __init__(
        self, store: Store, settings: Settings, drivers: Callable[[str], ProviderDriver], nodes: NodeCommands
    ) -> None:
        self.store = store
        self.settings = settings
        self.drivers = drivers
        self.nodes = nodes
        self.archive_clients = S3Clients()
        """This engine's S3 clients for teardown archives (built once, shared by no other engine)."""

    async def run(
        self, action: str, instance_id: str, params: dict[str, Any], stopping: Callable[[], bool] | None = None
    ) -> str:
        """Run one step; returns a short detail line, raises :class:`ClawOpsError` on failure.

        ``stopping`` says whether the job has been asked to stop: a step that has bought nothing yet then
        raises :class:`StepStopped` instead of buying; one that has, finishes (no half-built pair).
        """
        if action.startswith("restart_"):
            return await self._restart(instance_id, action.removeprefix("restart_"))
        if action == "provision_pair":
            standby = str(params["standby"])
            if isinstance(self.nodes, NodeBootstrap):
                # Real servers take minutes to boot and pair: bring the primary and the standby up side by side.
                outcomes = await asyncio.gather(
                    self._create(instance_id, stopping), self._create(standby, stopping), return_exceptions=True
                )
                stopped = [
                    iid for iid, o in zip((instance_id, standby), outcomes, strict=True) if isinstance(o, StepStopped)
                ]
                if stopped and len(stopped) < 2:
                    await self._create(stopped[0])  # its partner was bought: finish the pair rather than halve it
                for outcome in outcomes:
                    if isinstance(outcome, BaseException) and not (stopped and isinstance(outcome, StepStopped)):
                        raise outcome
                if len(stopped) == 2:
                    raise StepStopped("stopped before anything was bought")
            else:
                await self._create(instance_id, stopping)
                await self._create(standby)  # the primary exists: the pair is finished even if a stop came
            await self._announce_pair(str(params["account"]), instance_id, str(params["standby"]))
            return "pair ACTIVE"
        if action == "teardown":
            return await self._teardown(instance_id, bool(params.get("archive", True)))
        if action == "resize":
            return await self._resize(instance_id, Tier(params["tier"]), str(params["plan_id"]))
        if action == "failover":
            return await self._failover(instance_id, str(params["old_primary"]))
        if action == "create_standby":
            await self._create(instance_id, stopping)
            return f"replacement standby {instance_id} ACTIVE"
        if action == "config_batch":
            return await self._config_batch([str(i) for i in params["instances"]], dict(params["config"]))
        if action == "silence":
            return self._silence(dict(params["selector"]), int(params["minutes"]), str(params.get("reason", "")))
        raise InputError(f"Job step action '{action}' is not known to this engine version.")

    def _load(self, s: Session, instance_id: str) -> Instance:
        inst = s.get(Instance, instance_id)
        if inst is None:
            raise NotFound(f"Instance {instance_id} no longer exists.")
        return inst

    # -------------------------------------------------------------- restart
    async def _restart(self, instance_id: str, component: str) -> str:
        with self.store.session() as s:
            found = s.execute(_RESTART_FACTS, {"instance_id": instance_id}).first()
            if found is None:
                raise NotFound(f"Instance {instance_id} no longer exists.")
            provider, server_id, state = found.provider, found.provider_server_id, InstanceState(found.state)
        if component == "vps":
            await self.drivers(provider).reboot_server(server_id or "")
        else:
            await self.nodes.invoke(instance_id, f"clawops.restart_{component}", {})
        health = await self.nodes.invoke(instance_id, "clawops.health", {})
        healthy = bool(health.get("healthy"))
        if healthy and state in (S.DEGRADED, S.FAILED, S.HEALING):
            with self.store.session() as s:
                inst = self._load(s, instance_id)
                move(inst, S.HEALING, S.ACTIVE)
                inst.health_reason = "recovered after restart"
                s.add(inst)
        return "healthy after restart" if healthy else "restarted; not healthy yet"

    async def _announce_pair(self, account: str, primary_id: str, standby_id: str) -> None:
        """Tell the COMPANION the pair is ACTIVE: a signed webhook, recorded first, retried later if needed."""
        url, secret = self.settings.companion_webhook_url, self.settings.companion_webhook_secret
        if not url or secret is None:
            return
        import httpx

        from engine import webhooks

        with self.store.session() as s:
            pair = [self._load(s, primary_id), self._load(s, standby_id)]
            payload = {
                "account": account,
                "tenant": pair[0].tenant_id,
                **{
                    inst.role: {
                        "instance": inst.id,
                        "provider": inst.provider,
                        "region": inst.region,
                        "ipv4": inst.ipv4,
                        "tier": inst.tier,
                    }
                    for inst in pair
                },
            }
        delivery = webhooks.enqueue(self.store, url, "pair.active", payload, key=f"pair-active-{account}")
        async with httpx.AsyncClient(verify=default_tls_context()) as client:
            await webhooks.deliver_pending(self.store, secret.get_secret_value(), client, ids=[delivery])

    # -------------------------------------------------------------- config push
    async def _config_batch(self, instance_ids: list[str], config: dict[str, Any]) -> str:
        """Apply to the whole batch, then re-check every instance's health; any failure fails the batch."""
        results = await asyncio.gather(
            *(self.nodes.invoke(i, "clawops.config_apply", {"config": config}) for i in instance_ids),
            return_exceptions=True,
        )
        refused = [
            i for i, r in zip(instance_ids, results, strict=True) if isinstance(r, BaseException) or not r.get("ok")
        ]
        if refused:
            raise ClawOpsError(f"{len(refused)} instances refused the config (first: {refused[0]})")
        health = await asyncio.gather(
            *(self.nodes.invoke(i, "clawops.health", {}) for i in instance_ids), return_exceptions=True
        )
        sick = [
            i for i, h in zip(instance_ids, health, strict=True) if isinstance(h, BaseException) or not h.get("healthy")
        ]
        if sick:
            raise ClawOpsError(
                f"{len(sick)} of {len(instance_ids)} instances unhealthy after the change (first: {sick[0]})"
            )
        return f"{len(instance_ids)} instances configured and healthy"

    async def rollback_config(self, instance_ids: list[str]) -> int:
        """Put instances back on their previous config (clawnode keeps it); returns how many confirmed."""
        results = await asyncio.gather(
            *(self.nodes.invoke(i, "clawops.config_apply", {"rollback": True}) for i in instance_ids),
            return_exceptions=True,
        )
        return sum(1 for r in results if not isinstance(r, BaseException) and r.get("ok"))

    # -------------------------------------------------------------- silence
    def _silence(self, selector: dict[str, Any], minutes: int, reason: str) -> str:
        until = utcnow() + timedelta(minutes=minutes)
        with self.store.session() as s:
            s.add(
                Silence(
                    id=f"sil-{secrets.token_hex(4)}", selector=selector, until=until, reason=reason, created_by="forge"
                )
            )
        return f"silenced until {until:%H:%M} UTC"

    # -------------------------------------------------------------- create
    async def _create(self, instance_id: str, stopping: Callable[[], bool] | None = None) -> None:
        """REQUESTED → CREATING → BOOTSTRAPPING → ACTIVE; safe to repeat at any point.

        With ``stopping`` set and true before the purchase, nothing is bought: :class:`StepStopped`.
        """
        with self.store.session() as s:
            inst = self._load(s, instance_id)
            if inst.state == S.ACTIVE.value:
                return
            if stopping is not None and inst.state == S.REQUESTED.value and stopping():
                raise StepStopped(f"{instance_id}: not bought, the job was stopped")
            if inst.state in (S.REQUESTED.value, S.ERROR.value):
                move(inst, S.CREATING)
                s.add(inst)
            region = REGIONS[inst.region]
            spec = ServerSpec(
                instance_id=inst.id,
                name=inst.id,
                region_location=region.location,
                plan_id=plan_for(Provider(inst.provider), Tier(inst.tier)).plan_id,
                labels={"clawops-instance": inst.id, "clawops-account": inst.account_id},
            )
            provider, state, server_id = inst.provider, inst.state, inst.provider_server_id
        boot = self.nodes if isinstance(self.nodes, NodeBootstrap) else None
        if state == S.CREATING.value:
            # We may have died after the provider created the server but before we recorded it:
            # look it up by our instance id first, so a resumed job never buys a second one.
            driver = self.drivers(provider)
            info = await driver.find_server(spec.instance_id)
            if info is None and stopping is not None and stopping():
                with self.store.session() as s:  # the last moment before buying: nothing exists, nothing is bought
                    inst = self._load(s, instance_id)
                    move(inst, S.ERROR)
                    inst.health_reason = NOT_BOUGHT
                    s.add(inst)
                raise StepStopped(f"{instance_id}: not bought, the job was stopped")
            if info is None:
                if boot is not None:
                    # A fresh single-use token per create attempt; the user data never reaches a log or an error.
                    spec = dataclasses.replace(
                        spec,
                        user_data=await boot.user_data(instance_id, cloud_init=driver.capabilities.supports_cloud_init),
                    )
                try:
                    info = await driver.create_server(spec)
                except ClawOpsError as err:
                    if spec.user_data is None:
                        raise
                    from engine.trust import redact  # a vendor echoing the request body must not leak the token

                    text = redact(str(err))
                    if text == str(err):
                        raise
                    raise ClawOpsError(text) from None
            with self.store.session() as s:
                inst = self._load(s, instance_id)
                inst.provider_server_id = info.server_id
                inst.ipv4 = info.ipv4
                move(inst, S.BOOTSTRAPPING)
                s.add(inst)
            server_id = info.server_id
        if boot is not None:
            # Real servers: ACTIVE only once this instance's own node has paired, connected and reported healthy.
            await boot.wait_ready(instance_id)
        else:
            # Simulated nodes answer at once, but the (emulated) server still boots at the vendor's pace:
            # BOOTSTRAPPING lasts until the provider calls it running, as it would for a real node.
            if server_id:
                await self.drivers(provider).wait_running(server_id)
            health = await self.nodes.invoke(instance_id, "clawops.health", {})
            if not health.get("healthy"):
                raise ClawOpsError(
                    f"{instance_id} booted but its node has not reported healthy yet; the job will retry."
                )
        await self._forget_user_data(provider, instance_id)
        with self.store.session() as s:
            inst = self._load(s, instance_id)
            move(inst, S.ACTIVE)
            inst.health_score = 100
            inst.health_reason = ""
            inst.last_report_at = utcnow()
            s.add(inst)

    async def _forget_user_data(self, provider: str, instance_id: str) -> None:
        """The node has used its bootstrap token: no copy of it may stay in the vendor's account."""
        try:
            await self.drivers(provider).forget_user_data(instance_id)
        except ClawOpsError as err:
            log.warning(
                "could not delete %s's bootstrap script at %s (%s); delete it in the vendor's console",
                instance_id,
                provider,
                err,
            )

    # -------------------------------------------------------------- teardown
    async def _teardown(self, instance_id: str, archive: bool) -> str:
        with self.store.session() as s:
            inst = self._load(s, instance_id)
            if inst.state == S.DELETED.value:
                return "already deleted"
            move(inst, S.DRAINING)
            s.add(inst)
            provider, server_id, state = inst.provider, inst.provider_server_id, inst.state
        detail = ""
        if archive and state == S.DRAINING.value:
            with self.store.session() as s:
                account_id = self._load(s, instance_id).account_id
            result = await self.nodes.invoke(instance_id, "clawops.archive", {"account_id": account_id})
            location = await self._store_archive(account_id, instance_id, result)
            detail = f"archived to {location}; "
            with self.store.session() as s:
                inst = self._load(s, instance_id)
                move(inst, S.ARCHIVING)
                s.add(inst)
        driver = self.drivers(provider)
        verb = "delete" if driver.capabilities.can_delete else "cancel"
        with self.store.session() as s:  # rule 3: the audit entry is committed before the provider call
            audit.append(
                s,
                actor="forge",
                channel="job",
                action=f"provider.{verb}",
                target=instance_id,
                detail={"provider": provider, "server_id": server_id},
            )
        if server_id:
            await driver.delete_server(server_id)
        with self.store.session() as s:
            inst = self._load(s, instance_id)
            if driver.capabilities.can_delete:
                move(inst, S.DELETED)
                inst.health_reason = ""
            else:
                inst.health_reason = "contract cancelled; runs (and is billed) until the end of its term"
            s.add(inst)
        if driver.capabilities.can_delete and isinstance(self.nodes, NodeBootstrap):
            self.nodes.forget_instance(instance_id)  # its node's device token stops working with the server gone
        return f"{detail}{verb}d at {provider}"

    async def _store_archive(self, account_id: str, instance_id: str, result: Mapping[str, Any]) -> str:
        """Keep the node's export in the configured archive store (a folder or an S3 bucket), verified there.

        Refuses — so the teardown never reaches the provider delete — when the export is unreadable, fails the
        node's own checksum, or cannot be stored and read back intact.  The store's I/O (boto3 is blocking)
        runs in a worker thread so the other steps of the job keep moving.
        """
        try:
            data = base64.b64decode(str(result["data"]), validate=True)
        except (KeyError, ValueError):
            raise ClawOpsError(f"{instance_id} sent no readable archive; nothing was deleted.") from None
        if result.get("sha256") and hashlib.sha256(data).hexdigest() != result["sha256"]:
            raise ClawOpsError(f"{instance_id}'s archive failed its checksum; nothing was deleted.")
        store = archive_store(self.settings, self.store, self.archive_clients)
        stored = await asyncio.to_thread(store.put, account_id, instance_id, data, utcnow())
        return stored.location

    # -------------------------------------------------------------- resize
    async def _resize(self, instance_id: str, tier: Tier, plan_id: str) -> str:
        with self.store.session() as s:
            inst = self._load(s, instance_id)
            if inst.tier == tier.value:
                return "already on the new tier"
            provider, server_id = inst.provider, inst.provider_server_id or ""
        driver = self.drivers(provider)
        # Each vendor action must finish before the next starts ("droplet already has a pending event").
        if driver.capabilities.resize_needs_power_off:
            await self._settle(driver, await driver.power_off(server_id))
        await self._settle(driver, await driver.resize_server(server_id, plan_id))
        if driver.capabilities.resize_needs_power_off:
            await self._settle(driver, await driver.power_on(server_id))
        plan = plan_for(Provider(provider), tier)
        with self.store.session() as s:
            inst = self._load(s, instance_id)
            inst.tier = tier.value
            inst.monthly_price = plan.monthly
            inst.currency = plan.currency
            inst.updated_at = utcnow()
            s.add(inst)
        return f"now {tier.value} ({plan_id})"

    @staticmethod
    async def _settle(driver: ProviderDriver, action: Any) -> None:
        """Wait for a vendor action (if the vendor has them) to finish; an error action fails the step."""
        action_id = getattr(action, "action_id", None)
        if action is None or action_id is None or getattr(action, "done", True):
            return
        final = await driver.poll_action(str(action_id))
        if getattr(final, "status", "success") == "error":
            raise ClawOpsError(
                f"{driver.name} action {action_id} failed: {getattr(final, 'error', '') or 'no reason given'}."
            )

    # -------------------------------------------------------------- failover
    async def _failover(self, standby_id: str, old_primary_id: str) -> str:
        with self.store.session() as s:
            standby = self._load(s, standby_id)
            old = self._load(s, old_primary_id)
            if standby.role == "standby":
                move(standby, S.STANDBY_PROMOTING)
                s.add(standby)
        with self.store.session() as s:
            standby = self._load(s, standby_id)
            old = self._load(s, old_primary_id)
            if standby.role == "standby":
                move(standby, S.ACTIVE)
                standby.role = "primary"
                if old.state != S.FAILED.value:
                    move(old, S.FAILED)
                old.role = "standby"
                old.health_reason = f"{FAILED_OVER_PREFIX}; replace or tear down"
                s.add(standby)
                s.add(old)
            replacement_id = self._queue_replacement(s, standby, avoid=old)
        # The user is served from here on; the replacement standby is built by a later step of the same job
        # (``create_standby``), so one slow purchase never holds up the next pair's promotion.
        return f"{standby_id} is primary; replacement standby {replacement_id} queued"

    def _queue_replacement(self, s: Session, primary: Instance, *, avoid: Instance) -> str:
        """A new standby for ``primary``'s account, in the same geo, on neither the new primary's provider
        nor the failed one's (whose region is likely down); regions spread by account (idempotent)."""
        existing = s.exec(
            select(Instance).where(
                col(Instance.account_id) == primary.account_id,
                col(Instance.role) == "standby",
                col(Instance.state).in_((S.REQUESTED.value, S.CREATING.value, S.BOOTSTRAPPING.value, S.ACTIVE.value)),
            )
        ).first()
        if existing is not None:
            return existing.id
        region = REGIONS[primary.region]
        from engine.operations._drafts import PRIMARY_PREFERENCE  # local: avoids an import cycle

        choices = [p for p in PRIMARY_PREFERENCE[region.geo] if p.value not in (primary.provider, avoid.provider)]
        choices = choices or [p for p in PRIMARY_PREFERENCE[region.geo] if p.value != primary.provider]
        provider = choices[0]
        regions = [
            r for r in REGIONS.values() if r.provider == provider and r.geo == region.geo and r.name != avoid.region
        ]
        target = regions[sum(map(ord, primary.account_id)) % len(regions)]
        count = len(s.exec(select(Instance.id).where(col(Instance.account_id) == primary.account_id)).all())
        plan = plan_for(provider, Tier(primary.tier))
        new_id = f"i-{primary.account_id}-s{count}"
        s.add(
            Instance(
                id=new_id,
                account_id=primary.account_id,
                tenant_id=primary.tenant_id,
                role="standby",
                provider=provider.value,
                region=target.name,
                tier=primary.tier,
                state=S.REQUESTED.value,
                monthly_price=plan.monthly,
                currency=plan.currency,
            )
        )
        return new_id
