"""Where teardown keeps an account's export before anything is deleted: a local folder or an S3 bucket.

Teardown deletes servers, and a deleted server cannot be asked for its data
again, so an archive counts only once it is *verified where it is kept*: the
local store writes under a temporary name and renames atomically; the S3 store
uploads with ``Content-MD5`` (the service rejects a body damaged in transit),
records the SHA-256 as object metadata, then reads the object's head back and
compares size, ETag and SHA-256 — downloading and hashing the object whenever
the ETag is not a plain MD5 (multipart or KMS-encrypted objects).  Anything
short of that raises one :class:`ClawOpsError` sentence, which fails the step
*before* the provider delete: nothing is deleted without its archive.

Keys are ``<prefix>/<account>/<instance>/<UTC timestamp>.tar.gz``.  S3
credentials come from settings, else the secret store, else boto3's own chain;
they are handed to the redactor and never appear in a message or a repr.

boto3 is blocking: callers run :meth:`ArchiveStore.put` in a worker thread.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from engine.config import Settings
from engine.errors import ClawOpsError, ConfigError, NotFound
from engine.store import SecretRecord, Store

__all__ = [
    "ACCESS_KEY_SECRET",
    "SECRET_KEY_SECRET",
    "ArchiveError",
    "ArchiveStore",
    "LocalArchiveStore",
    "S3ArchiveStore",
    "S3Clients",
    "StoredArchive",
    "archive_key",
    "archive_store",
]

#: Secret-store names of the S3 credentials (used when the settings do not carry them).
ACCESS_KEY_SECRET = "archive/s3-access-key-id"
SECRET_KEY_SECRET = "archive/s3-secret-access-key"
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0


class ArchiveError(ClawOpsError):
    """An archive could not be stored or verified; the teardown step fails before any delete."""


@dataclass(frozen=True, slots=True)
class StoredArchive:
    """A verified archive: where it is, and what it must hash to."""

    location: str
    sha256: str
    size: int


class ArchiveStore(Protocol):
    """Somewhere archives are kept; ``put`` returns only once the copy there is verified."""

    @property
    def description(self) -> str: ...

    def put(self, account_id: str, instance_id: str, data: bytes, when: datetime) -> StoredArchive: ...


def _stamp(when: datetime) -> str:
    return f"{when:%Y%m%dT%H%M%SZ}"


def archive_key(prefix: str, account_id: str, instance_id: str, when: datetime) -> str:
    """The object key of one archive: ``<prefix>/<account>/<instance>/<timestamp>.tar.gz``."""
    parts = [p for p in (prefix.strip("/"), account_id, instance_id, f"{_stamp(when)}.tar.gz") if p]
    return "/".join(parts)


# ---------------------------------------------------------------------- local folder
@dataclass(frozen=True, slots=True)
class LocalArchiveStore:
    """Archives under a folder: ``<root>/<account>/<instance>-<timestamp>.tar.gz``."""

    root: Path

    @property
    def description(self) -> str:
        return f"folder {self.root}"

    def put(self, account_id: str, instance_id: str, data: bytes, when: datetime) -> StoredArchive:
        folder = self.root / account_id
        path = folder / f"{instance_id}-{_stamp(when)}.tar.gz"
        tmp = path.with_suffix(".part")
        digest = hashlib.sha256(data).hexdigest()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            if hashlib.sha256(tmp.read_bytes()).hexdigest() != digest:
                raise ArchiveError(
                    f"The archive of {instance_id} was damaged while writing to {folder}; nothing was deleted."
                )
            tmp.replace(path)  # atomic: a crash never leaves a half archive under the final name
        except OSError as exc:
            raise ArchiveError(
                f"The archive of {instance_id} could not be written to {folder} "
                f"({exc.strerror or type(exc).__name__}); nothing was deleted."
            ) from None
        return StoredArchive(str(path), digest, len(data))


# ---------------------------------------------------------------------- S3-compatible bucket
@dataclass(frozen=True, slots=True)
class S3ArchiveStore:
    """Archives in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, Wasabi, a local moto server …)."""

    bucket: str
    region: str = "us-east-1"
    prefix: str = "clawops/archives"
    endpoint_url: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    clients: S3Clients = field(default_factory=lambda: S3Clients(), repr=False, compare=False)
    """Where its boto3 client is kept (the engine's, when the engine made this store)."""

    @property
    def description(self) -> str:
        where = _safe_url(self.endpoint_url) if self.endpoint_url else "AWS S3"
        return f"bucket {self.bucket} at {where}"

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def put(self, account_id: str, instance_id: str, data: bytes, when: datetime) -> StoredArchive:
        from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

        key = archive_key(self.prefix, account_id, instance_id, when)
        digest = hashlib.sha256(data).hexdigest()
        md5 = hashlib.md5(data, usedforsecurity=False)
        client = self._client()
        try:
            client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentMD5=base64.b64encode(md5.digest()).decode(),
                ContentType="application/gzip",
                Metadata={"sha256": digest, "account": account_id, "instance": instance_id},
            )
            head = client.head_object(Bucket=self.bucket, Key=key)
            self._verify(client, key, head, data, digest, md5.hexdigest(), instance_id)
        except ClientError as exc:
            raise ArchiveError(self._explain_client_error(exc, instance_id)) from None
        except BotoCoreError as exc:
            raise ArchiveError(
                f"The archive {self.description} could not be reached for {instance_id} "
                f"({type(exc).__name__}); nothing was deleted."
            ) from None
        return StoredArchive(self.url(key), digest, len(data))

    def _verify(
        self, client: Any, key: str, head: dict[str, Any], data: bytes, digest: str, md5_hex: str, instance_id: str
    ) -> None:
        """Compare what the bucket holds with what we sent; on a mismatch remove the bad copy and refuse."""
        etag = str(head.get("ETag", "")).strip('"')
        meta = {str(k).lower(): str(v) for k, v in (head.get("Metadata") or {}).items()}
        problems = []
        if int(head.get("ContentLength", -1)) != len(data):
            problems.append("size")
        if meta.get("sha256") != digest:
            problems.append("sha256 metadata")
        if len(etag) == 32 and "-" not in etag:
            if etag.lower() != md5_hex:
                problems.append("ETag")
        else:  # multipart / KMS ETags are not an MD5: read the object back and hash it
            body = client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            if hashlib.sha256(body).hexdigest() != digest:
                problems.append("content")
        if problems:
            with contextlib.suppress(Exception):  # best effort: the refusal below is what matters
                client.delete_object(Bucket=self.bucket, Key=key)
            raise ArchiveError(
                f"The archive of {instance_id} stored at {self.url(key)} did not match what was sent "
                f"({', '.join(problems)}); nothing was deleted."
            )

    def _explain_client_error(self, exc: Any, instance_id: str) -> str:
        error = exc.response.get("Error", {}) if hasattr(exc, "response") else {}
        code = str(error.get("Code") or "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") if hasattr(exc, "response") else None
        if code in ("NoSuchBucket",) or (status == 404 and code in ("404", "NotFound", "")):
            return (
                f"The archive bucket {self.bucket} does not exist at "
                f"{_safe_url(self.endpoint_url) if self.endpoint_url else 'AWS S3'}; create it or fix "
                f"archive_s3_bucket — {instance_id} was not deleted."
            )
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "Forbidden") or status == 403:
            return (
                f"The archive {self.description} refused the upload ({code or 'HTTP 403'}); check the S3 "
                f"credentials and the bucket policy — {instance_id} was not deleted."
            )
        if code in ("BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"):
            return (
                f"The archive of {instance_id} was damaged on its way to {self.description} ({code}); "
                "nothing was deleted."
            )
        return (
            f"The archive {self.description} failed for {instance_id} ({code or 'HTTP ' + str(status)}); "
            "nothing was deleted."
        )

    def _client(self) -> Any:
        return self.clients.get(self.endpoint_url, self.region, self.access_key_id, self.secret_access_key)


