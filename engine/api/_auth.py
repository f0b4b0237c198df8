"""Who is calling: an operator API key turned into a :class:`~engine.policy.Caller`.

The API needs one narrow function, ``authenticate(key) -> Caller``, raising a
``ClawOpsError`` for a bad key.  By default it is the trust package's check
(``Engine.caller_for_key``: hashed keys with a pepper, constant-time compare,
failed logins audited); tests and special deployments inject their own, e.g.
:func:`static_authenticator`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from engine.api._errors import Unauthorized
from engine.errors import ClawOpsError
from engine.policy import Caller

if TYPE_CHECKING:
    from engine.runtime import Engine

__all__ = ["WRONG_KEY", "Authenticate", "default_authenticator", "static_authenticator"]

Authenticate = Callable[[str], Caller]
"""Turn an API key into the operator it belongs to, or raise a ``ClawOpsError`` (answered as 401)."""

WRONG_KEY = "Wrong, unknown or revoked API key; ask an owner for a key (clawops operator key NAME)."


def static_authenticator(keys: Mapping[str, Caller]) -> Authenticate:
    """An authenticator over a fixed table of keys (tests, or a single bootstrap key)."""

    def authenticate(key: str) -> Caller:
        for known, caller in keys.items():
            if hmac.compare_digest(known.encode(), key.encode()):
                return caller
        raise Unauthorized(WRONG_KEY)

    return authenticate


def default_authenticator(engine: Engine, channel: str = "api") -> Authenticate:
    """The trust package's key check for this engine; any failure becomes :class:`Unauthorized`."""

    def authenticate(key: str) -> Caller:
        if not key:
            raise Unauthorized("No API key was sent; set CLAWOPS_API_KEY (clawops operator key NAME makes one).")
        try:
            return engine.caller_for_key(key, channel=channel)
        except Unauthorized:
            raise
        except ClawOpsError as err:
            raise Unauthorized(str(err) or WRONG_KEY) from None

    return authenticate
