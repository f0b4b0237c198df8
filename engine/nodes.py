"""The engine's side of the node gateway: start it, reach nodes through it, and bootstrap new ones.

The gateway (``engine.gateway``) speaks the OpenClaw protocol; this module is the glue the engine
needs around it:

* the shared node token (from settings, or generated once into the encrypted secret store);
* a health-report sink that records each node's latest report in ``health_reports`` (what
  Guardian's sweep reads), and binds a node that paired without a bootstrap token to its instance
  from the facts in its config (instance id, or account + role + provider + region);
* :class:`GatewayNodeCommands`, the production ``NodeCommands``: job steps invoke the node's
  allowlisted commands on an *instance*, mapped to the paired device in the store;
* bootstrap for new servers: the cloud-init user data with a single-use token per instance, and
  the bounded wait until that instance's node has connected and reported healthy.

The demo keeps ``SimNodeCommands``; only the configured-providers mode uses the gateway.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlmodel import col, select

from engine.errors import ClawOpsError, ConfigError, Unavailable
from engine.store import HealthReportRecord, Instance, SecretRecord, Store, utcnow

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.gateway import NodeGateway, OpenClawOperatorLink, PairedDevice, StoredDeviceRegistry
    from engine.runtime import Engine
    from node.protocol import NodeHealthReport

__all__ = [
    "GATEWAY_TOKEN_SECRET",
    "TAILSCALE_SECRET",
    "BootstrapOptions",
    "GatewayNodeCommands",
    "NodeUnavailable",
    "gateway_token",
    "optional_secret",
    "record_health_report",
    "start_node_gateway",
    "start_openclaw_link",
]

log = logging.getLogger(__name__)

GATEWAY_TOKEN_SECRET = "clawops/gateway-token"
TAILSCALE_SECRET = "tailscale.authkey"
"""Secret-store name of the operator's Tailscale auth key; absent = new servers do not join a tailnet."""

_GONE = ("DELETED",)


class NodeUnavailable(Unavailable):
    """An instance's node cannot be reached now; the step fails and the job can be retried."""

    def __init__(self, instance_id: str, message: str) -> None:
        super().__init__(message)
        self.instance_id = instance_id


class NodeCommandFailed(ClawOpsError):
    """The node ran the command and reported a failure."""


@dataclass(frozen=True, slots=True)
class BootstrapOptions:
    """What a new server's cloud-init needs besides its instance: where the gateway is, what to install.

    ``gateway_url`` is the address *nodes* dial, which is not the address the gateway listens on
    (``0.0.0.0`` or loopback behind a proxy, a tailnet name…): the ``gateway_public_url`` setting
    (``CLAWOPS_GATEWAY_PUBLIC_URL``), else derived from the listening address.
    """

    gateway_url: str
    package: str = "clawops"
    openclaw_image: str | None = None
    tls_fingerprint: str | None = None
    token_ttl_s: float = 2 * 3600.0
    """A bootstrap token outlives a slow boot (Contabo can take well over 10 minutes) but not a day."""
    ready_timeout_s: float = 900.0
    """How long a create waits for the new node to connect and report healthy before the step fails."""
    connect_wait_s: float = 10.0
    """How long a command waits for a node that is (re)connecting before it says the node is not there."""
    poll_s: float = 1.0
    tailscale_secret: str = TAILSCALE_SECRET
    explicit_url: bool = False
    """The operator named ``gateway_url`` (trusted as is); a derived one must not be loopback."""

    @classmethod
    def from_settings(cls, settings: Settings) -> BootstrapOptions:
        named = (settings.gateway_public_url or "").strip()
        url = named
        if not url:
            host = settings.gateway_host
            url = f"ws://{f'[{host}]' if ':' in host else host}:{settings.gateway_port}/"
        return cls(
            gateway_url=url,
            explicit_url=bool(named),
            package=(settings.node_package or "").strip() or _own_package(),
            openclaw_image=(settings.openclaw_image or "").strip() or None,
            tls_fingerprint=(settings.gateway_tls_fingerprint or "").strip() or None,
        )

    def check_reachable(self) -> None:
        """Refuse to bake an address no VPS can dial (loopback, unspecified) into a server's user data.

        An explicitly configured URL is trusted (an SSH reverse tunnel or a test rig may dial loopback).
        """
        if self.explicit_url:
            return
        host = urlsplit(self.gateway_url).hostname or ""
        try:
            ip = ipaddress.ip_address(host)
            local = ip.is_loopback or ip.is_unspecified
        except ValueError:
            local = host in ("localhost", "")
        if local:
            raise ConfigError(
                f"New servers cannot reach the node gateway at {self.gateway_url}; set CLAWOPS_GATEWAY_PUBLIC_URL "
                "to the ws:// or wss:// address nodes should dial (a public name or a Tailscale address), then retry."
            )


