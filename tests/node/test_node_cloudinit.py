"""Cloud-init user data: provisioning renders it, an emulator parses it back and boots a simulated node."""

from __future__ import annotations

import pytest
from clawnode_testkit import Reports

from engine.gateway import NodeGateway
from node.cloudinit import CONFIG_PATH, parse_cloud_init, render_cloud_init
from node.errors import ConfigError
from node.sim import SimulatedFleet


async def test_emulated_server_boots_from_its_cloud_init(gateway: NodeGateway, reports: Reports) -> None:
    token = gateway.issue_bootstrap_token("inst-77", "acct-077")
    user_data = render_cloud_init(
        {"gateway": gateway.url, "bootstrap_token": token, "hostname": "vps-77", "account_id": "acct-077",
         "instance_id": "inst-77", "provider": "hetzner", "region": "eu-hetzner-nbg1", "tier": "standard",
         "role": "primary", "gateway_probe_url": None, "health_interval_s": 0.2},
        installer_url="https://ops.example/install-clawnode.sh",
    )
    assert user_data.startswith("#cloud-config\n") and f"path: {CONFIG_PATH}" in user_data
    assert token not in user_data  # it travels base64-encoded inside the 0600 write_files entry

    config = parse_cloud_init(user_data)
    assert config is not None and config.bootstrap_token == token and config.instance_id == "inst-77"
    fleet = SimulatedFleet(backoff_initial_s=0.05)
    try:
        node = fleet.boot(config)
        await node.client.wait_connected(10)
        await reports.wait_for(lambda items: any(r.instance_id == "inst-77" and r.account_id == "acct-077"
                                                 for r in items))
    finally:
        await fleet.shutdown_all()


def test_parse_ignores_foreign_user_data_and_rejects_bad_config() -> None:
    assert parse_cloud_init("#cloud-config\npackages: [nginx]\n") is None
    with pytest.raises(ConfigError):
        render_cloud_init({"gateway": "http://not-ws", "token": "t"}, installer_url="https://x/i.sh")
    broken = f"#cloud-config\nwrite_files:\n  - path: {CONFIG_PATH}\n    content: bm90IGpzb24=\n"
    with pytest.raises(ConfigError):
        parse_cloud_init(broken)
