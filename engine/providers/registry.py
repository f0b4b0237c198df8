"""Build drivers by provider name: from explicit settings, from the environment, or for an emulator.

Real accounts (documented in the README): a token per provider in the environment or the secret
store the caller passes in —

    CLAWOPS_HETZNER_TOKEN, CLAWOPS_DIGITALOCEAN_TOKEN, CLAWOPS_VULTR_TOKEN, CLAWOPS_HOSTINGER_TOKEN
    CLAWOPS_CONTABO_CLIENT_ID, CLAWOPS_CONTABO_CLIENT_SECRET, CLAWOPS_CONTABO_USER, CLAWOPS_CONTABO_PASSWORD

and optionally ``CLAWOPS_<PROVIDER>_BASE_URL`` (and ``CLAWOPS_CONTABO_AUTH_URL``) to point a driver
elsewhere, e.g. at ``clawops emulate PROVIDER``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from engine.errors import ConfigError
from engine.providers._http import HttpDriver
from engine.providers.contabo import AUTH_URL, ContaboCredentials, ContaboDriver
from engine.providers.digitalocean import DigitalOceanDriver
from engine.providers.hetzner import HetznerDriver
from engine.providers.hostinger import HostingerDriver
from engine.providers.vultr import VultrDriver

if TYPE_CHECKING:
    from engine.providers.emulators import Emulator

DRIVERS: dict[str, type[HttpDriver]] = {
    "hetzner": HetznerDriver,
    "digitalocean": DigitalOceanDriver,
    "vultr": VultrDriver,
    "contabo": ContaboDriver,
    "hostinger": HostingerDriver,
}


def make_driver(provider: str, client: httpx.AsyncClient, *, token: str | None = None,
                base_url: str | None = None, contabo: ContaboCredentials | None = None,
                auth_url: str | None = None, **kw: Any) -> HttpDriver:
    """One driver for ``provider`` on the injected client (``kw``: limiter, retry, poll, time_scale …)."""
    if provider not in DRIVERS:
        raise ConfigError(f"No driver for provider '{provider}'; known: {', '.join(DRIVERS)}.")
    if provider == "contabo":
        return ContaboDriver(client, contabo, auth_url=auth_url or AUTH_URL, base_url=base_url, **kw)
    return DRIVERS[provider](client, token, base_url=base_url, **kw)


def driver_from_env(provider: str, client: httpx.AsyncClient, env: Mapping[str, str] | None = None,
                    **kw: Any) -> HttpDriver:
    """A driver configured from ``CLAWOPS_<PROVIDER>_*`` settings; a clear ConfigError names what is missing."""
    env = os.environ if env is None else env
    prefix = f"CLAWOPS_{provider.upper()}_"
    base_url = env.get(prefix + "BASE_URL") or None
    if provider == "contabo":
        names = ("CLIENT_ID", "CLIENT_SECRET", "USER", "PASSWORD")
        missing = [prefix + n for n in names if not env.get(prefix + n)]
        if missing:
            raise ConfigError(f"Contabo needs {', '.join(missing)} (API credentials from the Contabo customer panel).")
        creds = ContaboCredentials(*(env[prefix + n] for n in names))
        return make_driver(provider, client, base_url=base_url, contabo=creds,
                           auth_url=env.get(prefix + "AUTH_URL") or None, **kw)
    token = env.get(prefix + "TOKEN")
    if not token:
        raise ConfigError(f"Set {prefix}TOKEN to a {provider} API token to use {provider}.")
    return make_driver(provider, client, token=token, base_url=base_url, **kw)


def emulator_driver(emu: Emulator, client: httpx.AsyncClient, **kw: Any) -> HttpDriver:
    """A driver pointed at a running emulator (any token works; Contabo gets the emulated token endpoint)."""
    kw.setdefault("time_scale", emu.state.time_scale)
    if emu.provider == "contabo":
        return make_driver("contabo", client, base_url=emu.base_url, auth_url=emu.auth_url, **kw)
    return make_driver(emu.provider, client, token=kw.pop("token", "emulator-token"), base_url=emu.base_url, **kw)
