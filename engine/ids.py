"""Identifiers that cannot collide: ``<prefix>-<UUIDv7 as 32 hex digits>``.

Plan and job ids (``pl-…``, ``job-…``) come from :func:`new_id`.  A UUIDv7 (RFC 9562) is a
48-bit millisecond timestamp followed by 74 random bits, so ids made in different processes,
on different machines or in the same millisecond do not collide, and they sort by creation
time.  The old ids had 32 random bits: a collision became likely after some tens of
thousands of plans.  The prefix keeps the contract shape (``"id": "pl-…"``) and tells a
person what kind of thing an id names; ``ID_HEX`` is the pattern readers use to find ids in
text (older, shorter ids still match).
"""

from __future__ import annotations

from uuid6 import uuid7

#: The hex part of an id, old (8 digits) or new (32 digits), for regular expressions.
ID_HEX = r"[0-9a-f]{4,32}"


def new_id(prefix: str) -> str:
    """A new id ``<prefix>-<32 hex digits>`` (time-ordered, 74 random bits)."""
    return f"{prefix}-{uuid7().hex}"