def _own_package() -> str:
    """``clawops==<this engine's version>``: new nodes run the clawnode that matches the engine that made them."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"clawops=={version('clawops')}"
    except PackageNotFoundError:
        return "clawops"


def gateway_token(engine: Engine) -> str:
    """``CLAWOPS_GATEWAY_TOKEN`` if set, else one generated once and kept encrypted in the secret store."""
    if engine.settings.gateway_token is not None:
        return engine.settings.gateway_token.get_secret_value()
    from engine.gateway import new_token

    token: str = engine.trust.secrets.get_or_create(GATEWAY_TOKEN_SECRET, new_token)
    return token


def optional_secret(engine: Engine, name: str) -> str | None:
    """The secret ``name`` if the operator stored one, else None — without creating a master key for nothing."""
    with engine.store.session() as s:
        if s.get(SecretRecord, name) is None:
            return None
    return engine.trust.secrets.get(name)


def record_health_report(engine: Engine, report: NodeHealthReport) -> bool:
    """Upsert the node's latest report for its instance; False (and a log line) if it names no known instance."""
    return _record(engine.store, report)


def _record(store: Store, report: NodeHealthReport) -> bool:
    from engine.guardian import report_record

    if not report.instance_id:
        log.warning("health report from node %s names no instance; pair it with an instance id", report.node_id)
        return False
    with store.session() as s:
        if s.get(Instance, report.instance_id) is None:
            log.warning(
                "health report for unknown instance %s from node %s dropped", report.instance_id, report.node_id
            )
            return False
        record: HealthReportRecord = report_record(report, utcnow())
        s.merge(record)
    return True


def _instance_for_facts(store: Store, report: NodeHealthReport) -> Instance | None:
    """The one live instance a node's own config describes, or None when it is absent or ambiguous.

    Its instance id (or its hostname, which provisioning sets to the instance id) wins; otherwise
    account + role + provider + region must single out exactly one instance.  The account a node
    names must be the instance's: a node cannot claim another account's server.
    """
    with store.session() as s:
        for candidate in (report.instance_id, report.hostname):
            if candidate:
                inst = s.get(Instance, candidate)
                if inst is not None and inst.state not in _GONE and report.account_id in (None, inst.account_id):
                    return inst
        if not (report.account_id and report.role):
            return None
        query = select(Instance).where(
            col(Instance.account_id) == report.account_id,
            col(Instance.role) == report.role,
            col(Instance.state).not_in(_GONE),
        )
        if report.provider:
            query = query.where(col(Instance.provider) == report.provider)
        if report.region:
            query = query.where(col(Instance.region) == report.region)
        rows = list(s.exec(query.limit(2)).all())
    return rows[0] if len(rows) == 1 else None


def bind_from_report(store: Store, registry: StoredDeviceRegistry, report: NodeHealthReport) -> NodeHealthReport:
    """Bind an unbound device to the instance its config describes (operator-approved nodes have no token grant).

    An instance another device already serves is not taken over this way: only a bootstrap token
    issued for that instance (a re-provision) moves it.
    """
    import dataclasses

    device = registry.get(report.node_id)
    if device is None or device.instance_id is not None:
        return report
    inst = _instance_for_facts(store, report)
    if inst is None:
        return report
    owner = registry.device_for_instance(inst.id)
    if owner is not None and owner.device_id != device.device_id:
        log.warning(
            "node %s describes %s, which node %s already serves; not re-binding",
            report.node_id[:12],
            inst.id,
            owner.device_id[:12],
        )
        return report
    registry.bind(device.device_id, instance_id=inst.id, account_id=inst.account_id)
    log.info("node %s bound to instance %s from its config", report.node_id[:12], inst.id)
    return dataclasses.replace(report, instance_id=inst.id, account_id=inst.account_id)


