"""Spec conformance: every emulator route, and the drivers' calls, checked against the vendors' OpenAPI files.

For each vendor, one emulator answers two kinds of traffic, and every exchange is recorded:
- the driver scenario (create, get, list, find, power, resize, snapshot, regions, plans, actions, delete and
  error answers), so the requests ClawOps really sends are checked;
- a drive of every emulator route (success *and* error cases: unknown ids, refused input, missing token or
  request id, rate limit, server error), so every response the emulator can give is checked.
openapi-core then validates each request and each response against the vendor's own file in
``../shared/specs`` (relative to the repo root); on top of that every header the matched response declares
must be present (rate-limit headers, DigitalOcean's 204 ``content-type``).  A request the drive sends wrong
on purpose (no token, missing field) must be *rejected* by the spec, and its error answer must still match.
Every route of every emulator must have been answered with a 2xx and with a 4xx (or be listed in
``NOT_IN_SPEC`` with the reason).  The test prints ``N/N exchanges valid`` and fails on any invalid one.

Where a vendor file is wrong or silent, the correction is an entry in ``spec_patches/<vendor>.yaml`` (what is
wrong, the evidence), applied in memory; the vendor files are never changed.  Skipped, saying why, when
``../shared/specs`` is absent.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
import math
import os
import re
import tempfile
import uuid
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml

from engine.providers import ServerSpec
from engine.providers.emulators import Emulator, running_emulator
from engine.providers.errors import ProviderAPIError, ProviderUnsupported
from engine.providers.registry import emulator_driver

SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "specs"
PATCHES = Path(__file__).resolve().parent / "spec_patches"
pytestmark = pytest.mark.skipif(
    not SPECS.is_dir(), reason=f"vendor OpenAPI specs not found at {SPECS} (../shared/specs): conformance not checked"
)

SPEC_FILES = {
    "hetzner": "hetzner.json",
    "digitalocean": "digitalocean.yaml",
    "vultr": "vultr.json",
    "contabo": "contabo.yaml",
    "hostinger": "hostinger.json",
}
#: Emulator routes that are not part of the vendor's API spec, and why.
NOT_IN_SPEC = {
    "/status/": "the vendor status page (Atlassian Statuspage JSON / Atom / RSS) is a separate product",
    "/auth/realms/": "Contabo's OAuth2 token endpoint is Keycloak on auth.contabo.com, outside the API spec",
}
#: Declared response headers that are conditional by definition.
CONDITIONAL_HEADERS = {"x-next": "Hetzner sends it only when there is a next page"}


# --- the vendor specs, patched -----------------------------------------------------------------


@functools.cache
def _raw_spec(provider: str) -> dict[str, Any]:
    """The vendor file, parsed.  A YAML one is parsed once per content and kept as JSON in the temp folder:
    DigitalOcean's 5 MB of YAML takes seconds to parse, its JSON copy a few milliseconds."""
    path = SPECS / SPEC_FILES[provider]
    spec: dict[str, Any]
    if path.suffix == ".json":
        spec = json.loads(path.read_text())
        return spec
    data = path.read_bytes()
    cache = Path(tempfile.gettempdir()) / "clawops-spec-cache" / f"{hashlib.sha256(data).hexdigest()}.json"
    try:
        spec = json.loads(cache.read_text())
        return spec
    except (OSError, ValueError):
        pass
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec = json.loads(json.dumps(yaml.load(data, Loader=loader), default=str))  # YAML dates become strings
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_name(f"{cache.stem}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(spec))
    partial.replace(cache)  # atomic: parallel workers never read half a file
    return spec


def _patches(provider: str) -> list[dict[str, Any]]:
    doc = yaml.safe_load((PATCHES / f"{provider}.yaml").read_text()) or {}
    patches = list(doc.get("patches") or [])
    for p in patches:
        assert str(p.get("wrong", "")).strip() and str(p.get("evidence", "")).strip(), (
            f"spec_patches/{provider}.yaml: every patch needs `wrong` and `evidence`: {p}"
        )
    return patches


def _spec_prefix(provider: str) -> str:
    """The path part of the spec's server URL (``/v1`` for Hetzner), which its path templates leave out."""
    return str(urlsplit(_raw_spec(provider)["servers"][0]["url"]).path).rstrip("/")


@functools.cache
def _templates(provider: str) -> list[tuple[re.Pattern[str], str]]:
    out = []
    for template in _raw_spec(provider)["paths"]:
        rx = re.escape(template)
        rx = re.sub(r"\\\{[^}]+\\\}", "[^/]+", rx)
        out.append((re.compile(f"^{rx}$"), template))
    return out


def spec_path(provider: str, url_path: str) -> str | None:
    """The spec's path template for a request path (the most literal one when several match)."""
    prefix = _spec_prefix(provider)
    if not url_path.startswith(prefix):
        return None
    rel = url_path[len(prefix) :] or "/"
    found = [t for rx, t in _templates(provider) if rx.match(rel)]
    return min(found, key=lambda t: (t.count("{"), -len(t))) if found else None


def _pointer(doc: Any, at: str) -> tuple[Any, str]:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in at.lstrip("/").split("/")]
    node = doc
    for part in parts[:-1]:
        node = node[part]
    return node, parts[-1]


