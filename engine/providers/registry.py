"""Build drivers by provider name: from explicit settings, from the environment, or for an emulator.

Real accounts (documented in the README): a token per provider in the settings (file or environment) —

    CLAWOPS_HETZNER_TOKEN, CLAWOPS_DIGITALOCEAN_TOKEN, CLAWOPS_VULTR_TOKEN, CLAWOPS_HOSTINGER_TOKEN
    CLAWOPS_CONTABO_CLIENT_ID, CLAWOPS_CONTABO_CLIENT_SECRET, CLAWOPS_CONTABO_USER, CLAWOPS_CONTABO_PASSWORD

and optionally ``CLAWOPS_<PROVIDER>_BASE_URL`` (and ``CLAWOPS_CONTABO_AUTH_URL``) to point a driver
elsewhere, e.g. at ``clawops emulate PROVIDER``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

from engine.errors import ConfigError
from engine.providers._http import HttpDriver
from engine.providers.contabo import AUTH_URL, ContaboCredentials, ContaboDriver
from engine.providers.digitalocean import DigitalOceanDriver
from engine.providers.hetzner import HetznerDriver
from engine.providers.hostinger import HostingerDriver
from engine.providers.vultr import VultrDriver

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.providers.emulators import Emulator

DRIVERS: dict[str, type[HttpDriver]] = {
    "hetzner": HetznerDriver,
    "digitalocean": DigitalOceanDriver,
    "vultr": VultrDriver,
    "contabo": ContaboDriver,
    "hostinger": HostingerDriver,
}


def make_driver(
    provider: str,
    client: httpx.AsyncClient,
    *,
    token: str | None = None,
    base_url: str | None = None,
    contabo: ContaboCredentials | None = None,
    auth_url: str | None = None,
    **kw: Any,
) -> HttpDriver:
    """One driver for ``provider`` on the injected client (``kw``: limiter, retry, poll, time_scale …)."""
    if provider not in DRIVERS:
        raise ConfigError(f"No driver for provider '{provider}'; known: {', '.join(DRIVERS)}.")
    if provider == "contabo":
        return ContaboDriver(client, contabo, auth_url=auth_url or AUTH_URL, base_url=base_url, **kw)
    return DRIVERS[provider](client, token, base_url=base_url, **kw)


def driver_from_settings(provider: str, client: httpx.AsyncClient, settings: Settings, **kw: Any) -> HttpDriver:
    """A driver configured from the settings' ``<provider>_*`` fields (env ``CLAWOPS_<PROVIDER>_*``); a clear
    ConfigError names what is missing."""

    def value(name: str) -> str | None:
        raw = getattr(settings, f"{provider}_{name.lower()}", None)
        text = raw.get_secret_value() if isinstance(raw, SecretStr) else raw
        return str(text) if text else None

    return _build(provider, client, value, **kw)


def driver_from_env(provider: str, client: httpx.AsyncClient, env: Mapping[str, str], **kw: Any) -> HttpDriver:
    """The same from an explicit ``CLAWOPS_<PROVIDER>_*`` mapping (benchmarks and tests that start emulators)."""
    prefix = f"CLAWOPS_{provider.upper()}_"
    return _build(provider, client, lambda name: env.get(prefix + name) or None, **kw)


def _build(provider: str, client: httpx.AsyncClient, value: Callable[[str], str | None], **kw: Any) -> HttpDriver:
    prefix = f"CLAWOPS_{provider.upper()}_"
    base_url = value("BASE_URL")
    if provider == "contabo":
        names = ("CLIENT_ID", "CLIENT_SECRET", "USER", "PASSWORD")
        found = {n: value(n) for n in names}
        missing = [prefix + n for n, v in found.items() if not v]
        if missing:
            raise ConfigError(f"Contabo needs {', '.join(missing)} (API credentials from the Contabo customer panel).")
        creds = ContaboCredentials(*(str(found[n]) for n in names))
        return make_driver(provider, client, base_url=base_url, contabo=creds, auth_url=value("AUTH_URL"), **kw)
    token = value("TOKEN")
    if not token:
        raise ConfigError(f"Set {prefix}TOKEN to a {provider} API token to use {provider}.")
    return make_driver(provider, client, token=token, base_url=base_url, **kw)


def emulator_driver(emu: Emulator, client: httpx.AsyncClient, **kw: Any) -> HttpDriver:
    """A driver pointed at a running emulator (any token works; Contabo gets the emulated token endpoint)."""
    kw.setdefault("time_scale", emu.state.time_scale)
    if emu.provider == "contabo":
        return make_driver("contabo", client, base_url=emu.base_url, auth_url=emu.auth_url, **kw)
    return make_driver(emu.provider, client, token=kw.pop("token", "emulator-token"), base_url=emu.base_url, **kw)
