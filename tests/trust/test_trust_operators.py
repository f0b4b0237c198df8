"""Operators, channel identities and API keys: every change audited, revocation cascades, keys shown once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from engine import audit
from engine.errors import InputError, NotFound, PolicyRefusal
from engine.policy import Caller, Role
from engine.store import Operator, Store, Tenant, open_store, utcnow
from engine.trust import (
    AuthenticationError,
    Trust,
    add_operator,
    authenticate,
    caller_for_operator,
    hash_key,
    link_identity,
    list_keys,
    list_operators,
    normalize_external_id,
    query,
    resolve_identity,
    revoke_key,
    revoke_operator,
)


@pytest.fixture
def trust(store_url: str, tmp_path: Path) -> Iterator[Trust]:
    store = open_store(store_url)
    with store.session() as s:
        s.add(Operator(id="op-owner", name="owner", role="owner"))
        s.add(Tenant(id="t-acme", name="Acme"))
        s.add(Tenant(id="t-globex", name="Globex"))
    t = Trust(store, tmp_path, environ={})
    yield t
    store.dispose()


def owner(store: Store) -> Caller:
    return caller_for_operator(store, "owner")


def test_add_list_revoke_with_identities_and_keys(trust: Trust) -> None:
    store, me = trust.store, owner(trust.store)
    view = add_operator(store, me, "alice", "operator", tenant_id="t-acme")
    assert (view.role, view.tenant_id, view.active) == ("operator", "t-acme", True)
    link_identity(store, me, "alice", "telegram", "4242")
    link_identity(store, me, "alice", "whatsapp", "+49 170 123-4567")
    issued = trust.issue_key(me, "alice", ["read"])
    assert issued.key.startswith(f"cok_{issued.prefix}_") and "[REDACTED]" in repr(issued)
    alice = next(v for v in list_operators(store, me) if v.name == "alice")
    assert alice.keys == 1 and alice.identities == ("telegram:4242", "whatsapp:491701234567")

    revoked = revoke_operator(store, me, "alice")
    assert revoked.revoked_at is not None and revoked.keys == 0 and revoked.identities == ()
    assert all(k.revoked_at is not None for k in list_keys(store, me, operator="alice"))
    with pytest.raises(AuthenticationError):
        trust.authenticate(issued.key)
    with pytest.raises(AuthenticationError):
        resolve_identity(store, "telegram", "4242", throttle=trust.throttle)
    actions = [e.action for e in query(store, limit=100)]
    for expected in ("operator.add", "operator.link", "key.issue", "operator.revoke", "login.failed"):
        assert expected in actions
    assert audit.verify(store).ok


def test_bad_operator_input_is_one_sentence(trust: Trust) -> None:
    store, me = trust.store, owner(trust.store)
    for name, role, tenant, err in [
        ("Bad Name", "viewer", None, InputError),
        ("bob", "god", None, InputError),
        ("bob", "viewer", "t-nope", NotFound),
        ("owner", "viewer", None, InputError),  # exists
    ]:
        with pytest.raises(err) as info:
            add_operator(store, me, name, role, tenant_id=tenant)
        assert str(info.value).count(". ") == 0 and str(info.value).endswith(".")
    with pytest.raises(InputError, match="yourself"):
        revoke_operator(store, me, "owner")


def test_only_owners_administer_and_scoped_owners_stay_in_their_tenant(trust: Trust) -> None:
    store, me = trust.store, owner(trust.store)
    add_operator(store, me, "vera", "viewer")
    add_operator(store, me, "acme-boss", "owner", tenant_id="t-acme")
    add_operator(store, me, "gus", "operator", tenant_id="t-globex")
    with pytest.raises(PolicyRefusal) as refused:
        add_operator(store, caller_for_operator(store, "vera"), "eve", "owner")
    assert refused.value.rule == "role"
    with pytest.raises(PolicyRefusal):
        list_operators(store, caller_for_operator(store, "vera"))  # phone numbers are not a viewer's business
    boss = caller_for_operator(store, "acme-boss")
    made = add_operator(store, boss, "acme-ops", "operator")
    assert made.tenant_id == "t-acme"  # defaults to the boss's tenant
    with pytest.raises(PolicyRefusal) as refused:
        add_operator(store, boss, "spy", "owner", tenant_id="t-globex")
    assert refused.value.rule == "rule6_tenant_isolation"
    with pytest.raises(PolicyRefusal):
        revoke_operator(store, boss, "gus")
    assert {v.name for v in list_operators(store, boss)} == {"acme-boss", "acme-ops"}


def test_last_owner_cannot_be_revoked(trust: Trust) -> None:
    store, me = trust.store, owner(trust.store)
    add_operator(store, me, "second", "owner")
    revoke_operator(store, caller_for_operator(store, "second"), "owner")
    someone = Caller("op-break-glass", "break-glass", Role.OWNER)  # an owner not in the table
    with pytest.raises(InputError, match="last active owner"):
        revoke_operator(store, someone, "second")


@pytest.mark.parametrize(
    ("channel", "raw", "normal"),
    [("telegram", " 0042 ", "42"), ("whatsapp", "+1 (555) 010-0999", "15550100999"), ("ssh", "deploy", "deploy")],
)
def test_identity_normalization(channel: str, raw: str, normal: str) -> None:
    assert normalize_external_id(channel, raw) == normal


@pytest.mark.parametrize(
    ("channel", "raw"), [("telegram", "@alice"), ("whatsapp", "call me"), ("ssh", "root;rm"), ("email", "a@b.c")]
)
def test_identity_garbage_is_refused(channel: str, raw: str) -> None:
    with pytest.raises(InputError):
        normalize_external_id(channel, raw)


def test_keys_hash_scopes_last_used_and_login_audit(trust: Trust) -> None:
    store, me = trust.store, owner(trust.store)
    add_operator(store, me, "olga", "operator", tenant_id="t-acme")
    full = trust.issue_key(me, "olga")
    read_only = trust.issue_key(me, "olga", ["read"])
    assert full.scopes == ("read", "operate")
    with pytest.raises(InputError, match="cannot hold"):
        trust.issue_key(me, "olga", ["admin"])
    with store.engine.connect() as conn:
        stored = [r[0] for r in conn.execute(text("SELECT hash FROM api_keys"))]
    assert hash_key(full.key, trust.pepper()) in stored and all(full.key not in h for h in stored)

    caller = trust.authenticate(full.key, channel="api")
    assert (caller.name, caller.role, caller.tenant_id, caller.channel) == ("olga", Role.OPERATOR, "t-acme", "api")
    assert trust.authenticate(read_only.key).role == Role.VIEWER  # the scope caps the role
    used = {k.id: k.last_used_at for k in list_keys(store, me, operator="olga")}
    assert used[full.id] is not None
    trust.authenticate(full.key)  # a second use within 15 minutes is not another login entry
    logins = query(store, action="login", actor="olga")
    assert [e.action for e in logins].count("login") == 2  # one per key
    later = utcnow() + timedelta(hours=1)
    authenticate(store, full.key, trust.pepper(), now=later, throttle=trust.throttle)
    assert [e.action for e in query(store, action="login", actor="olga")].count("login") == 3

    revoke_key(store, me, full.id)
    with pytest.raises(AuthenticationError) as err:
        trust.authenticate(full.key)
    assert full.key not in str(err.value) and full.prefix not in str(err.value)
    failed = query(store, action="login.failed", limit=1)[0]
    assert (failed.actor, failed.target, failed.detail["reason"]) == ("olga", full.id, "revoked key")
    assert trust.authenticate(read_only.key).name == "olga"  # other keys unaffected


@pytest.mark.parametrize("bad", ["", "garbage", "cok_zzzzzzzz_" + "a" * 43, "cok_0000000a_" + "b" * 43])
def test_wrong_keys_are_refused_and_audited(trust: Trust, bad: str) -> None:
    store, me = trust.store, owner(trust.store)
    add_operator(store, me, "olga", "operator")
    good = trust.issue_key(me, "olga")
    forged = good.key[:-4] + ("AAAA" if not good.key.endswith("AAAA") else "BBBB")
    for key in (bad, forged):
        with pytest.raises(AuthenticationError, match="wrong or revoked"):
            trust.authenticate(key)
    entries = query(store, action="login.failed", limit=2)
    assert [e.outcome for e in entries] == ["refused", "refused"]
    assert entries[0].detail["reason"] == "wrong secret" and entries[0].actor == "unknown"
    assert all(good.key not in str(e.to_dict()) for e in entries)
