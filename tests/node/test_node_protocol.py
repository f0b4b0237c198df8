"""Wire types, the signed payload, identity files, /proc collectors, and a fuzz of the frame parser."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.errors import IdentityError
from node.health import HealthCollector, NodeFacts, parse_cpu_times, parse_loadavg, parse_meminfo
from node.identity import DeviceIdentity, load_public_key, verify_signature
from node.protocol import (
    CancelFrame,
    ErrorShape,
    EventFrame,
    Frame,
    FrameError,
    InvokeRequest,
    NodeHealthReport,
    RequestFrame,
    ResponseFrame,
    b64url_decode,
    b64url_encode,
    build_device_auth_payload,
    encode_frame,
    parse_frame,
)
from node.system import ContainerInfo, DockerUnavailable, ProcSystem, SimulatedSystem

ROOT = Path(__file__).resolve().parents[2]


def test_signed_payload_strings_match_the_reference() -> None:
    common: dict[str, Any] = dict(
        device_id="abc",
        client_id="node-host",
        client_mode="node",
        role="node",
        scopes=[],
        signed_at_ms=1795512134799,
        token="tok",
        nonce="5d89",
    )
    assert (
        build_device_auth_payload("v3", platform="linux", **common)
        == "v3|abc|node-host|node|node||1795512134799|tok|5d89|linux|"
    )
    assert build_device_auth_payload("v2", **common) == "v2|abc|node-host|node|node||1795512134799|tok|5d89"
    # ASCII-only lowercasing, trimmed; non-ASCII letters untouched
    assert build_device_auth_payload("v3", platform="  LiNUX ", device_family="ÄBC", **common).endswith("|linux|Äbc")
    assert build_device_auth_payload("v3", **{**common, "scopes": ["b", "a"]}).split("|")[5] == "b,a"


def test_device_id_is_sha256_of_raw_public_key_and_base64url_unpadded() -> None:
    ident = DeviceIdentity.generate()
    raw = ident.public_key_raw
    assert len(raw) == 32 and ident.device_id == hashlib.sha256(raw).hexdigest()
    assert "=" not in ident.public_key_b64url and len(ident.public_key_b64url) == 43
    sig = ident.sign("hello")
    assert len(sig) == 86 and "=" not in sig and "+" not in sig and "/" not in sig
    assert verify_signature(load_public_key(ident.public_key_b64url), "hello", sig)
    assert not verify_signature(load_public_key(ident.public_key_b64url), "hellO", sig)
    pem = (
        ident.private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert verify_signature(load_public_key(pem), "hello", sig)  # PEM SPKI also accepted


@given(st.binary(max_size=100))
def test_b64url_round_trip(data: bytes) -> None:
    assert b64url_decode(b64url_encode(data) or "AA")[: len(data)] == data or data == b""


@pytest.mark.parametrize("bad", ["", "a", "ab+c", "ab/c", "a b", "é"])
def test_b64url_rejects_foreign_alphabet(bad: str) -> None:
    with pytest.raises(ValueError):
        b64url_decode(bad)


def test_identity_file_is_0600_and_survives_reload(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.json"
    ident = DeviceIdentity.load_or_create(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    ident.remember_token("T" * 43, "node", [])
    again = DeviceIdentity.load_or_create(path)
    assert again.device_id == ident.device_id and again.device_token == "T" * 43
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    os.chmod(path, 0o644)
    DeviceIdentity.load_or_create(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # tightened, not refused
    path.write_text("{broken")
    with pytest.raises(IdentityError, match="corrupt"):
        DeviceIdentity.load_or_create(path)


def test_frames_round_trip() -> None:
    frames: list[Frame] = [
        RequestFrame("1", "connect", {"a": 1}),
        ResponseFrame("1", True, {"type": "hello-ok"}),
        ResponseFrame(
            "2",
            False,
            error=ErrorShape("NOT_PAIRED", "pairing required", {"code": "PAIRING_REQUIRED"}, retry_after_ms=5),
        ),
        EventFrame("tick", {"ts": 1}, seq=3),
        CancelFrame("9"),
    ]
    for frame in frames:
        assert parse_frame(encode_frame(frame)) == frame


def test_parser_is_lenient_about_extra_fields_strict_about_required_ones() -> None:
    frame = parse_frame('{"type":"event","event":"health","payload":{},"seq":1,"extra":true,"stateVersion":{"a":1}}')
    assert isinstance(frame, EventFrame) and frame.state_version == {"a": 1}
    for bad in (
        '{"type":"req","method":"x"}',
        '{"type":"res","id":"1"}',
        '{"type":"res","id":"1","ok":false}',
        "[]",
        '{"type":"nope"}',
        '{"type":"req","id":"1","method":"x","params":[1]}',
        "nan",
        '"str"',
    ):
        with pytest.raises(FrameError):
            parse_frame(bad)
    with pytest.raises(FrameError) as err:
        parse_frame("x" * 100, max_bytes=99)
    assert err.value.reason == "too_large"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
_frameish = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["req", "res", "event", "cancel", "x"]) | _json,
        "id": _json,
        "method": _json,
        "params": _json,
        "ok": _json,
        "error": _json,
        "payload": _json,
        "event": _json,
        "seq": _json,
        "stateVersion": _json,
    },
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_frameish.map(json.dumps), st.text(max_size=200), st.binary(max_size=200)))
def test_fuzz_parser_only_ever_raises_frame_error(data: str | bytes) -> None:
    try:
        frame = parse_frame(data, max_bytes=64 * 1024)
    except FrameError:
        return
    assert isinstance(frame, (RequestFrame, ResponseFrame, EventFrame, CancelFrame))
    assert parse_frame(encode_frame(frame)) is not None  # whatever we accept, we can re-encode


@settings(max_examples=200)
@given(_json)
def test_fuzz_payload_decoders_fail_soft(payload: Any) -> None:
    for decode in (lambda p: NodeHealthReport.from_payload(p, node_id="n"), InvokeRequest.from_payload):
        try:
            decode(payload)
        except FrameError:
            pass


def test_health_report_round_trip() -> None:
    report = NodeHealthReport(
        node_id="n",
        hostname="h",
        account_id="a",
        instance_id="i",
        provider="sim",
        region="eu-sim-x",
        tier="nano",
        role="primary",
        ts_ms=5,
        clawnode_version="0.1.0",
        cpu_percent=12.5,
        load_1=0.1,
        load_5=0.2,
        load_15=0.3,
        mem_total_bytes=100,
        mem_available_bytes=25,
        disk_total_bytes=1000,
        disk_free_bytes=10,
        uptime_s=9.0,
        docker_available=False,
        gateway_running=True,
        gateway_pid=7,
        gateway_ws_latency_ms=1.5,
        errors={"docker": "docker is not installed"},
    )
    assert NodeHealthReport.from_payload(json.loads(json.dumps(report.to_payload()))) == report
    assert report.mem_used_percent == 75.0 and report.disk_used_percent == 99.0
    claimed = NodeHealthReport.from_payload(report.to_payload(), node_id="authenticated")
    assert claimed.node_id == "authenticated"


PROC_STAT = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n"
MEMINFO = "MemTotal:       4000000 kB\nMemFree:         100000 kB\nMemAvailable:   1000000 kB\n"


def test_proc_parsers() -> None:
    assert parse_cpu_times(PROC_STAT) == (150, 1000)
    assert parse_meminfo(MEMINFO) == (4_096_000_000, 1_024_000_000)
    assert parse_meminfo("MemTotal: 10 kB\nMemFree: 1 kB\nCached: 2 kB\n") == (10240, 3072)
    assert parse_loadavg("0.50 0.25 0.10 1/200 999\n") == (0.5, 0.25, 0.1)


async def test_collectors_fail_soft() -> None:
    class Broken(SimulatedSystem):
        def read_proc(self, name: str) -> str:
            raise PermissionError(f"/proc/{name}")

        def disk_usage(self, path: str) -> tuple[int, int]:
            raise OSError("statvfs failed")

        async def docker_containers(self) -> list[ContainerInfo]:
            raise DockerUnavailable("docker is not installed")

        def gateway_pid(self) -> int | None:
            raise RuntimeError("boom")

    report = await HealthCollector(Broken(), NodeFacts(node_id="n", hostname="h"), probe_url="ws://x/").collect()
    assert report.cpu_percent is None and report.mem_total_bytes is None and report.disk_free_bytes is None
    assert report.docker_available is False and report.errors["docker"] == "docker is not installed"
    assert set(report.errors) == {"cpu", "load", "memory", "disk", "uptime", "gateway", "docker"}


async def test_simulated_faults_show_in_reports() -> None:
    system = SimulatedSystem(disk_full=True, gateway_dead=True)
    collector = HealthCollector(system, NodeFacts(node_id="n", hostname="h"), probe_url="ws://127.0.0.1:18789/")
    report = await collector.collect()
    assert report.disk_free_bytes == 0 and report.gateway_running is False
    assert "gateway_ws" in report.errors and report.cpu_percent == pytest.approx(7.0)
    await system.restart_gateway()
    healed = await collector.collect()
    assert healed.gateway_running is True and healed.gateway_ws_latency_ms == 3.0


async def test_proc_system_reads_this_machine() -> None:
    """The real collectors on the test machine: readings present, missing pieces reported, nothing raised."""
    system = ProcSystem(docker_socket="/nonexistent/docker.sock")
    report = await HealthCollector(system, NodeFacts(node_id="n", hostname="h")).collect()
    assert report.mem_total_bytes and report.mem_total_bytes > 0
    assert report.disk_total_bytes and report.uptime_s and report.load_1 is not None
    assert report.docker_available is not None or "docker" in report.errors
    # An OpenClaw gateway runs on this machine only while a real-gateway test or bench does.
    assert report.gateway_running is (system.gateway_pid() is not None)


def test_node_imports_nothing_from_engine_or_app() -> None:
    offenders = []
    for path in (ROOT / "node").rglob("*.py"):
        for n in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in n.names]
                if isinstance(n, ast.Import)
                else ([n.module or ""] if isinstance(n, ast.ImportFrom) else [])
            )
            offenders += [f"{path.name}: {m}" for m in names if m.split(".")[0] in {"engine", "app", "voice"}]
    assert offenders == []


def test_node_runtime_needs_only_websockets_cryptography_and_tenacity() -> None:
    """tenacity (pure Python) computes the reconnect backoff; nothing heavier may creep into the node."""
    import sys

    third_party = set()
    for path in (ROOT / "node").rglob("*.py"):
        for n in ast.walk(ast.parse(path.read_text())):
            if isinstance(n, ast.Import):
                third_party |= {a.name.split(".")[0] for a in n.names}
            elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
                third_party.add(n.module.split(".")[0])
    third_party -= set(sys.stdlib_module_names) | {"node", "__future__"}
    assert third_party == {"websockets", "cryptography", "tenacity"}


def test_gateway_process_is_found_by_its_command_line(tmp_path: Path) -> None:
    def proc(pid: int, argv: list[str]) -> None:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")

    proc(10, ["/usr/bin/bash"])
    proc(11, ["node", "/opt/openclaw/openclaw.mjs", "node", "run"])  # a node host, not the gateway
    system = ProcSystem(proc_root=str(tmp_path))
    assert system.gateway_pid() is None
    proc(12, ["node", "/usr/lib/node_modules/openclaw/openclaw.mjs", "gateway", "run", "--port", "18789"])
    assert system.gateway_pid() == 12


def test_the_renamed_gateway_process_is_found(tmp_path: Path) -> None:
    """OpenClaw 2026.9 renames its gateway process: cmdline and comm read ``openclaw-gateway``."""
    system = ProcSystem(proc_root=str(tmp_path))
    (tmp_path / "30").mkdir()
    (tmp_path / "30" / "cmdline").write_bytes(b"openclaw-gateway" + b" " * 40)  # a rewritten argv area
    (tmp_path / "30" / "comm").write_bytes(b"openclaw-gatewa\n")  # comm is cut at 15 characters
    assert system.gateway_pid() == 30
    (tmp_path / "30" / "cmdline").write_bytes(b"")  # a kernel thread-like empty cmdline: comm alone decides
    assert system.gateway_pid() == 30
    (tmp_path / "30" / "comm").write_bytes(b"bash\n")
    assert system.gateway_pid() is None
    (tmp_path / "31").mkdir()
    (tmp_path / "31" / "cmdline").write_bytes(b"/usr/local/bin/openclaw-gateway\0")
    assert system.gateway_pid() == 31
    (tmp_path / "31" / "cgroup").write_text("0::/system.slice/docker-" + "ab" * 32 + ".scope\n")
    assert system.gateway_container_of(31) == "ab" * 6


async def test_a_gateway_only_docker_can_see_counts_as_running() -> None:
    """clawnode in its own PID namespace sees no gateway process; a running OpenClaw container still counts."""
    from node.health import HealthCollector, NodeFacts
    from node.system import ContainerInfo, SimulatedSystem

    class Namespaced(SimulatedSystem):
        def gateway_pid(self) -> int | None:
            return None

    system = Namespaced()
    report = await HealthCollector(system, NodeFacts(node_id="n", hostname="h")).collect()
    assert report.gateway_running is True and report.gateway_pid is None
    assert report.gateway_container == "openclaw-gateway"
    assert report.to_payload()["gateway"]["container"] == "openclaw-gateway"
    system.gateway_dead = True  # its container has exited
    report = await HealthCollector(system, NodeFacts(node_id="n", hostname="h")).collect()
    assert report.gateway_running is False
    from node.system import is_gateway_container

    assert not is_gateway_container(ContainerInfo("web", "running", "Up", "nginx:1"))


async def test_host_stats_payload_fits_the_gateway_schema() -> None:
    from node.health import HealthCollector, NodeFacts, host_stats_payload
    from node.system import SimulatedSystem

    collector = HealthCollector(SimulatedSystem(), NodeFacts(node_id="n", hostname="h"))
    report = await collector.collect()
    stats = host_stats_payload(report, collector.cpu_count())
    assert stats is not None and set(stats) == {
        "cpuCount",
        "memoryTotalBytes",
        "memoryFreeBytes",
        "loadAverage",
        "diskTotalBytes",
        "diskAvailableBytes",
    }
    assert stats["memoryFreeBytes"] <= stats["memoryTotalBytes"] and stats["cpuCount"] >= 1
    assert all(isinstance(stats[k], int) for k in ("memoryTotalBytes", "diskTotalBytes", "diskAvailableBytes"))


def test_the_bootstrapped_container_command_is_found_as_the_gateway(tmp_path: Path) -> None:
    """The command cloud-init's openclaw-gateway unit runs in the container is what clawnode looks for."""
    from node.cloudinit import _openclaw_unit

    unit = _openclaw_unit("ghcr.io/openclaw/openclaw:2026.9.6")
    argv = unit.split("ghcr.io/openclaw/openclaw:2026.9.6 \\\n", 1)[1].split("\n", 1)[0].split()
    (tmp_path / "77").mkdir()
    (tmp_path / "77" / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    assert argv[:3] == ["node", "openclaw.mjs", "gateway"]
    assert ProcSystem(proc_root=str(tmp_path)).gateway_pid() == 77


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root, as clawnode has on a VPS")
def test_config_writes_keep_the_gateway_user_as_owner(tmp_path: Path) -> None:
    data = tmp_path / "openclaw"
    data.mkdir()
    os.chown(data, 1000, 1000)  # the container's node user owns its data directory
    system = ProcSystem(config_path=str(data / "openclaw.json"))
    system.write_config('{"a": 1}\n')
    system.write_config('{"a": 2}\n')
    st = (data / "openclaw.json").stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (1000, 1000, 0o600)
    assert system.read_previous_config() == '{"a": 1}\n'
