"""The systemd unit and install script: syntax, and that they call clawnode the way the CLI expects."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from node.cli import _parser

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
