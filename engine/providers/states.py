"""Vendor status → :class:`Phase` → :class:`InstanceState`: the tables, in one place, tested.

Each vendor enum is copied from its OpenAPI spec (shared/specs) and mapped per
shared/reference/providers.md §9.  A status a table does not know maps to
``Phase.ERROR`` with the raw value kept in ``ServerInfo.vendor_status``, so a new
vendor status is visible instead of silently read as "running".

What a provider says is only half of an instance's state: a server the provider
calls running is ``ACTIVE`` from the provider's side, and it is the node's health
reports that make it ``DEGRADED`` or ``BOOTSTRAPPING``.  ``PHASE_STATE`` is what the
provider alone lets us conclude.
"""

from __future__ import annotations

from engine.domain import InstanceState
from engine.providers._base import Phase

P = Phase
S = InstanceState

PHASE_STATE: dict[Phase, InstanceState] = {
    P.PROVISIONING: S.CREATING,
    P.RUNNING: S.ACTIVE,
    P.STOPPING: S.FAILED,  # not serving; Guardian decides whether to power it on or fail over
    P.STOPPED: S.FAILED,
    P.TRANSITIONING: S.DEGRADED,  # rebuild / migrate / resize in progress: reachable soon, not now
    P.DELETING: S.DRAINING,  # on its way out (Contabo: cancelled, runs to term end), still billed
    P.GONE: S.DELETED,
    P.ERROR: S.ERROR,
}

#: Hetzner ``server.status`` (spec enum).
HETZNER: dict[str, Phase] = {
    "initializing": P.PROVISIONING,
    "starting": P.PROVISIONING,
    "running": P.RUNNING,
    "stopping": P.STOPPING,
    "off": P.STOPPED,
    "deleting": P.DELETING,
    "migrating": P.TRANSITIONING,
    "rebuilding": P.TRANSITIONING,
    "unknown": P.ERROR,
}

#: DigitalOcean ``droplet.status``; ``locked: true`` overrides to TRANSITIONING (see ``digitalocean_phase``).
DIGITALOCEAN: dict[str, Phase] = {
    "new": P.PROVISIONING,
    "active": P.RUNNING,
    "off": P.STOPPED,
    "archive": P.GONE,
}

#: Vultr has three fields; each table says what that field alone implies (None: no opinion).
VULTR_STATUS: dict[str, Phase | None] = {
    "pending": P.PROVISIONING,
    "active": None,
    "suspended": P.ERROR,
    "resizing": P.TRANSITIONING,
}
VULTR_POWER: dict[str, Phase | None] = {"running": None, "stopped": P.STOPPED}
VULTR_SERVER: dict[str, Phase | None] = {
    "none": P.PROVISIONING,
    "installingbooting": P.PROVISIONING,
    "locked": P.TRANSITIONING,
    "ok": None,
}

#: Contabo ``status`` (spec enum); a ``cancelDate`` overrides (see ``contabo_phase``).
CONTABO: dict[str, Phase] = {
    "provisioning": P.PROVISIONING,
    "installing": P.PROVISIONING,
    "manual_provisioning": P.PROVISIONING,
    "pending_payment": P.PROVISIONING,
    "verification_required": P.PROVISIONING,
    "running": P.RUNNING,
    "stopped": P.STOPPED,
    "rescue": P.TRANSITIONING,
    "reset_password": P.TRANSITIONING,
    "error": P.ERROR,
    "unknown": P.ERROR,
    "other": P.ERROR,
    "product_not_available": P.ERROR,
    "uninstalled": P.ERROR,
}

#: Hostinger ``virtual_machine.state`` (spec enum).
HOSTINGER: dict[str, Phase] = {
    "initial": P.PROVISIONING,
    "creating": P.PROVISIONING,
    "starting": P.PROVISIONING,
    "running": P.RUNNING,
    "stopping": P.STOPPING,
    "stopped": P.STOPPED,
    "recreating": P.TRANSITIONING,
    "restoring": P.TRANSITIONING,
    "recovery": P.TRANSITIONING,
    "stopping_recovery": P.TRANSITIONING,
    "suspending": P.TRANSITIONING,
    "unsuspending": P.TRANSITIONING,
    "destroying": P.DELETING,
    "destroyed": P.GONE,
    "error": P.ERROR,
    "suspended": P.ERROR,
}

#: Action status per vendor → ``running`` / ``success`` / ``error``.
ACTION_STATUS: dict[str, dict[str, str]] = {
    "hetzner": {"running": "running", "success": "success", "error": "error"},
    "digitalocean": {"in-progress": "running", "completed": "success", "errored": "error"},
    "hostinger": {
        "created": "running",
        "sent": "running",
        "delayed": "running",
        "success": "success",
        "error": "error",
    },
}


def state_of(phase: Phase) -> InstanceState:
    return PHASE_STATE[phase]


def table_phase(table: dict[str, Phase], status: str) -> Phase:
    return table.get(status, P.ERROR)


def digitalocean_phase(status: str, locked: bool) -> Phase:
    phase = table_phase(DIGITALOCEAN, status)
    if locked and phase in (P.RUNNING, P.STOPPED):
        return P.TRANSITIONING
    return phase


def vultr_phase(status: str, power_status: str, server_status: str) -> Phase:
    """Ready = active + running + ok; otherwise the most telling of the three fields wins."""
    if status not in VULTR_STATUS or power_status not in VULTR_POWER or server_status not in VULTR_SERVER:
        return P.ERROR
    for opinion in (VULTR_STATUS[status], VULTR_POWER[power_status], VULTR_SERVER[server_status]):
        if opinion is not None:
            return opinion
    return P.RUNNING


def contabo_phase(status: str, cancel_date: str | None, today: str) -> Phase:
    """A cancelled Contabo instance runs until its cancel date (ISO ``YYYY-MM-DD``), then it is gone."""
    if cancel_date:
        return P.GONE if cancel_date[:10] < today else P.DELETING
    return table_phase(CONTABO, status)