async def start_node_gateway(engine: Engine, *, port: int | None = None) -> Any:
    """Start the node gateway on the configured address; returns it (``await gw.stop()`` to end).

    The pairing registry is the store's, so nodes paired before a restart reconnect with their device
    tokens; when the engine's node commands go through the gateway they are attached to it here.
    """
    from engine.gateway import NodeGateway, StoredDeviceRegistry

    nodes = engine.nodes
    registry = nodes.registry if isinstance(nodes, GatewayNodeCommands) else StoredDeviceRegistry(engine.store)

    async def on_report(report: NodeHealthReport) -> None:
        report = bind_from_report(engine.store, registry, report)
        record_health_report(engine, report)

    _link_settings(engine)  # a half-configured operator link is refused before anything listens
    registry.reload()  # every paired device in memory before the fleet reconnects
    gateway = NodeGateway(
        engine.settings.gateway_host,
        engine.settings.gateway_port if port is None else port,
        gateway_token(engine),
        on_health_report=on_report,
        registry=registry,
    )
    await gateway.start()
    if isinstance(nodes, GatewayNodeCommands):
        nodes.attach(gateway)
    link = start_openclaw_link(engine, on_report)
    if link is not None:
        gateway.upstream = link
        gateway.on_stop(link.stop)
        if isinstance(nodes, GatewayNodeCommands):
            nodes.attach_upstream(link)
    return gateway


def _link_settings(engine: Engine) -> tuple[str, str] | None:
    """``(url, token)`` of the real OpenClaw gateway to follow, None when unset; ConfigError when half-set."""
    url = (engine.settings.openclaw_gateway_url or "").strip()
    if not url:
        return None
    if not url.startswith(("ws://", "wss://")):
        raise ConfigError(f"openclaw_gateway_url must be a ws:// or wss:// address, not {url!r}; fix the setting.")
    secret = engine.settings.openclaw_gateway_token
    if secret is None:
        raise ConfigError(
            "openclaw_gateway_url is set but openclaw_gateway_token is not; set "
            "CLAWOPS_OPENCLAW_GATEWAY_TOKEN to that gateway's token."
        )
    return url, secret.get_secret_value()


def start_openclaw_link(engine: Engine, on_report: Callable[[NodeHealthReport], Any]) -> OpenClawOperatorLink | None:
    """The operator link to a real OpenClaw gateway (``openclaw_gateway_url``), started; None when not configured.

    How ClawOps sees nodes that sit behind a real gateway: that gateway does not pass ClawOps's health events on,
    so the engine connects to it as an operator, follows its nodes and pulls each node's ``clawops.health``
    report into the same sink as the embedded gateway's reports (see ``engine.gateway._upstream``).
    """
    from engine.gateway import OpenClawOperatorLink

    configured = _link_settings(engine)
    if configured is None:
        return None
    url, token = configured
    link = OpenClawOperatorLink(
        url, token, identity_path=Path(engine.settings.home) / "openclaw-operator.json", on_health_report=on_report
    )
    link.start()
    return link