def _deep_merge(into: dict[str, Any], value: dict[str, Any]) -> None:
    for k, v in value.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _deep_merge(into[k], v)
        else:
            into[k] = copy.deepcopy(v)


def _retype(node: Any, mapping: dict[str, str | None]) -> None:
    if isinstance(node, dict):
        t = node.get("type")
        if isinstance(t, str) and t in mapping:
            if mapping[t] is None:
                del node["type"]
            else:
                node["type"] = mapping[t]
        for value in node.values():
            _retype(value, mapping)
    elif isinstance(node, list):
        for value in node:
            _retype(value, mapping)


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "responses" in op
    ]


def _apply(spec: dict[str, Any], patch: dict[str, Any]) -> None:
    op_name = patch["op"]
    if op_name == "status-ranges":
        for _, _, op in _operations(spec):
            op["responses"] = {re.sub(r"^([1-5])xx$", r"\1XX", k): v for k, v in op["responses"].items()}
    elif op_name == "retype":
        _retype(spec, patch["mapping"])
    elif op_name == "replace":
        parent, key = _pointer(spec, patch["at"])
        parent[key] = copy.deepcopy(patch["value"])
    elif op_name == "merge":
        parent, key = _pointer(spec, patch["at"])
        _deep_merge(parent[key], patch["value"])
    elif op_name == "errors":
        only = set(patch.get("only") or ())
        for method, path, op in _operations(spec):
            if only and f"{method} {path}" not in only:
                continue
            responses = op["responses"]
            for status in map(str, patch["statuses"]):
                have = responses.get(status)
                if have is None and f"{status[0]}XX" not in responses:
                    responses[status] = copy.deepcopy(patch["response"])
                elif isinstance(have, dict) and "$ref" not in have and not have.get("content"):
                    have["content"] = copy.deepcopy(_resolve(spec, patch["response"]).get("content", {}))
    elif op_name == "headers":
        for _, _, op in _operations(spec):
            for response in op["responses"].values():
                response = _resolve(spec, response)
                declared = response.setdefault("headers", {})
                for header, definition in patch["headers"].items():
                    declared.setdefault(header, dict(definition, required=True))
    else:
        raise AssertionError(f"unknown spec patch op {op_name!r}")


def _resolve(spec: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        parent, key = _pointer(spec, node["$ref"].lstrip("#"))
        node = parent[key]
    return node


def patched_spec(provider: str, used_paths: set[str]) -> dict[str, Any]:
    """The vendor spec reduced to the paths in use (fast to build), with spec_patches applied."""
    raw = _raw_spec(provider)
    spec = {k: v for k, v in raw.items() if k != "paths"}
    spec["paths"] = {p: raw["paths"][p] for p in sorted(used_paths)}
    spec = json.loads(json.dumps(spec, default=str))  # a private copy (YAML dates become strings)
    for patch in _patches(provider):
        _apply(spec, patch)
    return dict(spec)


def openapi_for(spec: dict[str, Any], server_url: str) -> Any:
    from openapi_core import Config, OpenAPI

    spec = dict(spec, servers=[{"url": server_url}])
    # The whole-document lint is off: DigitalOcean's and Hostinger's files fail it on components no exchange
    # touches (their known lint errors). Every recorded exchange is still validated against its operation.
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


# --- openapi-core adapters ---------------------------------------------------------------------


class _Req:
    """openapi-core's request protocol over a recorded httpx request."""

    def __init__(self, request: httpx.Request) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        url = urlsplit(str(request.url))
        self.host_url = f"{url.scheme}://{url.netloc}"
        self.path = url.path
        self.method = request.method.lower()
        self.body = request.content or None
        self.content_type = request.headers.get("content-type", "application/json")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qs(url.query)),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict({}),
        )


