"""Reading a node's archive in bounded pieces, through any gateway (embedded or a real OpenClaw one).

``clawops.archive {account_id}`` makes the node build the export and describe it (id, size, sha256);
``{account_id, archive_id, offset, length}`` returns one base64 piece; ``{…, done: true}`` deletes the
node's copy.  Every answer is an ordinary bounded invoke result, which a real gateway carries as it
carries any other (it drops ``node.invoke.progress`` streams it did not ask for).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from engine.gateway._errors import GatewayError
from engine.gateway._server import InvokeResult

__all__ = ["ArchiveFailed", "fetch_archive"]

PIECE_BYTES = 4 * 1024 * 1024

Invoke = Callable[[dict[str, Any]], Awaitable[InvokeResult]]
"""Runs ``clawops.archive`` with the given params on the node and returns its result."""


class ArchiveFailed(GatewayError):
    """The export could not be read completely and intact (the message says what to do)."""


async def fetch_archive(
    invoke: Invoke, account_id: str, *, piece_bytes: int = PIECE_BYTES, label: str = "the node"
) -> tuple[bytes, dict[str, Any]]:
    """The whole archive and the node's description of it; verified against the node's sha256."""
    first = await invoke({"account_id": account_id})
    if not first.ok or not isinstance(first.payload, dict):
        raise ArchiveFailed(
            f"{label} could not build its archive ({first.error_code}: {first.error_message}); nothing was deleted."
        )
    meta: dict[str, Any] = first.payload
    archive_id, size, expected = meta.get("archiveId"), meta.get("bytes"), meta.get("sha256")
    if not isinstance(archive_id, str) or not isinstance(size, int) or not isinstance(expected, str):
        raise ArchiveFailed(
            f"{label} answered the archive request without an archive id, size and checksum "
            "(an older clawnode?); upgrade clawnode on it, then retry. Nothing was deleted."
        )
    buf = bytearray()
    digest = hashlib.sha256()
    try:
        while len(buf) < size:
            res = await invoke(
                {
                    "account_id": account_id,
                    "archive_id": archive_id,
                    "offset": len(buf),
                    "length": min(piece_bytes, size - len(buf)),
                }
            )
            body = res.payload if res.ok and isinstance(res.payload, dict) else None
            if body is None or body.get("offset") != len(buf) or not isinstance(body.get("data"), str):
                raise ArchiveFailed(
                    f"{label} stopped sending its archive at byte {len(buf)} of {size} "
                    f"({res.error_code or 'bad piece'}: {res.error_message or ''}); retry the job. "
                    "Nothing was deleted."
                )
            try:
                piece = base64.b64decode(body["data"], validate=True)
            except (binascii.Error, ValueError):
                raise ArchiveFailed(
                    f"{label} sent an unreadable archive piece; retry the job. Nothing was deleted."
                ) from None
            if not piece:
                raise ArchiveFailed(
                    f"{label}'s archive ended at byte {len(buf)} of {size}; retry the job. Nothing was deleted."
                )
            buf += piece
            digest.update(piece)
    finally:
        await invoke({"account_id": account_id, "archive_id": archive_id, "done": True})
    if digest.hexdigest() != expected or len(buf) != size:
        raise ArchiveFailed(
            f"{label}'s archive arrived damaged (checksum mismatch); retry the job. Nothing was deleted."
        )
    return bytes(buf), meta
