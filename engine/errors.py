"""The one exception tree of the engine.

Every error an operator can cause or meet carries a message that is one
sentence saying what is wrong and what to do; the CLI and the chat print
``str(error)`` and nothing else (no traceback for a user mistake)::

    ClawOpsError
    ├── ConfigError            bad settings file / environment value
    ├── StoreError             database unreachable, corrupt, locked or too new
    ├── InputError             malformed selector, bad argument value
    │   └── NotFound           unknown account / instance / plan / job id
    ├── AuthenticationError    wrong/unknown/revoked API key, unlinked channel identity
    │   └── TooManyAttempts    too many failed logins from one source or for one key: wait
    ├── PolicyRefusal          a named policy rule said no
    ├── IllegalTransition      a state change outside the transition table
    ├── AuditError             the audit chain failed verification
    └── ProviderError          a provider API said no (subclassed by drivers)
"""

from __future__ import annotations


class ClawOpsError(Exception):
    """Base class: ``str(err)`` is the operator-facing sentence."""

    exit_code = 1


class ConfigError(ClawOpsError):
    """The settings file or a ``CLAWOPS_*`` variable is invalid."""

    exit_code = 78  # EX_CONFIG


class StoreError(ClawOpsError):
    """The store cannot be opened or written (unreachable, corrupt, locked)."""

    exit_code = 74  # EX_IOERR


class InputError(ClawOpsError):
    """An argument, selector or message the engine cannot act on."""

    exit_code = 64  # EX_USAGE


class NotFound(InputError):
    """An id that names nothing the caller may see."""


class AuthenticationError(ClawOpsError):
    """A wrong, unknown or revoked API key, or a channel identity nobody registered.

    The message never says *which* part was wrong beyond what the caller
    already knows, and never repeats the key.
    """

    exit_code = 77  # EX_NOPERM


class TooManyAttempts(AuthenticationError):
    """Failed logins came too fast from one source (or for one key): refused unchecked until ``retry_after``.

    An HTTP front end answers 429 with a ``Retry-After`` header; the message
    says in words how long to wait.
    """

    exit_code = 75  # EX_TEMPFAIL

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PolicyRefusal(ClawOpsError):
    """A policy rule refused the action.  ``rule`` is its stable name."""

    exit_code = 3

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


class IllegalTransition(ClawOpsError):
    """A state change the transition table does not allow."""


class AuditError(ClawOpsError):
    """The audit chain is broken; the message names the first bad entry."""

    exit_code = 2


class ProviderError(ClawOpsError):
    """A provider API call failed; drivers raise subclasses with details."""
