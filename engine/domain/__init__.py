"""Domain vocabulary: states, providers, regions, tiers, prices, selectors (ARCHITECTURE §2)."""

from engine.domain._catalog import (
    PLANS,
    REGIONS,
    TIER_SIZES,
    Billing,
    Geo,
    Plan,
    Provider,
    Region,
    Tier,
    parse_region,
    plan_for,
    regions_for,
    to_eur,
)
from engine.domain._selector import FINDINGS, SELECTOR_KEYS, Selector
from engine.domain._states import (
    BILLED_STATES,
    SERVING_STATES,
    TRANSITIONS,
    InstanceState,
    Role,
    can_transition,
    check_transition,
)

__all__ = [
    "BILLED_STATES",
    "FINDINGS",
    "PLANS",
    "REGIONS",
    "SELECTOR_KEYS",
    "SERVING_STATES",
    "TIER_SIZES",
    "TRANSITIONS",
    "Billing",
    "Geo",
    "InstanceState",
    "Plan",
    "Provider",
    "Region",
    "Role",
    "Selector",
    "Tier",
    "can_transition",
    "check_transition",
    "parse_region",
    "plan_for",
    "regions_for",
    "to_eur",
]