class _Resp:
    def __init__(self, response: httpx.Response) -> None:
        from werkzeug.datastructures import Headers

        self.data = response.content
        self.status_code = response.status_code
        self.content_type = response.headers.get("content-type", "").split(";")[0]
        self.headers = Headers(dict(response.headers))


def _explain(exc: BaseException) -> str:
    """The schema errors behind an openapi-core exception, path first, without echoing the whole body."""
    errors: list[Any] = []
    seen: BaseException | None = exc
    while seen is not None and not errors:
        errors = list(getattr(seen, "schema_errors", None) or [])
        seen = seen.__cause__ or seen.__context__
    if not errors:
        return f"{type(exc).__name__}: {str(exc)[:300]}"
    return "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message[:200]}" for e in errors[:5])


# --- recording -----------------------------------------------------------------------------------


@dataclass
class Exchange:
    request: httpx.Request
    response: httpx.Response
    bad_request: bool = False  # sent wrong on purpose: the spec must reject the request
    source: str = "drive"


@dataclass
class Drive:
    """Direct calls to one emulator, each recorded with what it was meant to get."""

    emu: Emulator
    client: httpx.AsyncClient
    exchanges: list[Exchange] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    token: str = "spec-test-token"

    def url(self, path: str) -> str:
        return self.emu.root_url + path

    async def __call__(
        self,
        method: str,
        path: str,
        expect: int,
        *,
        json_body: Any = None,
        token: bool = True,
        bad: bool = False,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
    ) -> Any:
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        if self.emu.provider == "contabo" and "x-request-id" not in hdrs:
            hdrs["x-request-id"] = str(uuid.uuid4())
        response = await self.client.request(method, self.url(path), json=json_body, headers=hdrs, params=params)
        await response.aread()
        self.exchanges.append(Exchange(response.request, response, bad_request=bad))
        if response.status_code != expect:
            self.unexpected.append(
                f"{method} {path}: expected {expect}, got {response.status_code} {response.text[:200]}"
            )
        try:
            return response.json()
        except ValueError:
            return None


# --- the driver scenario (the requests ClawOps really sends) ------------------------------------


async def _driver_scenario(provider: str, driver: Any, emu: Emulator) -> None:
    region = {
        "hetzner": "eu-hetzner-nbg1",
        "digitalocean": "eu-digitalocean-fra1",
        "vultr": "us-vultr-ewr",
        "contabo": "eu-contabo-nue",
        "hostinger": "eu-hostinger-vno",
    }[provider]
    plan = {
        "hetzner": "cx23",
        "digitalocean": "s-2vcpu-4gb",
        "vultr": "vc2-2c-4gb",
        "contabo": "V91",
        "hostinger": "hostingercom-vps-kvm2-usd-1m",
    }[provider]
    bigger = {"hetzner": "cx33", "digitalocean": "s-4vcpu-8gb", "vultr": "vc2-4c-8gb"}.get(provider, "")
    spec = ServerSpec(
        "i-acct-001-p",
        "acct-001-p",
        region,
        plan,
        user_data="#cloud-config\n",
        ssh_keys=("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0 ops@example",)
        if provider in ("contabo", "hostinger")
        else (),
    )
    info = await driver.create_server(spec)
    emu.plant(name="someone-elses-server")
    await driver.get_server(info.server_id)
    await driver.list_servers()
    await driver.find_server("i-acct-001-p")
    if info.action_id:
        await driver.get_action(info.action_id)
    emu.state.advance(3600)
    await driver.reboot_server(info.server_id)
    emu.state.advance(60)
    off = await driver.power_off(info.server_id)
    if off is not None:
        await driver.get_action(off.action_id)
    emu.state.advance(60)
    try:
        await driver.resize_server(info.server_id, bigger)
        emu.state.advance(120)
    except ProviderUnsupported:
        pass
    await driver.power_on(info.server_id)
    emu.state.advance(60)
    await driver.snapshot_server(info.server_id, "pre-upgrade")
    await driver.list_regions()
    await driver.list_plans()
    bad_calls: tuple[Callable[[], Awaitable[object]], ...] = (
        lambda: driver.get_server("999999999"),
        lambda: driver.create_server(ServerSpec("i-x", "x", region, "no-such-plan")),
    )
    for bad in bad_calls:
        with pytest.raises(ProviderAPIError):
            await bad()
    await driver.delete_server(info.server_id)


