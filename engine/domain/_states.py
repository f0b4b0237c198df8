"""Instance states and the one table of legal transitions.

Every state change in ClawOps goes through :func:`check_transition`, so an
impossible move (a DELETED server coming back ACTIVE, say) fails loudly at the
point where the bug is, instead of leaving the store claiming something the
provider never did.
"""

from __future__ import annotations

from enum import StrEnum

from engine.errors import IllegalTransition


class InstanceState(StrEnum):
    """Lifecycle of one VPS, as ClawOps tracks it (ARCHITECTURE §2, contract)."""

    REQUESTED = "REQUESTED"
    CREATING = "CREATING"
    BOOTSTRAPPING = "BOOTSTRAPPING"
    ACTIVE = "ACTIVE"
    DEGRADED = "DEGRADED"
    HEALING = "HEALING"
    FAILED = "FAILED"
    STANDBY_PROMOTING = "STANDBY_PROMOTING"
    DRAINING = "DRAINING"
    ARCHIVING = "ARCHIVING"
    DELETED = "DELETED"
    ERROR = "ERROR"


class Role(StrEnum):
    """Which half of a pair an instance is."""

    PRIMARY = "primary"
    STANDBY = "standby"


S = InstanceState

#: Legal transitions.  Read a row as "from this state, the instance may move to
#: any of these".  DELETED is terminal; ERROR can only be retried or torn down.
TRANSITIONS: dict[InstanceState, frozenset[InstanceState]] = {
    S.REQUESTED: frozenset({S.CREATING, S.ERROR, S.DELETED}),
    S.CREATING: frozenset({S.BOOTSTRAPPING, S.ERROR, S.FAILED, S.DRAINING}),
    S.BOOTSTRAPPING: frozenset({S.ACTIVE, S.ERROR, S.FAILED, S.DRAINING}),
    S.ACTIVE: frozenset({S.DEGRADED, S.HEALING, S.FAILED, S.STANDBY_PROMOTING, S.DRAINING}),
    S.DEGRADED: frozenset({S.ACTIVE, S.HEALING, S.FAILED, S.STANDBY_PROMOTING, S.DRAINING}),
    S.HEALING: frozenset({S.ACTIVE, S.DEGRADED, S.FAILED, S.DRAINING}),
    S.FAILED: frozenset({S.HEALING, S.ACTIVE, S.DRAINING, S.ARCHIVING}),
    S.STANDBY_PROMOTING: frozenset({S.ACTIVE, S.FAILED}),
    S.DRAINING: frozenset({S.ARCHIVING, S.DELETED, S.FAILED}),
    S.ARCHIVING: frozenset({S.DELETED, S.FAILED, S.ERROR}),
    S.DELETED: frozenset(),
    S.ERROR: frozenset({S.CREATING, S.DRAINING, S.DELETED}),
}

#: States in which an instance is serving (or able to serve) its user.
SERVING_STATES = frozenset({S.ACTIVE, S.DEGRADED, S.HEALING})
#: States in which an instance still exists at the provider and costs money.
BILLED_STATES = frozenset(set(InstanceState) - {S.REQUESTED, S.DELETED})


def can_transition(current: InstanceState, target: InstanceState) -> bool:
    """True if ``current → target`` is in the table (staying put is always allowed)."""
    return current == target or target in TRANSITIONS[current]


def check_transition(current: InstanceState, target: InstanceState) -> None:
    """Raise :class:`IllegalTransition` unless ``current → target`` is legal."""
    if not can_transition(current, target):
        raise IllegalTransition(
            f"An instance cannot go from {current} to {target}; "
            f"from {current} it may only go to {', '.join(sorted(TRANSITIONS[current])) or 'nothing'}."
        )
