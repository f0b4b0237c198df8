"""``Trust``: the trust pieces bound to one store and one ``$CLAWOPS_HOME``.

The engine holds one of these; the client and the CLI reach operators, keys,
secrets, redaction and audit queries through it.  The key ring is loaded
lazily, so a turn that never touches a secret never reads (or creates) the
master key file.
"""

from __future__ import annotations

import logging
import os
import re
import secrets as _random
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote

from pydantic import SecretStr
from sqlmodel import select

from engine.errors import ConfigError
from engine.policy import Caller
from engine.store import SecretRecord, Store
from engine.text import Redactor, default_redactor, install_log_redaction
from engine.trust._audit import ANCHOR_FILE_NAME, default_anchor_path
from engine.trust._keys import IssuedKey, authenticate, issue_key
from engine.trust._secrets import KeyRing, SecretStore
from engine.trust._throttle import LoginThrottle

__all__ = ["PEPPER_SECRET", "Trust", "environment_secrets"]

log = logging.getLogger("clawops.trust")

#: The secret holding the API-key pepper (generated on first use; survives key rotation unchanged).
PEPPER_SECRET = "clawops/api-key-pepper"


#: Environment variables whose names say they hold a credential (CLAWOPS_HETZNER_TOKEN, CLAWOPS_CONTABO_PASSWORD,
#: CLAWOPS_MASTER_KEY, CLAWOPS_ARCHIVE_S3_SECRET_ACCESS_KEY, ...).  Only the engine's own variables (and the model
#: SDK's key): those are what the engine reads and so could echo; a shell's unrelated POSTGRES_PASSWORD=postgres
#: would otherwise mask every "postgres" in every output.
_SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|ACCESS_KEY|ACCESS_KEY_ID|MASTER_KEY|PRIVATE_KEY)$")
_URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.\-]*://[^:/@\s]*:([^@/\s]+)@", re.IGNORECASE)


def environment_secrets(environ: Mapping[str, str]) -> list[str]:
    """Credential values found in an environment: variables named like one, and passwords inside ``*_URL``s."""
    found = []
    for name, value in environ.items():
        upper = name.upper()
        if not (upper.startswith("CLAWOPS_") or upper == "ANTHROPIC_API_KEY"):
            continue
        if _SECRET_NAME.search(upper) and value:
            found.append(value)
        elif upper.endswith("_URL") and (match := _URL_PASSWORD.match(value)):
            found.append(unquote(match.group(1)))
    return found


class Trust:
    """Operators' keys, the secret store and the redactor for one engine."""

    def __init__(
        self,
        store: Store,
        home: Path,
        *,
        environ: Mapping[str, str] | None = None,
        redactor: Redactor | None = None,
        anchor: Path | None = None,
    ) -> None:
        self.store = store
        self.home = home
        self._anchor = anchor
        self.environ = environ
        self.redactor = redactor if redactor is not None else default_redactor()
        self._keyring: KeyRing | None = None
        self._secrets: SecretStore | None = None
        self._pepper: bytes | None = None
        self._primed = False
        self.throttle = LoginThrottle()
        """Failed-login buckets of this engine: API keys here, chat identities and channel refusals through
        :func:`engine.trust.resolve_identity` and :func:`engine.trust.refusal_auditor` given this throttle."""
        # Cheap (no database, no key file), so every engine does it at once, daemon included: provider tokens
        # and other credentials handed over in the environment are masked from the first output on.
        for value in environment_secrets(os.environ if environ is None else environ):
            self.redactor.add(value)

    @property
    def keyring(self) -> KeyRing:
        if self._keyring is None:
            # A new key is generated only for an empty secret store: with encrypted rows present, a
            # missing key file means the key was lost or not copied, and a fresh one would hide that.
            self._keyring = KeyRing.load(self.home, environ=self.environ, create=not self._has_secrets())
        return self._keyring

    def _has_secrets(self) -> bool:
        with self.store.session() as s:
            return s.exec(select(SecretRecord.name).limit(1)).first() is not None

    @property
    def secrets(self) -> SecretStore:
        if self._secrets is None:
            self._secrets = SecretStore(self.store, self.keyring, redactor=self.redactor)
        return self._secrets

    @property
    def anchor_path(self) -> Path:
        """Where the audit chain's head is anchored: ``CLAWOPS_AUDIT_ANCHOR``, else outside ``$CLAWOPS_HOME``
        (:func:`engine.trust.default_anchor_path`).  An anchor an older version kept beside the store is
        copied there once, so its history is not lost."""
        path = self._anchor or default_anchor_path(self.store.url)
        legacy = self.home / ANCHOR_FILE_NAME
        if not path.exists() and legacy.is_file() and legacy != path:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, legacy.read_bytes())
            finally:
                os.close(fd)
        return path

    def pepper(self) -> bytes:
        if self._pepper is None:
            self._pepper = self.secrets.get_or_create(PEPPER_SECRET, lambda: _random.token_urlsafe(32)).encode()
        return self._pepper

    def authenticate(self, key: str, *, channel: str = "api", source: str | None = None) -> Caller:
        """The caller behind an API key (see :func:`engine.trust.authenticate`); ``source`` is the peer address."""
        self.ensure_primed()  # whoever is let in next gets output: the redactor must know every secret by then
        return authenticate(self.store, key, self.pepper(), channel=channel, source=source, throttle=self.throttle)

    def issue_key(self, by: Caller, operator: str, scopes: list[str] | None = None) -> IssuedKey:
        return issue_key(self.store, by, operator, self.pepper(), scopes=scopes)

    def ensure_primed(self, *extra: SecretStr | str | None) -> None:
        """Once per engine, before it answers anyone remote: learn every stored secret and scrub every log record.

        ``clawops ask`` and the chat do this through the embedded client; a daemon does it when its key
        check is built (``engine.api.default_authenticator``), and :meth:`authenticate` makes sure of it.
        """
        if self._primed:
            for value in extra:
                self.redactor.add(value.get_secret_value() if isinstance(value, SecretStr) else value)
            return
        self._primed = True
        self.prime_redactor(*extra)
        install_log_redaction(self.redactor)

    def prime_redactor(self, *extra: SecretStr | str | None) -> int:
        """Teach the redactor every stored secret and the given settings secrets; returns how many it knows.

        (Credentials in the environment it learned when this object was made.)

        Does not create a master key when the store holds no secrets (a fresh
        install stays free of key files until a secret is set).
        """
        for value in extra:
            self.redactor.add(value.get_secret_value() if isinstance(value, SecretStr) else value)
        if not self._has_secrets():
            return 0
        try:
            return self.secrets.load_into_redactor()
        except ConfigError as err:
            # Secrets this process cannot decrypt, it cannot print either; say so, and let
            # commands that need them fail with the same sentence.
            log.warning("secret store not readable: %s", err)
            return 0
