"""Pairing state: single-use, expiring bootstrap tokens; hashed device tokens; the persistence seam."""

from __future__ import annotations

import json
import secrets

import pytest

from engine.gateway import DeviceRegistry, new_token


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_bootstrap_tokens_are_single_use_and_expire() -> None:
    clock = Clock()
    reg = DeviceRegistry(clock=clock)
    token = reg.issue_bootstrap_token("inst-1", "acct-001")
    assert len(token) == 43
    grant = reg.consume_bootstrap(token)
    assert grant is not None and (grant.instance_id, grant.account_id) == ("inst-1", "acct-001")
    assert reg.consume_bootstrap(token) is None  # replay
    late = reg.issue_bootstrap_token("inst-2", "acct-002")
    clock.now += 601
    assert reg.peek_bootstrap(late) is None and reg.consume_bootstrap(late) is None


def test_device_tokens_are_stored_hashed_and_survive_export_import() -> None:
    reg = DeviceRegistry()
    device, token = reg.pair("d" * 64, "pk", approved_via="operator", account_id="acct-001", instance_id="inst-1")
    assert reg.check_device_token(device.device_id, token) and not reg.check_device_token(device.device_id, "x")
    state = reg.export_state()
    assert token not in json.dumps(state)  # a dump never hands out credentials
    again = DeviceRegistry()
    again.import_state(json.loads(json.dumps(state)))
    assert again.check_device_token(device.device_id, token)
    stored = again.get(device.device_id)
    assert stored is not None and stored.account_id == "acct-001"
    rotated = again.rotate_token(device.device_id)
    assert again.check_device_token(device.device_id, rotated) and not again.check_device_token(device.device_id, token)
    assert again.revoke(device.device_id) and not again.check_device_token(device.device_id, rotated)


def test_pending_request_is_reused_per_device() -> None:
    reg = DeviceRegistry()
    a = reg.request_pairing("d1", "pk1", display_name="n", client_instance_id=None, remote_addr=None, commands=[])
    b = reg.request_pairing("d1", "pk1", display_name="n", client_instance_id=None, remote_addr=None, commands=[])
    c = reg.request_pairing("d2", "pk2", display_name="n", client_instance_id=None, remote_addr=None, commands=[])
    assert a.request_id == b.request_id != c.request_id
    assert {r.device_id for r in reg.pending()} == {"d1", "d2"}
    reg.pair("d1", "pk1", approved_via="operator")
    assert [r.device_id for r in reg.pending()] == ["d2"]


def test_tokens_never_start_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """An operator pastes a token after ``--bootstrap-token``; one that starts with "-" reads as an option there."""
    drawn = iter(["-looks-like-an-option", "_fine-token"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda nbytes: next(drawn))
    assert new_token() == "_fine-token"
    drawn = iter(["-again", "-and-again", "ok"])
    assert DeviceRegistry().issue_bootstrap_token("inst-1", "acct-001") == "ok"