class S3Clients:
    """boto3 clients by endpoint and credentials (thread-safe, slow to build, so built once each).

    One per engine — its step runner owns it and hands it to every :class:`S3ArchiveStore` it makes — so two
    engines in one process share no client, and closing an engine lets its clients go.
    """

    def __init__(self) -> None:
        self._clients: dict[tuple[str | None, str, str | None, str], Any] = {}
        self._lock = threading.Lock()

    def get(
        self, endpoint_url: str | None, region: str, access_key_id: str | None, secret_access_key: str | None
    ) -> Any:
        """The client for these settings, built on first use."""
        secret_digest = hashlib.sha256((secret_access_key or "").encode()).hexdigest()
        cache_key = (endpoint_url, region, access_key_id, secret_digest)
        with self._lock:
            client = self._clients.get(cache_key)
            if client is None:
                client = self._clients[cache_key] = _new_client(endpoint_url, region, access_key_id, secret_access_key)
            return client


def _new_client(endpoint_url: str | None, region: str, access_key_id: str | None, secret_access_key: str | None) -> Any:
    import boto3  # type: ignore[import-untyped]
    from botocore.config import Config  # type: ignore[import-untyped]

    config = Config(
        region_name=region,
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"max_attempts": 3, "mode": "standard"},
        # botocore >= 1.36 adds CRC checksums to every upload by default, which many S3-compatible
        # services reject; Content-MD5 and our own SHA-256 check cover integrity instead.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path"} if endpoint_url else None,
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        config=config,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
    )