# --- the route drives (every route, success and error) --------------------------------------------


def _busy(server: Any) -> Any:
    server.provision_s = math.inf  # never leaves provisioning: every action on it is refused
    return server


async def _faults(call: Drive, method: str, path: str, *, status_5xx: int, **kw: Any) -> None:
    """One rate-limited and one failing answer on a route (the vendor's 429 and 5xx shapes)."""
    call.emu.state.storm_429(1)
    await call(method, path, 429, **kw)
    call.emu.state.burst_5xx(1, status_5xx)
    await call(method, path, status_5xx, **kw)


async def _drive_hetzner(call: Drive) -> None:
    emu, v = call.emu, "/v1"
    s = emu.plant(name="spec-ready", labels={"env": "prod"})
    busy = _busy(emu.plant(name="spec-busy", ready=False))
    await call("GET", f"{v}/servers", 200, params=[("page", 1), ("per_page", 2), ("status", "running")])
    await call("GET", f"{v}/servers", 200, params={"name": "spec-ready", "label_selector": "env=prod"})
    await call("GET", f"{v}/servers", 401, token=False, bad=True)
    created = await call(
        "POST",
        f"{v}/servers",
        201,
        json_body={
            "name": "spec-new",
            "server_type": "cx23",
            "image": "ubuntu-24.04",
            "location": "nbg1",
            "labels": {"clawops": "spec"},
            "start_after_create": True,
            "user_data": "#cloud-config\n",
        },
    )
    await call(
        "POST", f"{v}/servers", 409, json_body={"name": "spec-new", "server_type": "cx23", "image": "ubuntu-24.04"}
    )
    await call(
        "POST", f"{v}/servers", 422, json_body={"name": "spec-x", "server_type": "cx999", "image": "ubuntu-24.04"}
    )
    await call("POST", f"{v}/servers", 422, json_body={"name": "spec-x"}, bad=True)
    await call("GET", f"{v}/servers/{s.id}", 200)
    await call("GET", f"{v}/servers/999999999", 404)
    await call("POST", f"{v}/servers/{busy.id}/actions/reboot", 423)
    await call("POST", f"{v}/servers/999999999/actions/poweron", 404)
    await call(
        "POST", f"{v}/servers/{s.id}/actions/change_type", 422, json_body={"server_type": "cx33", "upgrade_disk": True}
    )  # still running
    for verb in ("reboot", "reset", "shutdown", "poweroff"):
        await call("POST", f"{v}/servers/{s.id}/actions/{verb}", 201)
        emu.state.advance(30)
    await call(
        "POST", f"{v}/servers/{s.id}/actions/change_type", 201, json_body={"server_type": "cx33", "upgrade_disk": True}
    )
    emu.state.advance(120)
    await call("POST", f"{v}/servers/{s.id}/actions/poweron", 201)
    emu.state.advance(30)
    snap = await call(
        "POST",
        f"{v}/servers/{s.id}/actions/create_image",
        201,
        json_body={"type": "snapshot", "description": "spec snapshot", "labels": {"k": "v"}},
    )
    await call("GET", f"{v}/actions/{snap['action']['id']}", 200)
    await call("GET", f"{v}/actions/999999999", 404)
    await call("GET", f"{v}/images", 200)
    await call(
        "GET",
        f"{v}/images",
        200,
        params=[
            ("type", "snapshot"),
            ("type", "system"),
            ("status", "creating"),
            ("architecture", "x86"),
            ("page", 1),
            ("per_page", 2),
        ],
    )
    await call("GET", f"{v}/images", 200, params={"name": "ubuntu-24.04"})
    await call("GET", f"{v}/images", 401, token=False, bad=True)
    await call("GET", f"{v}/locations", 200)
    await call("GET", f"{v}/locations", 401, token=False, bad=True)
    await call("GET", f"{v}/server_types", 200)
    await call("GET", f"{v}/server_types", 401, token=False, bad=True)
    await call("DELETE", f"{v}/servers/{created['server']['id']}", 200)
    await call("DELETE", f"{v}/servers/999999999", 404)
    await _faults(call, "GET", f"{v}/locations", status_5xx=503)


