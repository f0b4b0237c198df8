"""The driver interface every provider implements.

Drivers are async, take an injected ``httpx.AsyncClient`` (the sim driver needs
none), and speak only in these small value types, so the operation layer never
sees a vendor's JSON.  Capability flags say what a provider *cannot* do, so the
operation layer can plan honestly (Contabo cannot delete; it cancels).

The five required methods (``create_server``, ``get_server``, ``list_servers``,
``delete_server``, ``reboot_server``) are what the operation layer calls; the
others have defaults that raise :class:`~engine.providers.errors.ProviderUnsupported`
so a driver only implements what its vendor offers.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum

from engine.domain import InstanceState

#: Label (Hetzner) / tag prefix (DigitalOcean, Vultr) that carries our instance id on a server.
OWNER_LABEL = "clawops-instance"
#: Tag every server we create carries, so a list can be narrowed to ours server-side.
FLEET_TAG = "clawops"
#: Separator between a display name and our instance id, for vendors without labels (Contabo, Hostinger).
NAME_SEP = "--"
_INSTANCE_ID_RE = re.compile(r"^i-[a-z0-9-]{1,60}$")


class Phase(StrEnum):
    """A vendor status, normalised (shared/reference/providers.md §9) before it becomes an InstanceState."""

    PROVISIONING = "provisioning"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    TRANSITIONING = "transitioning"
    DELETING = "deleting"
    GONE = "gone"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a provider's API allows; operations consult these before planning."""

    can_delete: bool = True
    create_is_purchase: bool = False
    supports_cloud_init: bool = True
    can_resize: bool = True
    resize_needs_power_off: bool = False
    can_snapshot: bool = True
    hourly_billing: bool = True
    supports_labels: bool = True
    has_action_objects: bool = False
    pricing_api: bool = True
    resize_upgrade_only: bool = False


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """What to create: our instance id travels as a label/tag so a retry can find it."""

    instance_id: str
    name: str
    region_location: str
    plan_id: str
    image: str = "ubuntu-24.04"
    ssh_keys: tuple[str, ...] = ()
    user_data: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """A provider's view of one server, mapped to our vocabulary."""

    server_id: str
    instance_id: str | None
    state: InstanceState | None
    vendor_status: str
    ipv4: str | None = None
    ipv6: str | None = None
    plan_id: str | None = None
    location: str | None = None
    name: str | None = None
    phase: Phase | None = None
    labels: dict[str, str] = field(default_factory=dict, compare=False)
    cancel_date: str | None = None
    """Contabo: the contract end after a cancel; the server runs until then."""
    action_id: str | None = None
    """The vendor action tracking the last mutation (Hetzner create action, Hostinger setup …), if any."""


@dataclass(frozen=True, slots=True)
class ActionInfo:
    """A vendor's asynchronous action (Hetzner, DigitalOcean, Hostinger) or our stand-in for one."""

    action_id: str
    command: str
    status: str
    """Normalised: ``running``, ``success`` or ``error``."""
    vendor_status: str
    progress: int | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status in ("success", "error")


@dataclass(frozen=True, slots=True)
class RegionInfo:
    """One vendor location and, where we know it, our region name for it."""

    location: str
    """The vendor's own id (``nbg1``, ``ewr``, ``EU``, ``17`` …)."""
    region: str | None
    """Our ``<geo>-<provider>-<location>`` name, or None when ClawOps has not mapped it."""
    city: str | None = None
    country: str | None = None
    available: bool = True


@dataclass(frozen=True, slots=True)
class PlanPrice:
    """One vendor plan with its list price, as read from the vendor (or its maintained table)."""

    plan_id: str
    vcpu: int
    ram_gb: float
    disk_gb: float | None
    currency: str
    monthly: float
    hourly: float | None
    locations: tuple[str, ...] = ()
    source: str = "api"
    """``api`` when read from the vendor's plan/pricing endpoint, ``table`` for a maintained table."""


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    snapshot_id: str
    server_id: str
    status: str
    action_id: str | None = None


def owned_name(spec: ServerSpec) -> str:
    """The server name for vendors without labels: our instance id rides in the name (``name--i-…``)."""
    if spec.name == spec.instance_id or spec.name.endswith(NAME_SEP + spec.instance_id):
        return spec.name
    return f"{spec.name}{NAME_SEP}{spec.instance_id}"


