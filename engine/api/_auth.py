"""Who is calling: an operator API key turned into a :class:`~engine.policy.Caller`.

The API needs one narrow function, ``authenticate(key, source=peer) -> Caller``,
raising a ``ClawOpsError`` for a bad key.  By default it is the trust package's
check (``Engine.trust.authenticate``: hashed keys with a pepper, constant-time
compare, logins and failed logins audited, failures throttled per peer address
and per key prefix); tests and special deployments inject their own, e.g.
:func:`static_authenticator`.  A throttled attempt raises
:class:`~engine.errors.TooManyAttempts`, which the server answers with 429 and
``Retry-After``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from engine.api._errors import Unauthorized
from engine.errors import ClawOpsError, TooManyAttempts
from engine.policy import Caller

if TYPE_CHECKING:
    from engine.runtime import Engine

__all__ = ["WRONG_KEY", "Authenticate", "default_authenticator", "static_authenticator"]


class Authenticate(Protocol):
    """Turn an API key into the operator it belongs to, or raise a ``ClawOpsError`` (answered as 401).

    ``source`` is who sent it (the peer address), for throttling and the audit log; None when unknown.
    """

    def __call__(self, key: str, *, source: str | None = None) -> Caller: ...


WRONG_KEY = "Wrong, unknown or revoked API key; ask an owner for a key (clawops operator key NAME)."


def static_authenticator(keys: Mapping[str, Caller]) -> Authenticate:
    """An authenticator over a fixed table of keys (tests, or a single bootstrap key)."""

    def authenticate(key: str, *, source: str | None = None) -> Caller:
        for known, caller in keys.items():
            if hmac.compare_digest(known.encode(), key.encode()):
                return caller
        raise Unauthorized(WRONG_KEY)

    return authenticate


def default_authenticator(engine: Engine, channel: str = "api") -> Authenticate:
    """The trust package's key check for this engine; a failure becomes :class:`Unauthorized` (throttling stays
    :class:`TooManyAttempts`)."""

    # A daemon (or the web door) answers remote callers from now on: every secret must be known to the
    # redactor, and every log record scrubbed, before the first answer.
    from engine.trust import environment_secrets

    settings = engine.settings
    engine.trust.ensure_primed(
        *(
            getattr(settings, name)
            for name, value in type(settings).model_fields.items()
            if "SecretStr" in str(value.annotation)
        ),
        *environment_secrets({"CLAWOPS_DATABASE_URL": settings.store_url}),
    )

    def authenticate(key: str, *, source: str | None = None) -> Caller:
        if not key:
            raise Unauthorized("No API key was sent; set CLAWOPS_API_KEY (clawops operator key NAME makes one).")
        try:
            return engine.trust.authenticate(key, channel=channel, source=source)
        except (Unauthorized, TooManyAttempts):
            raise
        except ClawOpsError as err:
            raise Unauthorized(str(err) or WRONG_KEY) from None

    return authenticate