async def _drive_digitalocean(call: Drive) -> None:
    emu, v = call.emu, "/v2"
    s = emu.plant(name="spec-ready", location="fra1", tags=["clawops"])
    busy = _busy(emu.plant(name="spec-busy", location="fra1", ready=False))
    created = await call(
        "POST",
        f"{v}/droplets",
        202,
        json_body={
            "name": "spec-new",
            "region": "fra1",
            "size": "s-2vcpu-4gb",
            "image": "ubuntu-24-04-x64",
            "tags": ["clawops"],
            "user_data": "#cloud-config\n",
        },
    )
    await call(
        "POST", f"{v}/droplets", 422, json_body={"name": "spec-x", "size": "s-99vcpu", "image": "ubuntu-24-04-x64"}
    )
    await call("POST", f"{v}/droplets", 422, json_body={"name": "spec-x"}, bad=True)
    await call("GET", f"{v}/droplets", 200, params={"page": 1, "per_page": 1})
    await call("GET", f"{v}/droplets", 200, params={"tag_name": "clawops"})
    await call("GET", f"{v}/droplets", 401, token=False, bad=True)
    await call("GET", f"{v}/droplets/{s.id}", 200)
    await call("GET", f"{v}/droplets/999999999", 404)
    await call("POST", f"{v}/droplets/{busy.id}/actions", 422, json_body={"type": "reboot"})
    await call("POST", f"{v}/droplets/999999999/actions", 404, json_body={"type": "reboot"})
    action = None
    for body in (
        {"type": "reboot"},
        {"type": "power_cycle"},
        {"type": "shutdown"},
        {"type": "power_off"},
        {"type": "resize", "size": "s-4vcpu-8gb", "disk": True},
        {"type": "power_on"},
        {"type": "snapshot", "name": "spec-snapshot"},
    ):
        action = await call("POST", f"{v}/droplets/{s.id}/actions", 201, json_body=body)
        emu.state.advance(90)
    assert action is not None
    await call("GET", f"{v}/actions/{action['action']['id']}", 200)
    await call("GET", f"{v}/actions/999999999", 404)
    await call("GET", f"{v}/images", 200, params={"type": "distribution", "per_page": 2})
    await call("GET", f"{v}/images", 200, params={"private": "true"})
    await call("GET", f"{v}/images", 401, token=False, bad=True)
    await call("GET", f"{v}/sizes", 200)
    await call("GET", f"{v}/sizes", 401, token=False, bad=True)
    await call("GET", f"{v}/regions", 200)
    await call("GET", f"{v}/regions", 401, token=False, bad=True)
    await call("DELETE", f"{v}/droplets/{created['droplet']['id']}", 204)
    await call("DELETE", f"{v}/droplets/999999999", 404)
    await _faults(call, "GET", f"{v}/regions", status_5xx=500)


async def _drive_vultr(call: Drive) -> None:
    emu, v = call.emu, "/v2"
    s = emu.plant(name="spec-ready", tags=["clawops"])
    busy = _busy(emu.plant(name="spec-busy", ready=False))
    gone = str(uuid.uuid4())
    created = await call(
        "POST",
        f"{v}/instances",
        202,
        json_body={
            "region": "ewr",
            "plan": "vc2-2c-4gb",
            "os_id": 2284,
            "label": "spec-new",
            "hostname": "spec-new",
            "tags": ["clawops"],
            "user_data": base64.b64encode(b"#cloud-config\n").decode(),
        },
    )
    await call("POST", f"{v}/instances", 400, json_body={"region": "ewr", "plan": "vc2-99c", "os_id": 2284})
    await call("POST", f"{v}/instances", 400, json_body={"label": "spec-x"}, bad=True)
    page = await call("GET", f"{v}/instances", 200, params={"per_page": 1})
    await call("GET", f"{v}/instances", 200, params={"per_page": 1, "cursor": page["meta"]["links"]["next"]})
    await call("GET", f"{v}/instances", 200, params={"tag": "clawops", "region": "ewr", "label": "spec-ready"})
    await call("GET", f"{v}/instances", 401, token=False, bad=True)
    await call("GET", f"{v}/instances/{s.id}", 200)
    await call("GET", f"{v}/instances/{gone}", 404)
    await call("POST", f"{v}/instances/{busy.id}/reboot", 400)
    await call("POST", f"{v}/instances/{gone}/start", 404)
    for verb in ("reboot", "halt", "start"):
        await call("POST", f"{v}/instances/{s.id}/{verb}", 204)
        emu.state.advance(30)
    await call("PATCH", f"{v}/instances/{s.id}", 202, json_body={"plan": "vc2-4c-8gb"})
    await call("PATCH", f"{v}/instances/{s.id}", 400, json_body={"plan": "vc2-1c-1gb"})  # downgrade
    await call("PATCH", f"{v}/instances/{gone}", 404, json_body={"label": "x"})
    await call("POST", f"{v}/snapshots", 201, json_body={"instance_id": s.id, "description": "spec"})
    await call("POST", f"{v}/snapshots", 400, json_body={"instance_id": gone})
    for listing in ("regions", "plans", "os"):  # public: no API key needed
        await call("GET", f"{v}/{listing}", 200, token=False)
        await call("GET", f"{v}/{listing}", 400, token=False, params={"cursor": "not-a-cursor"})
    await call("GET", f"{v}/plans", 200, token=False, params={"type": "vc2", "per_page": 2})
    await call("DELETE", f"{v}/instances/{created['instance']['id']}", 204)
    await call("DELETE", f"{v}/instances/{gone}", 404)
    await _faults(call, "GET", f"{v}/instances", status_5xx=500)