def _safe_url(url: str | None) -> str:
    """An endpoint URL fit to print: any ``user:password@`` part is masked."""
    if not url or "@" not in url:
        return url or ""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


# ---------------------------------------------------------------------- choosing one
def _from_secret_store(store: Store | None, settings: Settings) -> tuple[str | None, str | None]:
    """S3 credentials kept in the secret store, if both are there (never creates a master key)."""
    if store is None:
        return None, None
    with store.session() as s:
        present = {name for name in (ACCESS_KEY_SECRET, SECRET_KEY_SECRET) if s.get(SecretRecord, name) is not None}
    if present != {ACCESS_KEY_SECRET, SECRET_KEY_SECRET}:
        return None, None
    from engine.trust import Trust

    secrets = Trust(store, settings.home).secrets
    try:
        return secrets.get(ACCESS_KEY_SECRET), secrets.get(SECRET_KEY_SECRET)
    except NotFound:  # deleted between the two reads
        return None, None


def archive_store(settings: Settings, store: Store | None = None, clients: S3Clients | None = None) -> ArchiveStore:
    """The archive store the settings choose (``archive_store``: ``local`` by default, or ``s3``, whose boto3
    client is kept in ``clients``: pass the engine's, so it is built once per engine)."""
    if settings.archive_store == "local":
        return LocalArchiveStore(settings.archive_dir or settings.home / "archives")
    if not settings.archive_s3_bucket:
        raise ConfigError(
            "archive_store is s3 but archive_s3_bucket is not set; set the bucket (it must exist) "
            'or use archive_store = "local".'
        )
    key_id = settings.archive_s3_access_key_id.get_secret_value() if settings.archive_s3_access_key_id else None
    secret = settings.archive_s3_secret_access_key.get_secret_value() if settings.archive_s3_secret_access_key else None
    if (key_id is None) != (secret is None):
        raise ConfigError(
            "Set both archive_s3_access_key_id and archive_s3_secret_access_key, or neither "
            f"(then the secret store's {ACCESS_KEY_SECRET} / {SECRET_KEY_SECRET} are used)."
        )
    if key_id is None:
        key_id, secret = _from_secret_store(store, settings)
    if secret:
        from engine.trust import default_redactor

        default_redactor().add(secret)  # whatever gets logged from here on, this value is scrubbed
    return S3ArchiveStore(
        bucket=settings.archive_s3_bucket,
        region=settings.archive_s3_region,
        prefix=settings.archive_s3_prefix,
        endpoint_url=settings.archive_s3_endpoint_url,
        access_key_id=key_id,
        secret_access_key=secret,
        clients=clients if clients is not None else S3Clients(),
    )
