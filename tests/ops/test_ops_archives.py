"""Teardown archives to an S3-compatible bucket (moto's server on loopback) or a folder, verified before deletion."""

from __future__ import annotations

import asyncio
import hashlib
import io
import socket
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from engine.errors import ClawOpsError, ConfigError
from engine.operations._archives import (
    ACCESS_KEY_SECRET,
    SECRET_KEY_SECRET,
    LocalArchiveStore,
    S3ArchiveStore,
    archive_key,
    archive_store,
)
from engine.runtime import Engine
from engine.store import AuditEntry, Instance, JobStep, utcnow

PAIRS = 30
BUCKET = "clawops-archives-test"
KEY_ID, SECRET = "AKIACLAWOPSTEST00001", "s3cr3t-Archive-Key-that-must-never-show"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 in server mode on a free loopback port: real HTTP, real signatures, no cloud."""
    # moto and boto3 are imported here, not at the top: every pytest worker imports every test module at
    # collection, and only the one that runs this file needs them (~0.3 s of CPU).
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _s3(endpoint: str) -> Any:
    import boto3  # type: ignore[import-untyped]  # boto3 ships no type hints; its stubs are no dependency

    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
    )


@pytest.fixture
def bucket(s3_endpoint: str) -> Iterator[str]:
    client = _s3(s3_endpoint)
    client.create_bucket(Bucket=BUCKET)
    try:
        yield BUCKET
    finally:
        for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=obj["Key"])
        client.delete_bucket(Bucket=BUCKET)


def _engine(**overrides: Any) -> Engine:
    return Engine.open(demo_pairs=PAIRS, demo_providers="sim", **overrides)


def _s3_settings(endpoint: str, bucket: str, *, creds: bool = True) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "archive_store": "s3",
        "archive_s3_endpoint_url": endpoint,
        "archive_s3_bucket": bucket,
        "archive_s3_prefix": "fleet/archives",
    }
    if creds:
        settings |= {"archive_s3_access_key_id": KEY_ID, "archive_s3_secret_access_key": SECRET}
    return settings


def _pair(engine: Engine, account: str) -> list[Instance]:
    with engine.store.session() as s:
        return list(
            s.exec(select(Instance).where(col(Instance.account_id) == account).order_by(col(Instance.role))).all()
        )


def test_teardown_stores_a_verified_archive_in_the_bucket_then_deletes(
    clawops_home: Path, s3_endpoint: str, bucket: str
) -> None:
    engine = _engine(**_s3_settings(s3_endpoint, bucket))
    try:
        pair = {i.role: i for i in _pair(engine, "acct-011")}
        exported: dict[str, str] = {}
        real_invoke = engine.nodes.invoke

        async def recording_invoke(instance_id: str, command: str, params: Any) -> dict[str, Any]:
            answer = await real_invoke(instance_id, command, params)
            if command == "clawops.archive":
                exported[instance_id] = str(answer["sha256"])  # what the node said it sent
            return answer

        engine.nodes.invoke = recording_invoke  # type: ignore[method-assign]  # a test double wraps the nodes
        result = asyncio.run(engine.ask_tool("teardown", {"selector": {"accounts": ["acct-011"]}}, yes=True))
        assert result.status == "done" and result.job is not None and result.job.status == "succeeded"
        objects = _s3(s3_endpoint).list_objects_v2(Bucket=bucket, Prefix="fleet/archives/acct-011/")["Contents"]
        keys = sorted(o["Key"] for o in objects)
        assert [k.split("/")[3] for k in keys] == sorted(i.id for i in pair.values())
        assert all(k.startswith("fleet/archives/acct-011/i-acct-011-") and k.endswith(".tar.gz") for k in keys)
        for key in keys:
            obj = _s3(s3_endpoint).get_object(Bucket=bucket, Key=key)
            body = obj["Body"].read()
            instance = key.split("/")[3]
            assert hashlib.sha256(body).hexdigest() == obj["Metadata"]["sha256"] == exported[instance]
            with tarfile.open(fileobj=io.BytesIO(body)) as tar:
                assert "clawops-archive/manifest.json" in tar.getnames()
        deletes = {i.provider_server_id for i in pair.values() if i.provider not in ("contabo", "hostinger")}
        assert deletes and deletes <= set(engine.drivers.sim.deletes)
        with engine.store.session() as s:
            details = " ".join(step.detail for step in s.exec(select(JobStep)).all())
        assert f"s3://{bucket}/fleet/archives/acct-011/" in details
        assert SECRET not in details and SECRET not in repr(engine.settings)
    finally:
        engine.close()


def test_a_missing_bucket_refuses_and_nothing_is_deleted(clawops_home: Path, s3_endpoint: str) -> None:
    engine = _engine(**_s3_settings(s3_endpoint, "no-such-archive-bucket"))
    try:
        before = {i.id: i.state for i in _pair(engine, "acct-014")}
        result = asyncio.run(engine.ask_tool("teardown", {"selector": {"accounts": ["acct-014"]}}, yes=True))
        assert result.job is not None and result.job.status == "failed"
        assert engine.drivers.sim.deletes == []
        after = {i.id: i.state for i in _pair(engine, "acct-014")}
        assert set(after) == set(before) and not {"DELETED", "ARCHIVING"} & set(after.values())
        with engine.store.session() as s:
            assert s.exec(select(AuditEntry).where(col(AuditEntry.action) == "provider.delete")).first() is None
            failed = list(s.exec(select(JobStep).where(col(JobStep.status) == "failed")).all())
        reasons = {step.detail for step in failed}
        assert reasons and all("archive bucket no-such-archive-bucket does not exist" in r for r in reasons)
        assert all(r.count(". ") == 0 and "Traceback" not in r for r in reasons)  # one sentence each
    finally:
        engine.close()


def test_an_unreachable_endpoint_refuses_with_one_sentence(clawops_home: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = S3ArchiveStore(
        bucket=BUCKET, endpoint_url=f"http://127.0.0.1:{port}", access_key_id=KEY_ID, secret_access_key=SECRET
    )
    with pytest.raises(ClawOpsError) as err:
        store.put("acct-001", "i-acct-001-p", b"data", utcnow())
    message = str(err.value)
    assert "could not be reached" in message and "nothing was deleted" in message and SECRET not in message


def test_a_tampered_upload_is_caught_by_the_read_back(
    s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the bucket ends up holding other bytes than were sent, the copy is removed and the step refused."""
    store = S3ArchiveStore(bucket=bucket, endpoint_url=s3_endpoint, access_key_id=KEY_ID, secret_access_key=SECRET)
    client = store._client()
    real_put = client.put_object

    def corrupting_put(**kw: Any) -> Any:
        kw.pop("ContentMD5")  # a proxy or a buggy service that drops the digest and the bytes both
        kw["Body"] = kw["Body"][:-1] + b"!"
        return real_put(**kw)

    monkeypatch.setattr(client, "put_object", corrupting_put)
    with pytest.raises(Exception, match="did not match what was sent") as err:
        store.put("acct-002", "i-acct-002-p", b"archive bytes", utcnow())
    assert "nothing was deleted" in str(err.value)
    assert _s3(s3_endpoint).list_objects_v2(Bucket=bucket).get("KeyCount") == 0  # the bad copy is gone


