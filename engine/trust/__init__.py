"""Trust: who may talk to the team, which secrets it holds, and the record of what was done.

* operators with roles and tenant scope, and the channel identities mapped to them (``_operators``);
* API keys — shown once, stored as HMAC-SHA256 with a pepper, scoped, revocable (``_keys``);
* the secret store — AES-256-GCM under a versioned key-encryption key, resumable rotation (``_secrets``);
* throttling of failed logins per source, key prefix and chat identity (``_throttle``);
* the redaction layer that keeps secret values out of every output (``_redact``);
* audit query, batched append and anchoring of the chain head (``_audit``);
* findings for the security-audit skill (``_review``);
* the one normalisation of untrusted text (``normalize``/``fold``) and the one terminal sanitiser (``printable``)
  (``_text``).
"""

from engine.errors import AuthenticationError, TooManyAttempts
from engine.trust._audit import (
    ANCHOR_FILE_NAME,
    Anchor,
    AuditDraft,
    AuditRecord,
    anchor,
    append_many,
    audit_query_tool,
    check_anchor,
    default_anchor_path,
    parse_since,
    query,
    read_anchors,
    record_anchor,
    verify_anchored,
    verify_with_anchor,
)
from engine.trust._keys import SCOPES, IssuedKey, KeyView, authenticate, hash_key, issue_key, list_keys, revoke_key
from engine.trust._operators import (
    CHANNELS,
    IdentityView,
    OperatorView,
    add_operator,
    caller_for_operator,
    link_identity,
    list_identities,
    list_operators,
    normalize_external_id,
    refusal_auditor,
    resolve_identity,
    revoke_operator,
    unlink_identity,
)
from engine.trust._redact import (
    MASK,
    RedactingFilter,
    Redactor,
    default_redactor,
    install_log_redaction,
    redact,
)
from engine.trust._review import (
    DueSecret,
    InactiveOperator,
    OutdatedNode,
    StaleKey,
    inactive_operators,
    outdated_nodes,
    secrets_due_for_rotation,
    security_findings,
    stale_keys,
)
from engine.trust._secrets import (
    KEY_FILE_NAME,
    MASTER_KEY_ENV,
    KeyRing,
    RotationReport,
    SecretInfo,
    SecretStore,
    validate_secret_name,
)
from engine.trust._service import PEPPER_SECRET, Trust, environment_secrets
from engine.trust._text import BIDI_CONTROLS, fold, has_hidden_characters, normalize, printable, scrub_surrogates
from engine.trust._throttle import Burst, LoginThrottle, throttle_for

__all__ = [
    "ANCHOR_FILE_NAME",
    "BIDI_CONTROLS",
    "CHANNELS",
    "KEY_FILE_NAME",
    "MASK",
    "MASTER_KEY_ENV",
    "PEPPER_SECRET",
    "SCOPES",
    "Anchor",
    "AuditDraft",
    "AuditRecord",
    "AuthenticationError",
    "Burst",
    "DueSecret",
    "IdentityView",
    "InactiveOperator",
    "IssuedKey",
    "KeyRing",
    "KeyView",
    "LoginThrottle",
    "OperatorView",
    "OutdatedNode",
    "RedactingFilter",
    "Redactor",
    "RotationReport",
    "SecretInfo",
    "SecretStore",
    "StaleKey",
    "TooManyAttempts",
    "Trust",
    "add_operator",
    "anchor",
    "append_many",
    "audit_query_tool",
    "authenticate",
    "caller_for_operator",
    "check_anchor",
    "default_anchor_path",
    "default_redactor",
    "environment_secrets",
    "fold",
    "has_hidden_characters",
    "hash_key",
    "inactive_operators",
    "install_log_redaction",
    "issue_key",
    "link_identity",
    "list_identities",
    "list_keys",
    "list_operators",
    "normalize",
    "normalize_external_id",
    "outdated_nodes",
    "parse_since",
    "printable",
    "query",
    "read_anchors",
    "record_anchor",
    "redact",
    "refusal_auditor",
    "resolve_identity",
    "revoke_key",
    "revoke_operator",
    "scrub_surrogates",
    "secrets_due_for_rotation",
    "security_findings",
    "stale_keys",
    "throttle_for",
    "unlink_identity",
    "validate_secret_name",
    "verify_anchored",
    "verify_with_anchor",
]
