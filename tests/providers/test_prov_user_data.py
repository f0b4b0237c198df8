"""Bootstrap data does not outlive the boot at the vendor: Hostinger's post-install scripts (which carry the
node's token) are deleted once the node is up; every other driver keeps user data only on the server."""

from __future__ import annotations

import pytest

from engine.providers.emulators.hostinger import Hostinger
from tests.providers.provider_kit import Rig

USER_DATA = "#!/bin/bash\necho bootstrap-token-abc123 > /etc/clawnode/token\n"


@pytest.mark.parametrize("provider", ["hostinger"])
async def test_hostinger_post_install_scripts_are_deleted_after_the_boot(rig: Rig) -> None:
    vendor = rig.emu.vendor
    assert isinstance(vendor, Hostinger)
    for n in range(16):  # the account's other scripts: ours lands on the second page (15 per page)
        vendor.script_seq += 1
        vendor.scripts[vendor.script_seq] = {
            "id": vendor.script_seq,
            "name": f"someone-else-{n}",
            "content": "echo hi",
            "created_at": "",
            "updated_at": "",
        }
    await rig.driver.create_server(rig.spec(1, user_data=USER_DATA))
    ours = [sc for sc in vendor.scripts.values() if sc["name"] == "clawops-i-acct-001-p"]
    assert len(ours) == 1 and ours[0]["content"] == USER_DATA  # the vendor holds the token until we act
    assert await rig.driver.forget_user_data("i-acct-001-p") == 1
    assert len(vendor.scripts) == 16 and all(sc["name"].startswith("someone-else") for sc in vendor.scripts.values())
    assert await rig.driver.forget_user_data("i-acct-001-p") == 0  # nothing left to delete: not an error


@pytest.mark.parametrize("provider", ["hetzner", "vultr", "digitalocean", "contabo"])
async def test_other_vendors_keep_no_copy_to_forget(rig: Rig) -> None:
    assert await rig.driver.forget_user_data("i-acct-001-p") == 0
