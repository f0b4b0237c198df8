"""The emulated vendors' locations and plans.

Plans that serve a ClawOps tier take their prices from ``engine.domain.PLANS``
(so the demo's costs and the emulated pricing endpoints agree); a few extra
plans exist so that resize and "cheaper elsewhere" have somewhere to go.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.domain import PLANS, Provider


@dataclass(frozen=True)
class EmuPlan:
    id: str
    vcpu: int
    ram_gb: float
    disk_gb: int
    monthly: float
    hourly: float
    locations: tuple[str, ...]
    numeric_id: int = 0


@dataclass(frozen=True)
class EmuLocation:
    id: str
    city: str
    country: str
    continent: str
    numeric_id: int
    lat: float = 0.0
    lon: float = 0.0
    zone: str = ""


def _price(
    provider: str,
    plan_id: str,
    vcpu: int,
    ram: float,
    disk: int,
    monthly: float,
    locations: tuple[str, ...],
    numeric_id: int,
) -> EmuPlan:
    for plan in PLANS.values():
        if plan.provider == Provider(provider) and plan.plan_id == plan_id:
            monthly = plan.monthly
            hourly = plan.hourly if plan.hourly is not None else round(monthly / 730, 5)
            return EmuPlan(plan_id, vcpu, ram, disk, monthly, hourly, locations, numeric_id)
    return EmuPlan(plan_id, vcpu, ram, disk, monthly, round(monthly / 730, 5), locations, numeric_id)


HETZNER_LOCATIONS = (
    EmuLocation("fsn1", "Falkenstein", "DE", "eu", 1, 50.47612, 12.370071, "eu-central"),
    EmuLocation("nbg1", "Nuremberg", "DE", "eu", 2, 49.452102, 11.076665, "eu-central"),
    EmuLocation("hel1", "Helsinki", "FI", "eu", 3, 60.169855, 24.938379, "eu-central"),
    EmuLocation("ash", "Ashburn, VA", "US", "us", 4, 39.045821, -77.487073, "us-east"),
    EmuLocation("hil", "Hillsboro, OR", "US", "us", 5, 45.54222, -122.95194, "us-west"),
    EmuLocation("sin", "Singapore", "SG", "ap", 6, 1.283333, 103.833333, "ap-southeast"),
)
_HZ_ALL = tuple(loc.id for loc in HETZNER_LOCATIONS)
HETZNER_PLANS = (
    _price("hetzner", "cpx12", 1, 2, 40, 4.49, _HZ_ALL, 101),
    _price("hetzner", "cx23", 2, 4, 40, 5.49, _HZ_ALL, 102),
    _price("hetzner", "cpx22", 2, 4, 80, 7.99, _HZ_ALL, 103),
    _price("hetzner", "cx33", 4, 8, 80, 8.99, _HZ_ALL, 104),
    _price("hetzner", "cx43", 8, 16, 160, 17.99, _HZ_ALL, 105),
)

DO_LOCATIONS = (
    EmuLocation("nyc3", "New York", "US", "us", 1),
    EmuLocation("sfo3", "San Francisco", "US", "us", 2),
    EmuLocation("fra1", "Frankfurt", "DE", "eu", 3),
    EmuLocation("ams3", "Amsterdam", "NL", "eu", 4),
    EmuLocation("lon1", "London", "GB", "eu", 5),
    EmuLocation("sgp1", "Singapore", "SG", "ap", 6),
)
_DO_ALL = tuple(loc.id for loc in DO_LOCATIONS)
DO_PLANS = (
    _price("digitalocean", "s-1vcpu-1gb", 1, 1, 25, 6.00, _DO_ALL, 1),
    _price("digitalocean", "s-1vcpu-2gb", 1, 2, 50, 12.00, _DO_ALL, 2),
    _price("digitalocean", "s-2vcpu-4gb", 2, 4, 80, 24.00, _DO_ALL, 3),
    _price("digitalocean", "s-4vcpu-8gb", 4, 8, 160, 48.00, _DO_ALL, 4),
)

VULTR_LOCATIONS = (
    EmuLocation("ewr", "New Jersey", "US", "North America", 1),
    EmuLocation("lax", "Los Angeles", "US", "North America", 2),
    EmuLocation("fra", "Frankfurt", "DE", "Europe", 3),
    EmuLocation("ams", "Amsterdam", "NL", "Europe", 4),
    EmuLocation("sgp", "Singapore", "SG", "Asia", 5),
    EmuLocation("nrt", "Tokyo", "JP", "Asia", 6),
)
_VU_ALL = tuple(loc.id for loc in VULTR_LOCATIONS)
VULTR_PLANS = (
    _price("vultr", "vc2-1c-1gb", 1, 1, 25, 5.00, _VU_ALL, 1),
    _price("vultr", "vc2-1c-2gb", 1, 2, 55, 10.00, _VU_ALL, 2),
    _price("vultr", "vc2-2c-4gb", 2, 4, 80, 20.00, _VU_ALL, 3),
    _price("vultr", "vc2-4c-8gb", 4, 8, 160, 40.00, _VU_ALL, 4),
)
VULTR_OS = {2284: "Ubuntu 24.04 LTS x64", 1743: "Ubuntu 22.04 LTS x64", 2136: "Debian 12 x64 (bookworm)"}

#: Contabo: region slug → (data-center name, data-center slug).  No pricing endpoint exists.
CONTABO_REGIONS = {
    "EU": ("European Union 1", "EU1", "European Union"),
    "US-central": ("United States Central 1", "US-central-1", "United States (Central)"),
    "US-east": ("United States East 1", "US-east-1", "United States (East)"),
    "US-west": ("United States West 1", "US-west-1", "United States (West)"),
    "SIN": ("Asia (Singapore) 1", "SIN1", "Asia (Singapore)"),
    "UK": ("United Kingdom 1", "UK1", "United Kingdom"),
}
CONTABO_PRODUCTS = {
    "V91": (4, 8, 75, "Cloud VPS 10 NVMe"),
    "V92": (4, 8, 150, "Cloud VPS 10 SSD"),
    "V94": (6, 12, 100, "Cloud VPS 20 NVMe"),
    "V97": (8, 24, 200, "Cloud VPS 30 NVMe"),
}
CONTABO_DEFAULT_IMAGE = "afecbb85-e2fc-46f0-9684-b46b1faf00bb"
#: Monthly EUR price per product (the figures of the driver's maintained table): served only per instance, by
#: ``GET /v1/compute/instances/{id}/products/available`` — Contabo has no catalogue endpoint.
CONTABO_PRICES = {"V91": 5.50, "V92": 5.50, "V94": 9.50, "V97": 17.00}

HOSTINGER_LOCATIONS = (
    EmuLocation("vno", "Vilnius", "lt", "Europe", 17),
    EmuLocation("bos", "Boston", "us", "North America", 18),
    EmuLocation("sin", "Singapore", "sg", "Asia", 19),
    EmuLocation("phx", "Phoenix", "us", "North America", 20),
)
HOSTINGER_PLANS = {
    # catalog item id → (vcpu, ram_gb, disk_gb, monthly USD, first month USD)
    "hostingercom-vps-kvm1": (1, 4, 50, 9.99, 4.99),
    "hostingercom-vps-kvm2": (2, 8, 100, 17.99, 8.99),
    "hostingercom-vps-kvm4": (4, 16, 200, 29.99, 12.99),
    "hostingercom-vps-kvm8": (8, 32, 400, 59.99, 24.99),
}
HOSTINGER_TEMPLATES = {1077: "Ubuntu 24.04 64bit", 1002: "Ubuntu 22.04 64bit", 1005: "Debian 12 64bit"}

#: Public OS images, the listing real clients read first (ids are the vendors' well-known ones).
#: Hetzner: (id, name, description, os_flavor, os_version, created)
HETZNER_IMAGES = (
    (161547269, "ubuntu-24.04", "Ubuntu 24.04", "ubuntu", "24.04", "2024-04-25T13:08:29+00:00"),
    (67794396, "ubuntu-22.04", "Ubuntu 22.04", "ubuntu", "22.04", "2022-04-21T13:32:38+00:00"),
    (114690387, "debian-12", "Debian 12", "debian", "12", "2023-06-13T06:00:02+00:00"),
)
#: DigitalOcean: (id, slug, name, distribution, created)
DO_IMAGES = (
    (152722766, "ubuntu-24-04-x64", "24.04 (LTS) x64", "Ubuntu", "2024-04-25T15:45:27Z"),
    (129211873, "ubuntu-22-04-x64", "22.04 (LTS) x64", "Ubuntu", "2023-03-29T20:22:23Z"),
    (135458393, "debian-12-x64", "12 x64", "Debian", "2023-06-12T19:07:43Z"),
)
#: Vultr: os_id → (arch, family); names in VULTR_OS.
VULTR_OS_FAMILY = {2284: ("x64", "ubuntu"), 1743: ("x64", "ubuntu"), 2136: ("x64", "debian")}
#: Contabo standard images: imageId → (name, description, version, size MB, created)
CONTABO_IMAGES = {
    CONTABO_DEFAULT_IMAGE: ("ubuntu-22.04", "Ubuntu 22.04 LTS", "22.04", 2252.0, "2022-05-02T08:14:31.000Z"),
    "d64d5c6c-9dda-4e38-8174-0ee282474d8a": (
        "ubuntu-24.04",
        "Ubuntu 24.04 LTS",
        "24.04",
        2413.0,
        "2024-04-26T07:52:10.000Z",
    ),
    "66abf39a-ba8b-425e-a385-8eb347ceac10": ("debian-12", "Debian 12", "12", 1802.0, "2023-06-14T09:11:45.000Z"),
}
