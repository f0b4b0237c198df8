"""``clawops operator|secrets|audit`` as a user runs them: real processes, exit codes, one-sentence errors."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

from engine.store import open_store
from engine.trust import Trust
from tests.clawops_cli import run_clawops

ROOT = Path(__file__).resolve().parents[2]


def clawops(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAWOPS_")}
    env.update({"CLAWOPS_HOME": str(home), "CLAWOPS_DEMO_PAIRS": "20"})
    return run_clawops(args, stdin=stdin, env=env)


def test_operator_lifecycle_and_key_shown_once(tmp_path: Path) -> None:
    added = clawops(
        tmp_path,
        "operator",
        "add",
        "carol",
        "--role",
        "operator",
        "--tenant",
        "demo-acme",
        "--telegram",
        "777",
        "--ssh",
        "carol",
        "--key",
        "--scope",
        "read",
    )
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip().splitlines()[-1]
    assert key.startswith("cok_") and "shown once" in added.stdout
    listed = json.loads(clawops(tmp_path, "operator", "list", "--json").stdout)
    carol = next(o for o in listed if o["name"] == "carol")
    assert carol["tenant"] == "demo-acme" and carol["active_keys"] == 1
    assert carol["identities"] == ["ssh:carol", "telegram:777"]
    assert key not in json.dumps(listed)
    store = open_store(f"sqlite:///{tmp_path / 'clawops.db'}")
    caller = Trust(store, tmp_path).authenticate(key)
    assert (caller.name, caller.role.value, caller.tenant_id) == ("carol", "viewer", "demo-acme")
    store.dispose()
    keys = json.loads(clawops(tmp_path, "operator", "keys", "carol", "--json").stdout)
    assert [k["scopes"] for k in keys] == [["read"]] and key.split("_")[1] == keys[0]["prefix"]
    assert keys[0]["last_used_at"] is not None and key not in json.dumps(keys)
    # a second key, then revoke the operator: everything goes
    second = clawops(tmp_path, "operator", "key", "carol")
    assert second.returncode == 0 and second.stdout.strip().splitlines()[-1] != key
    revoked = clawops(tmp_path, "operator", "revoke", "carol")
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    listed = json.loads(clawops(tmp_path, "operator", "list", "--json").stdout)
    carol = next(o for o in listed if o["name"] == "carol")
    assert carol["revoked_at"] and carol["active_keys"] == 0 and carol["identities"] == []


def test_user_mistakes_are_one_sentence_and_non_zero(tmp_path: Path) -> None:
    for args, code, words in [
        (("operator", "add", "Bad Name"), 64, "not a valid operator name"),
        (("operator", "add", "dave", "--role", "root"), 64, "not a role"),
        (("operator", "revoke", "nobody"), 64, "No operator named"),
        (("operator", "link", "owner", "telegram", "@owner"), 64, "not a Telegram user id"),
        (("--operator", "globex-viewer", "operator", "add", "eve", "--role", "owner"), 3, "needs the owner role"),
        (("--operator", "globex-viewer", "secrets", "list"), 3, "needs the owner role"),
        (("--operator", "acme-ops", "audit", "query"), 3, "rule 6"),
        (("audit", "query", "--since", "last tuesday"), 64, "not a time"),
    ]:
        proc = clawops(tmp_path, *args)
        assert proc.returncode == code, (args, proc.stderr)
        assert words in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1


def test_secrets_from_stdin_never_argv_and_listed_without_values(tmp_path: Path) -> None:
    value = "vultr-api-token-0123456789abcdef"
    assert clawops(tmp_path, "secrets", "set", "vultr/token", stdin=value + "\n").returncode == 0
    argv = clawops(tmp_path, "secrets", "set", "vultr/token", value)
    assert argv.returncode == 2  # there is no place for a value on the command line
    empty = clawops(tmp_path, "secrets", "set", "empty/one", stdin="")
    assert empty.returncode == 64 and "empty" in empty.stderr
    listed = clawops(tmp_path, "secrets", "list", "--json")
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["vultr/token"]["key_version"] == 1 and value not in listed.stdout
    rotated = clawops(tmp_path, "secrets", "rotate")
    assert rotated.returncode == 0 and "key version 2" in rotated.stdout
    assert {r["key_version"] for r in json.loads(clawops(tmp_path, "secrets", "list", "--json").stdout)} == {2}
    assert (tmp_path / "master.key").stat().st_mode & 0o777 == 0o600
    db = sqlite3.connect(tmp_path / "clawops.db")
    assert value not in repr(db.execute("SELECT * FROM secrets").fetchall())
    db.close()


def test_audit_query_anchor_and_truncation_detected(tmp_path: Path) -> None:
    clawops(tmp_path, "operator", "add", "frank", "--role", "viewer")
    clawops(tmp_path, "secrets", "set", "a/b", stdin="value-a-b-123456")
    rows = [
        json.loads(line)
        for line in clawops(tmp_path, "audit", "query", "--json", "--action", "operator").stdout.splitlines()
    ]
    assert [r["action"] for r in rows] == ["operator.add"] and rows[0]["target"] == "frank"
    text = clawops(tmp_path, "audit", "query", "--actor", "owner", "--since", "1h", "--limit", "1")
    assert text.returncode == 0 and len(text.stdout.strip().splitlines()) == 1
    anchored = clawops(tmp_path, "audit", "anchor")
    assert anchored.returncode == 0 and "anchored at #" in anchored.stdout
    assert clawops(tmp_path, "audit", "verify").returncode == 0
    db = sqlite3.connect(tmp_path / "clawops.db")
    with db:  # cut the last entry off and rewrite the head so the chain alone looks whole
        top = db.execute("SELECT max(seq) FROM audit_entries").fetchone()[0]
        db.execute("DELETE FROM audit_entries WHERE seq = ?", (top,))
        db.execute(
            "UPDATE audit_head SET seq = ?, hash = (SELECT hash FROM audit_entries WHERE seq = ?)", (top - 1, top - 1)
        )
    db.close()
    broken = clawops(tmp_path, "audit", "verify")
    assert broken.returncode == 2 and "cut off" in broken.stderr