class GatewayNodeCommands:
    """``NodeCommands`` over the node gateway: what job steps use outside the demo.

    ``invoke(instance_id, command, params)`` finds the device paired for the instance (store), waits
    a little for it if it is reconnecting, runs the command with the command's own timeout (plus a
    margin) and returns the node's payload with ``ok`` — and ``healthy`` for ``clawops.health``,
    judged by Guardian's own scoring, so "healthy" means the same thing everywhere.  Anything that
    keeps the command from running is one :class:`NodeUnavailable` sentence naming the instance and
    what to do; nothing waits without a bound.
    """

    def __init__(
        self,
        store: Store,
        options: BootstrapOptions,
        *,
        secret: Callable[[str], str | None] | None = None,
        registry: StoredDeviceRegistry | None = None,
    ) -> None:
        from engine.gateway import StoredDeviceRegistry

        self.store = store
        self.options = options
        self.secret = secret or (lambda _name: None)
        self.registry = registry or StoredDeviceRegistry(store)
        self.gateway: NodeGateway | None = None
        self.upstream: OpenClawOperatorLink | None = None

    def attach(self, gateway: NodeGateway) -> None:
        """Route commands through ``gateway`` (the daemon's, started by :func:`start_node_gateway`)."""
        self.gateway = gateway

    def detach(self) -> None:
        self.gateway = None

    def attach_upstream(self, link: OpenClawOperatorLink) -> None:
        """Also reach nodes that sit behind a real OpenClaw gateway (through the engine's operator link)."""
        self.upstream = link

    def _upstream_node(self, instance_id: str) -> str | None:
        """The node behind the real gateway whose own reports name ``instance_id`` (none of ours serves it)."""
        link = self.upstream
        if link is None or not link.connected.is_set() or self.registry.device_for_instance(instance_id) is not None:
            return None
        for node in link.nodes.values():
            if node.connected and node.last_health is not None and node.last_health.instance_id == instance_id:
                return node.node_id
        return None

    async def _invoke_upstream(
        self, instance_id: str, node_id: str, command: str, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        from engine.gateway import ArchiveFailed, InvokeResult, fetch_archive
        from engine.trust import redact
        from node.commands import COMMANDS

        link = self.upstream
        assert link is not None
        timeout = COMMANDS[command].timeout_s + 10
        if command == "clawops.archive":

            async def invoke(p: dict[str, Any]) -> InvokeResult:
                return await link.invoke(node_id, command, p, timeout_s=timeout)

            try:
                data, meta = await fetch_archive(invoke, str(params.get("account_id", "")), label=instance_id)
            except ArchiveFailed as exc:
                raise NodeCommandFailed(str(exc)) from None
            return {"ok": True, **meta, "data": base64.b64encode(data).decode("ascii")}
        result = await link.invoke(node_id, command, dict(params), timeout_s=timeout)
        if not result.ok:
            if result.error_code in ("UNAVAILABLE", "TIMEOUT", "NOT_CONNECTED"):
                raise NodeUnavailable(
                    instance_id,
                    redact(
                        f"{command} on {instance_id} (through the OpenClaw gateway) did not complete "
                        f"({result.error_message or result.error_code}); retry the job."
                    ),
                )
            raise NodeCommandFailed(
                redact(
                    f"{command} failed on {instance_id}: {result.error_code}: "
                    f"{result.error_message or 'no reason given'}."
                )
            )
        payload = result.payload if isinstance(result.payload, dict) else {"result": result.payload}
        out: dict[str, Any] = {"ok": True, **payload}
        if command == "clawops.health":
            out["healthy"], out["health_reason"] = self._judge(payload, node_id)
        return out

    # --- commands ---------------------------------------------------------------------------------------

    async def invoke(self, instance_id: str, command: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return await self._invoke(instance_id, command, params, self.options.connect_wait_s)

    async def _invoke(self, instance_id: str, command: str, params: Mapping[str, Any], wait_s: float) -> dict[str, Any]:
        from node.commands import COMMANDS

        spec = COMMANDS.get(command)
        if spec is None:
            from engine.gateway import CommandNotAllowed

            raise CommandNotAllowed(command)
        upstream = self._upstream_node(instance_id)
        if upstream is not None:
            return await self._invoke_upstream(instance_id, upstream, command, params)
        gateway, device = await self._connected(instance_id, wait_s)
        live = gateway.connected_node(device.device_id)
        if live is not None and command not in live.commands:
            raise NodeCommandFailed(
                f"{instance_id}'s clawnode does not offer {command}; upgrade clawnode on it "
                "(re-run its installer), then retry the job."
            )
        from engine.gateway import NodeNotConnected

        if command == "clawops.archive":
            return await self._archive(instance_id, gateway, device.device_id, dict(params))
        try:
            result = await gateway.invoke(device.device_id, command, dict(params), timeout_s=spec.timeout_s + 10)
        except NodeNotConnected:  # it went away between the lookup and the send
            raise NodeUnavailable(instance_id, self._why_unavailable(instance_id, gateway, device)) from None
        if not result.ok:
            from engine.trust import redact

            if result.error_code in ("UNAVAILABLE", "TIMEOUT"):
                raise NodeUnavailable(
                    instance_id,
                    redact(
                        f"{command} on {instance_id} did not complete ({result.error_message or result.error_code}); "
                        "the node may be restarting — retry the job."
                    ),
                )
            raise NodeCommandFailed(
                redact(
                    f"{command} failed on {instance_id}: {result.error_code}: {result.error_message or 'no reason given'}."
                )
            )
        payload = result.payload if isinstance(result.payload, dict) else {"result": result.payload}
        # "ok": the command ran — unless the payload carries its own verdict (a diagnosis with a failing check).
        out: dict[str, Any] = {"ok": True, **payload}
        if command == "clawops.health":
            out["healthy"], out["health_reason"] = self._judge(payload, device.device_id)
        return out

    async def _archive(
        self, instance_id: str, gateway: NodeGateway, device_id: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        """The node's export read in bounded pieces (the road a real gateway carries too); base64 in ``data``."""
        from engine.gateway import ArchiveFailed, InvokeResult, NodeNotConnected, fetch_archive
        from node.commands import COMMANDS

        timeout = COMMANDS["clawops.archive"].timeout_s + 10

        async def invoke(p: dict[str, Any]) -> InvokeResult:
            try:
                return await gateway.invoke(device_id, "clawops.archive", p, timeout_s=timeout)
            except NodeNotConnected:
                raise NodeUnavailable(
                    instance_id,
                    f"{instance_id}'s clawnode disconnected while sending its "
                    "archive; nothing was deleted. Retry the job.",
                ) from None

        try:
            data, meta = await fetch_archive(invoke, str(params.get("account_id", "")), label=instance_id)
        except ArchiveFailed as exc:
            raise NodeCommandFailed(str(exc)) from None
        return {
            "ok": True,
            **{k: v for k, v in meta.items() if k != "data"},
            "data": base64.b64encode(data).decode("ascii"),
        }

    async def _require_gateway(self, instance_id: str) -> NodeGateway:
        """The attached gateway; a daemon attaches it moments after resuming jobs, so wait briefly for it."""
        deadline = time.monotonic() + self.options.connect_wait_s
        while self.gateway is None and time.monotonic() < deadline:
            await asyncio.sleep(min(0.1, self.options.poll_s))
        if self.gateway is None:
            raise NodeUnavailable(instance_id, self._why_unavailable(instance_id, None, None))
        return self.gateway

    async def _connected(self, instance_id: str, wait_s: float) -> tuple[NodeGateway, PairedDevice]:
        """The gateway and the instance's connected device, waiting up to ``wait_s`` for a reconnect."""
        deadline = time.monotonic() + wait_s
        while True:
            gateway = self.gateway
            device = self.registry.device_for_instance(instance_id)
            if gateway is not None and device is not None and gateway.is_connected(device.device_id):
                return gateway, device
            if time.monotonic() >= deadline:
                raise NodeUnavailable(instance_id, self._why_unavailable(instance_id, gateway, device))
            await asyncio.sleep(min(self.options.poll_s, max(0.05, deadline - time.monotonic())))

    def _why_unavailable(self, instance_id: str, gateway: NodeGateway | None, device: PairedDevice | None) -> str:
        if gateway is None:
            return (
                f"{instance_id} cannot be reached: the node gateway is not running in this engine; run the "
                "daemon (`clawops engine`) and retry the job."
            )
        if device is None:
            pending = self.registry.bootstrap_pending(instance_id)
            if pending:
                return (
                    f"{instance_id}'s clawnode has not paired yet (its server may still be booting); retry the "
                    "job in a few minutes."
                )
            return (
                f"{instance_id} has no paired clawnode; re-provision it (its cloud-init installs and pairs one) "
                "or approve its pending pairing request, then retry the job."
            )
        return (
            f"{instance_id}'s clawnode (device {device.device_id[:12]}) is not connected to the node gateway; "
            "check that the server is running and `systemctl status clawnode` on it, then retry the job."
        )

    @staticmethod
    def _judge(payload: Mapping[str, Any], device_id: str) -> tuple[bool, str]:
        from engine.guardian import HealthReport, score
        from node.protocol import FrameError, NodeHealthReport

        now = utcnow()
        try:
            wire = NodeHealthReport.from_payload(dict(payload), node_id=device_id)
        except FrameError as exc:
            return False, f"unreadable health report ({exc})"
        verdict = score(HealthReport.from_node(wire, now), now)
        return verdict.healthy, verdict.explain()

    # --- bootstrap --------------------------------------------------------------------------------------

    async def user_data(self, instance_id: str, *, cloud_init: bool = True) -> str:
        """Cloud-init for ``instance_id``'s new server, with a fresh single-use bootstrap token for it.

        ``cloud_init=False`` gives the same bootstrap as a bash script (Hostinger runs a post-install
        script instead of cloud-init).  Issuing the token withdraws the instance's earlier unused ones.
        The token and the Tailscale key are registered with the redactor before the text leaves here.
        """
        from engine.trust import default_redactor
        from node.cloudinit import DEFAULT_OPENCLAW_IMAGE, render_cloud_init, render_install_script

        self.options.check_reachable()
        await self._require_gateway(instance_id)  # never buy a server whose node could not pair with us
        with self.store.session() as s:
            inst = s.get(Instance, instance_id)
            if inst is None:
                raise ClawOpsError(f"Instance {instance_id} no longer exists.")
            facts = {
                "hostname": inst.id,
                "account_id": inst.account_id,
                "instance_id": inst.id,
                "provider": inst.provider,
                "region": inst.region,
                "tier": inst.tier,
                "role": inst.role,
            }
        token = self.registry.issue_bootstrap_token(
            instance_id, str(facts["account_id"]), ttl_s=self.options.token_ttl_s
        )
        default_redactor().add(token)
        tailscale = self.secret(self.options.tailscale_secret)
        config: dict[str, Any] = {"gateway": self.options.gateway_url, "bootstrap_token": token, **facts}
        if self.options.tls_fingerprint:
            config["tls_fingerprint"] = self.options.tls_fingerprint
        render = render_cloud_init if cloud_init else render_install_script
        return render(
            config,
            package=self.options.package,
            openclaw_image=self.options.openclaw_image or DEFAULT_OPENCLAW_IMAGE,
            tailscale_auth_key=tailscale,
        )

    def forget_instance(self, instance_id: str) -> None:
        """The instance's server is gone: revoke its device and withdraw its unused bootstrap tokens."""
        device = self.registry.device_for_instance(instance_id)
        if device is not None:
            self.registry.revoke(device.device_id)
            gateway = self.gateway
            if gateway is not None and gateway.is_connected(device.device_id):
                gateway.drop(device.device_id)
        self.registry.withdraw_bootstrap(instance_id)

    async def wait_ready(self, instance_id: str, timeout_s: float | None = None) -> dict[str, Any]:
        """Wait (bounded) until the instance's node has connected and reports healthy; its health payload.

        Raises :class:`NodeUnavailable` at the deadline with what was last seen, so the step fails with
        a reason and the job can be resumed once the server is up.
        """
        timeout = self.options.ready_timeout_s if timeout_s is None else timeout_s
        await self._require_gateway(instance_id)
        deadline = time.monotonic() + timeout
        last = "its clawnode never connected"
        while True:
            left = deadline - time.monotonic()
            try:
                health = await self._invoke(instance_id, "clawops.health", {}, max(0.0, min(left, 30.0)))
            except NodeUnavailable as exc:
                last = str(exc)
            except NodeCommandFailed as exc:
                last = str(exc)
            else:
                if health.get("healthy"):
                    return health
                last = f"its node reports unhealthy ({health.get('health_reason') or 'no reason'})"
            if time.monotonic() >= deadline:
                raise NodeUnavailable(
                    instance_id,
                    (
                        f"{instance_id} did not come up within {timeout:g} s: {last.rstrip('.')}. Check the server's "
                        "console or /var/log/cloud-init-output.log, then retry the job (it resumes at this step)."
                    ),
                )
            await asyncio.sleep(min(self.options.poll_s * 5, max(0.05, deadline - time.monotonic())))
