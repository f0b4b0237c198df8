"""The node's Ed25519 device identity and the device token the gateway issued to it.

The private seed is created once and kept with the device token in one JSON state file with mode
0600 (written atomically: temp file created 0600, fsync, rename), because a leaked seed lets anyone
impersonate the VPS and a torn write would force a fresh pairing.  ``state_path=None`` keeps the
identity in memory only, which is what simulated nodes use.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from node.errors import IdentityError
from node.protocol import b64url_decode, b64url_encode, device_id_from_public_key

__all__ = ["DeviceIdentity", "load_public_key", "raw_public_key", "verify_signature"]

_STATE_VERSION = 1


@dataclass
class DeviceIdentity:
    """A device key pair plus what the gateway told us about it (token, scopes)."""

    private_key: Ed25519PrivateKey
    state_path: Path | None = None
    device_token: str | None = None
    token_scopes: list[str] = field(default_factory=list)
    token_role: str | None = None

    @property
    def public_key_raw(self) -> bytes:
        return self.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def public_key_b64url(self) -> str:
        return b64url_encode(self.public_key_raw)

    @property
    def device_id(self) -> str:
        return device_id_from_public_key(self.public_key_raw)

    def sign(self, payload: str) -> str:
        """Ed25519 signature over the UTF-8 bytes of ``payload``, base64url without padding."""
        return b64url_encode(self.private_key.sign(payload.encode("utf-8")))

    @classmethod
    def generate(cls, state_path: Path | None = None) -> DeviceIdentity:
        return cls(private_key=Ed25519PrivateKey.generate(), state_path=state_path)

    @classmethod
    def load_or_create(cls, state_path: Path | str | None) -> DeviceIdentity:
        """Load the identity from ``state_path``, or create and save a new one if the file is absent."""
        if state_path is None:
            return cls.generate()
        path = Path(state_path)
        if not path.exists():
            identity = cls.generate(path)
            identity.save()
            return identity
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                # Tighten rather than refuse: a node that will not start is worse than a fixed mode.
                os.chmod(path, 0o600)
            data = json.loads(path.read_text(encoding="utf-8"))
            seed = b64url_decode(str(data["privateKeySeed"]))
            key = Ed25519PrivateKey.from_private_bytes(seed)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IdentityError(
                f"The node identity file {path} is unreadable or corrupt ({exc}); "
                "move it aside to create a new identity and re-pair the node."
            ) from exc
        identity = cls(private_key=key, state_path=path)
        token = data.get("deviceToken")
        identity.device_token = token if isinstance(token, str) and token else None
        scopes = data.get("scopes")
        identity.token_scopes = [str(s) for s in scopes] if isinstance(scopes, list) else []
        role = data.get("role")
        identity.token_role = role if isinstance(role, str) else None
        stored_id = data.get("deviceId")
        if stored_id is not None and stored_id != identity.device_id:
            raise IdentityError(f"The node identity file {path} has a device id that does not match its key.")
        return identity

    def to_state(self) -> dict[str, Any]:
        seed = self.private_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return {
            "version": _STATE_VERSION,
            "deviceId": self.device_id,
            "publicKey": self.public_key_b64url,
            "privateKeySeed": b64url_encode(seed),
            "deviceToken": self.device_token,
            "role": self.token_role,
            "scopes": list(self.token_scopes),
        }

    def save(self) -> None:
        """Write the state file atomically with mode 0600 (no-op for in-memory identities)."""
        if self.state_path is None:
            return
        path = self.state_path
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(prefix=".clawnode-", dir=path.parent)  # mkstemp creates 0600
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(self.to_state(), fh, indent=2)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.chmod(tmp, 0o600)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise IdentityError(f"Cannot write the node identity file {path}: {exc.strerror or exc}.") from exc

    def remember_token(self, token: str | None, role: str | None, scopes: list[str]) -> None:
        """Keep the device token from ``hello-ok`` so the next connect can use it instead of the shared one."""
        if token == self.device_token and role == self.token_role and scopes == self.token_scopes:
            return
        self.device_token, self.token_role, self.token_scopes = token, role, list(scopes)
        self.save()


def load_public_key(text: str) -> Ed25519PublicKey:
    """Parse ``device.publicKey``: raw 32 bytes in base64url, or a PEM SPKI block."""
    if text.lstrip().startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode("ascii"))
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("public key is not Ed25519")
        return key
    raw = b64url_decode(text)
    if len(raw) != 32:
        raise ValueError("public key must be 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def verify_signature(key: Ed25519PublicKey, payload: str, signature_b64url: str) -> bool:
    """True if ``signature_b64url`` is a valid Ed25519 signature of ``payload`` by ``key``."""
    try:
        sig = b64url_decode(signature_b64url)
    except ValueError:
        return False
    if len(sig) != 64:
        return False
    try:
        # surrogatepass: a peer can put lone surrogates in JSON strings; that must fail verification,
        # not raise.
        key.verify(sig, payload.encode("utf-8", "surrogatepass"))
    except InvalidSignature:
        return False
    return True