async def _drive_contabo(call: Drive) -> None:
    emu, v = call.emu, "/v1"
    s = emu.plant(name="spec-ready")
    busy = _busy(emu.plant(name="spec-busy", ready=False))
    secret = await call(
        "POST",
        f"{v}/secrets",
        201,
        json_body={"name": "spec-key", "value": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0 ops@example", "type": "ssh"},
    )
    await call("POST", f"{v}/secrets", 400, json_body={"name": "spec-key"}, bad=True)
    created = await call(
        "POST",
        f"{v}/compute/instances",
        201,
        json_body={
            "period": 1,
            "productId": "V91",
            "region": "EU",
            "displayName": "spec-new",
            "sshKeys": [secret["data"][0]["secretId"]],
            "userData": "#cloud-config\n",
        },
    )
    await call("POST", f"{v}/compute/instances", 400, json_body={"period": 1, "productId": "V999"})
    await call("POST", f"{v}/compute/instances", 400, json_body={"productId": "V91"}, bad=True)
    await call("GET", f"{v}/compute/instances", 200, params={"page": 1, "size": 1})
    await call("GET", f"{v}/compute/instances", 200, params={"displayName": "spec-ready"})
    await call("GET", f"{v}/compute/instances", 200, params={"search": "spec", "status": "running"})
    await call("GET", f"{v}/compute/instances", 401, token=False, bad=True)
    await call("GET", f"{v}/compute/instances/{s.id}", 200)
    await call("GET", f"{v}/compute/instances/999999999", 404)
    await call("POST", f"{v}/compute/instances/{busy.id}/actions/restart", 409)
    await call("POST", f"{v}/compute/instances/999999999/actions/start", 404)
    for verb in ("restart", "shutdown", "start", "stop", "start"):
        await call("POST", f"{v}/compute/instances/{s.id}/actions/{verb}", 201)
        emu.state.advance(60)
    await call(
        "POST",
        f"{v}/compute/instances/{s.id}/snapshots",
        201,
        json_body={"name": "spec-snapshot", "description": "before upgrade"},
    )
    await call("POST", f"{v}/compute/instances/{s.id}/snapshots", 400, json_body={"name": "x" * 40}, bad=True)
    await call("POST", f"{v}/compute/instances/999999999/snapshots", 404, json_body={"name": "spec"})
    await call("GET", f"{v}/data-centers", 200)
    await call("GET", f"{v}/data-centers", 400, headers={"x-request-id": "not-a-uuid"}, bad=True)
    await call("GET", f"{v}/compute/images", 200, params={"page": 1, "size": 2, "standardImage": "true"})
    await call("GET", f"{v}/compute/images", 200, params={"name": "ubuntu-22.04"})
    await call("GET", f"{v}/compute/images", 401, token=False, bad=True)
    await call("GET", f"{v}/compute/instances/{s.id}/products/available", 200)
    await call("GET", f"{v}/compute/instances/999999999/products/available", 404)
    await call("POST", f"{v}/compute/instances/{created['data'][0]['instanceId']}/cancel", 201, json_body={})
    await call("POST", f"{v}/compute/instances/999999999/cancel", 404, json_body={})
    await call("GET", f"{v}/compute/instances/{created['data'][0]['instanceId']}", 200)  # cancelDate now set
    await _faults(call, "GET", f"{v}/data-centers", status_5xx=500)


async def _drive_hostinger(call: Drive) -> None:
    emu, vps, billing = call.emu, "/api/vps/v1", "/api/billing/v1"
    s = emu.plant(name="spec-ready.example.com")
    busy = _busy(emu.plant(name="spec-busy.example.com", ready=False))
    script = await call(
        "POST",
        f"{vps}/post-install-scripts",
        200,
        json_body={"name": "clawops-bootstrap", "content": "#!/bin/sh\necho hi\n"},
    )
    await call("POST", f"{vps}/post-install-scripts", 422, json_body={"name": "x"}, bad=True)
    await call("GET", f"{vps}/post-install-scripts", 200, params={"page": 1})
    await call("GET", f"{vps}/post-install-scripts", 422, params={"page": "first"}, bad=True)
    created = await call(
        "POST",
        f"{vps}/virtual-machines",
        200,
        json_body={
            "item_id": "hostingercom-vps-kvm2-usd-1m",
            "setup": {
                "template_id": 1077,
                "data_center_id": 17,
                "hostname": "spec-new.example.com",
                "post_install_script_id": script["id"],
            },
        },
    )
    await call(
        "POST",
        f"{vps}/virtual-machines",
        422,
        json_body={"item_id": "hostingercom-vps-kvm99-usd-1m", "setup": {"template_id": 1077, "data_center_id": 17}},
    )
    await call("GET", f"{vps}/virtual-machines", 200)
    await call("GET", f"{vps}/virtual-machines", 401, token=False, bad=True)
    await call("GET", f"{vps}/virtual-machines/{s.id}", 200)
    await call("GET", f"{vps}/virtual-machines/999999999", 404)
    await call("POST", f"{vps}/virtual-machines/{busy.id}/restart", 409)
    await call("POST", f"{vps}/virtual-machines/999999999/start", 404)
    action = None
    for verb in ("restart", "stop", "start"):
        action = await call("POST", f"{vps}/virtual-machines/{s.id}/{verb}", 200)
        emu.state.advance(60)
    assert action is not None
    await call("GET", f"{vps}/virtual-machines/{s.id}/actions/{action['id']}", 200)
    await call("GET", f"{vps}/virtual-machines/{s.id}/actions/999999999", 404)
    await call("POST", f"{vps}/virtual-machines/{s.id}/snapshot", 200)
    await call("POST", f"{vps}/virtual-machines/999999999/snapshot", 404)
    for listing in (f"{vps}/data-centers", f"{vps}/templates", f"{billing}/subscriptions"):
        await call("GET", listing, 200)
        await call("GET", listing, 401, token=False, bad=True)
    await call("GET", f"{billing}/catalog", 200, params={"category": "VPS"})
    await call("GET", f"{billing}/catalog", 401, token=False, bad=True)
    sub = created["virtual_machine"]["subscription_id"]
    await call("DELETE", f"{billing}/subscriptions/{sub}/auto-renewal/disable", 200)
    await call("DELETE", f"{billing}/subscriptions/Azz-unknown/auto-renewal/disable", 404)
    await call("DELETE", f"{vps}/post-install-scripts/{script['id']}", 200)
    await call("DELETE", f"{vps}/post-install-scripts/999999999", 404)
    await _faults(call, "GET", f"{vps}/data-centers", status_5xx=500)


DRIVES: dict[str, Callable[[Drive], Awaitable[None]]] = {
    "hetzner": _drive_hetzner,
    "digitalocean": _drive_digitalocean,
    "vultr": _drive_vultr,
    "contabo": _drive_contabo,
    "hostinger": _drive_hostinger,
}


# --- checking -------------------------------------------------------------------------------------


def _declared_headers(spec: dict[str, Any], provider: str, method: str, url_path: str, status: int) -> list[str]:
    template = spec_path(provider, url_path)
    op = spec["paths"].get(template or "", {}).get(method.lower())
    if not isinstance(op, dict):
        return []
    responses = op["responses"]
    response = responses.get(str(status)) or responses.get(f"{status // 100}XX") or responses.get("default")
    response = _resolve(spec, response) or {}
    return [name for name in (response.get("headers") or {}) if name.lower() not in CONDITIONAL_HEADERS]


def check(provider: str, exchanges: list[Exchange], server_url: str) -> tuple[int, list[str], set[str]]:
    """(exchanges checked, problems, notes) for one vendor; notes are the spec's deprecation warnings."""
    from openapi_core.templating.paths.exceptions import PathNotFound

    checked = [x for x in exchanges if not any(marker in x.request.url.path for marker in NOT_IN_SPEC)]
    used = {spec_path(provider, x.request.url.path) for x in checked}
    problems = [
        f"{x.request.method} {x.request.url.path}: path not in the vendor spec"
        for x in checked
        if spec_path(provider, x.request.url.path) is None
    ]
    notes: set[str] = set()
    spec = patched_spec(provider, {p for p in used if p})
    openapi = openapi_for(spec, server_url)
    for x in checked:
        where = f"{x.source}: {x.request.method} {x.request.url.path} → {x.response.status_code}"
        req, resp = _Req(x.request), _Resp(x.response)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", DeprecationWarning)
                openapi.validate_request(req)
            notes.update(
                f"{x.source}: {x.request.method} {spec_path(provider, x.request.url.path)}: {w.message}"
                for w in caught
                if issubclass(w.category, DeprecationWarning)
            )
            if x.bad_request:
                problems.append(f"{where}: request sent wrong on purpose, yet the spec accepts it")
        except PathNotFound:
            continue  # reported above
        except Exception as exc:
            if not x.bad_request:
                problems.append(f"{where}: request: {_explain(exc)}")
        try:
            openapi.validate_response(req, resp)
        except Exception as exc:
            problems.append(f"{where}: response: {_explain(exc)}")
        missing = [
            h
            for h in _declared_headers(spec, provider, x.request.method, x.request.url.path, x.response.status_code)
            if h not in x.response.headers
        ]
        if missing:
            problems.append(f"{where}: declared header(s) missing: {', '.join(missing)}")
    return len(checked), problems, notes


def route_coverage(emu: Emulator) -> list[str]:
    """Emulator routes never answered with a 2xx, or never with a 4xx."""
    routes = {
        f"{r.method} {r.resource.canonical}"
        for r in emu.runner.app.router.routes()
        if r.method != "HEAD" and r.resource is not None
    }
    routes = {r for r in routes if not any(marker in r for marker in NOT_IN_SPEC)}
    answered: dict[str, set[int]] = {}
    for record in emu.state.log:
        answered.setdefault(record.route, set()).add(record.status // 100)
    gaps = []
    for route in sorted(routes):
        classes = answered.get(route, set())
        for cls, name in ((2, "2xx"), (4, "4xx")):
            if cls not in classes:
                gaps.append(f"{route}: never answered with a {name}")
    return gaps


async def test_every_emulator_route_and_driver_call_matches_the_vendor_spec(capsys: pytest.CaptureFixture[str]) -> None:
    total = valid = 0
    problems: list[str] = []
    lines = []
    for provider, drive in DRIVES.items():
        exchanges: list[Exchange] = []

        async def record(response: httpx.Response, into: list[Exchange] = exchanges) -> None:
            await response.aread()
            into.append(Exchange(response.request, response, source="driver"))

        async with (
            running_emulator(provider, time_scale=100.0) as emu,
            httpx.AsyncClient(timeout=5.0, event_hooks={"response": [record]}) as driver_client,
            httpx.AsyncClient(timeout=5.0) as plain,
        ):
            driver = emulator_driver(emu, driver_client, time_scale=100.0)
            await _driver_scenario(provider, driver, emu)
            call = Drive(emu, plain)
            await drive(call)
            exchanges.extend(call.exchanges)
            mine = [f"{provider}: {p}" for p in call.unexpected]
            mine += [f"{provider}: {gap}" for gap in route_coverage(emu)]
            n, bad, notes = check(provider, exchanges, emu.root_url + _spec_prefix(provider))
        mine += [f"{provider}: {p}" for p in bad]
        invalid = len({p.split(":", 2)[1] for p in bad})  # one exchange may have several problems
        total += n
        valid += n - min(n, invalid)
        lines.append(
            f"{provider}: {n - min(n, invalid)}/{n} exchanges valid, "
            f"{len(_patches(provider))} documented spec patch(es)"
        )
        lines += [f"  note ({provider}): deprecated in the vendor spec: {note}" for note in sorted(notes)]
        problems += mine
    percent = 100 * valid / total if total else 0
    with capsys.disabled():
        print("\nvendor-spec conformance (openapi-core, request and response):")
        for line in lines:
            print("  " + line)
        print(f"  {valid}/{total} exchanges valid; {percent:.0f} %")
    assert total >= 200, f"only {total} exchanges were checked"
    assert not problems, "\n".join(problems)
