"""The systemd unit and install script: syntax, and that they call clawnode the way the CLI expects."""

from __future__ import annotations

import asyncio
import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from node.cli import _parser, main

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_unit_runs_clawnode_with_a_config_file() -> None:
    unit = (DEPLOY / "clawnode.service").read_text()
    exec_line = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    argv = exec_line.split("=", 1)[1].split()
    assert argv[0].endswith("/clawnode")
    args = _parser().parse_args(argv[1:])
    assert args.cmd == "run" and args.config == "/etc/clawnode/config.json"
    assert "NoNewPrivileges=yes" in unit and "UMask=0077" in unit
    assert "RestartPreventExitStatus=77 78" in unit  # fatal refusals are not retried by systemd


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_install_script_parses_and_refuses_bad_input() -> None:
    script = DEPLOY / "install-clawnode.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    out = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--bootstrap-token" in out.stdout
    bad = subprocess.run(["bash", str(script), "--bogus"], capture_output=True, text=True)
    assert bad.returncode == 1 and "unknown option" in bad.stderr


def test_install_writes_config_identity_and_unit(tmp_path: Path) -> None:
    from node.install import install, unit_text

    settings = {
        "gateway": "wss://ops.example.com:18789/",
        "bootstrap_token": "boot-1",
        "instance_id": "i-9",
        "account_id": "acct-9",
        "hostname": "vps-9",
        "role": "primary",
    }
    first = install(settings, root=tmp_path, executable="/opt/x/bin/clawnode")
    assert not first.started  # --root never starts anything
    config = json.loads(first.config_path.read_text())
    assert config == {**settings, "state_path": "/var/lib/clawnode/state.json"}
    assert stat.S_IMODE(first.config_path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "var/lib/clawnode/state.json").stat().st_mode) == 0o600
    unit = first.unit_path.read_text()
    assert "ExecStart=/opt/x/bin/clawnode run --config /etc/clawnode/config.json" in unit
    assert unit == unit_text("/opt/x/bin/clawnode")
    again = install({**settings, "bootstrap_token": "boot-2"}, root=tmp_path, executable="/opt/x/bin/clawnode")
    assert again.device_id == first.device_id  # re-running keeps the one identity
    assert json.loads(again.config_path.read_text())["bootstrap_token"] == "boot-2"


def test_install_refuses_bad_input_in_one_sentence(tmp_path: Path) -> None:
    from node.errors import ConfigError
    from node.install import install

    with pytest.raises(ConfigError, match="--bootstrap-token"):
        install({"gateway": "wss://x:1/"}, root=tmp_path)
    with pytest.raises(ConfigError, match="ws:// or wss://"):
        install({"gateway": "http://x", "bootstrap_token": "t"}, root=tmp_path)
    assert not (tmp_path / "etc/clawnode/config.json").exists()  # nothing half-done


def test_the_packaged_unit_is_the_one_every_installer_uses() -> None:
    from node.cloudinit import CLAWNODE_UNIT

    assert (DEPLOY / "clawnode.service").read_text() == CLAWNODE_UNIT


async def test_an_installed_clawnode_pairs_with_its_bootstrap_token(tmp_path: Path) -> None:
    """`clawnode install`, then the installed `clawnode run` (a real process) pairs once with the token."""
    from engine.gateway import NodeGateway
    from tests.node.clawnode_testkit import SHARED_TOKEN, until

    gw = NodeGateway("127.0.0.1", 0, SHARED_TOKEN)
    await gw.start()
    proc = None
    try:
        token = gw.issue_bootstrap_token("i-9", "acct-9")
        assert (
            main(
                [
                    "install",
                    "--gateway",
                    gw.url,
                    "--bootstrap-token",
                    token,
                    "--instance",
                    "i-9",
                    "--account",
                    "acct-9",
                    "--hostname",
                    "vps-9",
                    "--root",
                    str(tmp_path),
                ]
            )
            == 0
        )
        config = json.loads((tmp_path / "etc/clawnode/config.json").read_text())
        config.update(
            state_path=str(tmp_path / "var/lib/clawnode/state.json"),
            gateway_probe_url=None,
            spool_dir=str(tmp_path / "spool"),
        )  # the installed paths, under the test's root
        (tmp_path / "run.json").write_text(json.dumps(config))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "node.cli",
            "run",
            "--config",
            str(tmp_path / "run.json"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await until(lambda: gw.registry.device_for_instance("i-9") is not None, timeout=30)
        device = gw.registry.device_for_instance("i-9")
        assert device is not None and device.account_id == "acct-9" and device.approved_via == "bootstrap"
        state = json.loads((tmp_path / "var/lib/clawnode/state.json").read_text())
        assert device.device_id == state["deviceId"]  # the identity `install` created is the one that paired
        await until(lambda: gw.is_connected(device.device_id), timeout=30)
        await until(
            lambda: json.loads((tmp_path / "var/lib/clawnode/state.json").read_text())["deviceToken"] is not None,
            timeout=30,
        )  # and it kept the device token it was issued
    finally:
        if proc is not None and proc.returncode is None:
            proc.terminate()
            await proc.wait()
        await gw.stop()