def instance_id_from_name(name: str | None) -> str | None:
    """Inverse of :func:`owned_name`: the instance id carried in a server name, if any."""
    if not name:
        return None
    candidate = name.rsplit(NAME_SEP, 1)[-1] if NAME_SEP in name else name
    return candidate if _INSTANCE_ID_RE.match(candidate) else None


def owner_tag(instance_id: str) -> str:
    """The tag (DigitalOcean, Vultr) that carries our instance id."""
    return f"{OWNER_LABEL}:{instance_id}"


def instance_id_from_tags(tags: list[str] | tuple[str, ...]) -> str | None:
    prefix = OWNER_LABEL + ":"
    for tag in tags:
        if tag.startswith(prefix):
            return tag[len(prefix) :] or None
    return None


class ProviderDriver(ABC):
    """One provider's API, as the operation layer needs it."""

    name: str
    capabilities: Capabilities

    @abstractmethod
    async def create_server(self, spec: ServerSpec) -> ServerInfo: ...

    @abstractmethod
    async def get_server(self, server_id: str) -> ServerInfo: ...

    @abstractmethod
    async def list_servers(self) -> list[ServerInfo]: ...

    @abstractmethod
    async def delete_server(self, server_id: str) -> None:
        """Delete, or for providers that cannot delete, cancel the contract."""

    @abstractmethod
    async def reboot_server(self, server_id: str) -> None: ...

    # --- optional operations: defaults say plainly that the vendor cannot ------------------------

    async def find_server(self, instance_id: str) -> ServerInfo | None:
        """The server carrying our ``instance_id`` (label, tag or name), or None."""
        for info in await self.list_servers():
            if info.instance_id == instance_id:
                return info
        return None

    async def power_off(self, server_id: str) -> ActionInfo | None:
        raise self._unsupported("power_off")

    async def power_on(self, server_id: str) -> ActionInfo | None:
        raise self._unsupported("power_on")

    async def resize_server(self, server_id: str, plan_id: str) -> ActionInfo | None:
        raise self._unsupported("resize_server")

    async def snapshot_server(self, server_id: str, name: str) -> SnapshotInfo:
        raise self._unsupported("snapshot_server")

    async def list_regions(self) -> list[RegionInfo]:
        raise self._unsupported("list_regions")

    async def wait_running(self, server_id: str, *, timeout: float | None = None, interval: float = 5.0) -> ServerInfo:
        """The server once the provider reports it running; drivers whose servers boot over time poll."""
        return await self.get_server(server_id)

    async def forget_user_data(self, instance_id: str) -> int:
        """Remove any copy the vendor keeps of a server's bootstrap data (it carries a token); how many.

        Most vendors keep user data only on the server itself; Hostinger keeps post-install scripts.
        """
        return 0

    async def list_plans(self) -> list[PlanPrice]:
        raise self._unsupported("list_plans")

    async def get_action(self, action_id: str) -> ActionInfo:
        raise self._unsupported("get_action")

    async def poll_action(self, action_id: str, *, timeout: float = 120.0, interval: float = 1.0) -> ActionInfo:
        raise self._unsupported("poll_action")

    def _unsupported(self, operation: str) -> Exception:
        from engine.providers.errors import ProviderUnsupported

        return ProviderUnsupported(self.name, operation)

    async def aclose(self) -> None:  # noqa: B027 - an optional hook, deliberately not abstract
        """Release the driver's resources (the injected client belongs to the caller)."""


def region_name(provider: str, location: str | None) -> str | None:
    """Our ``<geo>-<provider>-<location>`` name for a vendor location we know, else None."""
    from engine.domain import REGIONS

    if location is None:
        return None
    for region in REGIONS.values():
        if region.provider == provider and region.location == location:
            return region.name
    return None


def location_part(region_location: str) -> str:
    """Accept either a bare location (``nbg1``) or our full region name (``eu-hetzner-nbg1``)."""
    from engine.domain import REGIONS

    region = REGIONS.get(region_location.strip().lower())
    return region.location if region is not None else region_location