def test_credentials_come_from_the_secret_store_and_never_show(
    clawops_home: Path, s3_endpoint: str, bucket: str
) -> None:
    engine = _engine(**_s3_settings(s3_endpoint, bucket, creds=False))
    try:
        engine.trust.secrets.set(ACCESS_KEY_SECRET, KEY_ID)
        engine.trust.secrets.set(SECRET_KEY_SECRET, SECRET)
        chosen = archive_store(engine.settings, engine.store)
        assert isinstance(chosen, S3ArchiveStore)
        assert (chosen.access_key_id, chosen.secret_access_key) == (KEY_ID, SECRET)
        assert SECRET not in repr(chosen) and KEY_ID not in repr(chosen)
        stored = chosen.put("acct-003", "i-acct-003-s", b"x" * 1000, utcnow())
        assert stored.location.startswith(f"s3://{bucket}/fleet/archives/acct-003/i-acct-003-s/")
        from engine.trust import redact

        assert SECRET not in redact(f"upload failed with key {SECRET}")
    finally:
        engine.close()


def test_s3_without_a_bucket_or_with_half_the_credentials_is_a_config_error(clawops_home: Path) -> None:
    from engine.config import load_settings

    with pytest.raises(ConfigError, match="archive_s3_bucket is not set"):
        archive_store(load_settings(archive_store="s3"))
    with pytest.raises(ConfigError, match="Set both"):
        archive_store(load_settings(archive_store="s3", archive_s3_bucket=BUCKET, archive_s3_access_key_id=KEY_ID))
    with pytest.raises(ConfigError, match="S3 bucket name"):
        load_settings(archive_s3_bucket="Not_A_Bucket")


def test_local_store_is_the_default_and_honours_archive_dir(clawops_home: Path, tmp_path: Path) -> None:
    from engine.config import load_settings

    default = archive_store(load_settings())
    assert isinstance(default, LocalArchiveStore) and default.root == clawops_home / "archives"
    custom = archive_store(load_settings(archive_dir=tmp_path / "vault"))
    stored = custom.put("acct-004", "i-acct-004-p", b"payload", utcnow())
    assert Path(stored.location).read_bytes() == b"payload"
    assert Path(stored.location).parent == tmp_path / "vault" / "acct-004"
    assert stored.sha256 == hashlib.sha256(b"payload").hexdigest()


def test_keys_are_account_instance_timestamp() -> None:
    from datetime import UTC, datetime

    when = datetime(2026, 11, 24, 9, 30, 5, tzinfo=UTC)
    assert archive_key("/fleet/", "acct-9", "i-acct-9-p", when) == "fleet/acct-9/i-acct-9-p/20261124T093005Z.tar.gz"
    assert archive_key("", "acct-9", "i-acct-9-p", when) == "acct-9/i-acct-9-p/20261124T093005Z.tar.gz"


def test_each_engine_keeps_its_own_s3_clients(clawops_home: Path) -> None:
    """The boto3 client cache belongs to an engine's step runner: reused within it, never shared between two."""
    from engine.config import load_settings
    from engine.operations._archives import S3Clients

    settings = load_settings(
        archive_store="s3",
        archive_s3_bucket=BUCKET,
        archive_s3_endpoint_url="http://127.0.0.1:9",
        archive_s3_access_key_id=KEY_ID,
        archive_s3_secret_access_key=SECRET,
    )
    mine, theirs = S3Clients(), S3Clients()
    first, again = archive_store(settings, clients=mine), archive_store(settings, clients=mine)
    other = archive_store(settings, clients=theirs)
    assert isinstance(first, S3ArchiveStore) and isinstance(again, S3ArchiveStore) and isinstance(other, S3ArchiveStore)
    assert first._client() is again._client()
    assert other._client() is not first._client()
    one, two = Engine.open(demo_pairs=2, demo_providers="sim"), Engine.open(demo_pairs=2, demo_providers="sim")
    try:
        assert one.ops._steps.archive_clients is not two.ops._steps.archive_clients
    finally:
        one.close()
        two.close()
