"""The one exception tree of the engine.

Every error an operator can cause or meet carries a message that is one
sentence saying what is wrong and what to do; the CLI and the chat print
``str(error)`` and nothing else (no traceback for a user mistake).  The bases
live here; a package that raises a more precise error defines it beside its
code, as a subclass of one of these (``tests/test_errors.py`` checks that every
exception class of the engine is drawn below and sits where it is drawn)::

    ClawOpsError                          str(err) is the sentence; exit_code for the CLI
    ├── ConfigError                       bad settings file / environment value
    ├── StoreError                        database unreachable, corrupt, locked or too new
    ├── InputError                        malformed selector, bad argument value
    │   ├── NotFound                      unknown account / instance / plan / job id
    │   ├── CommandNotAllowed             a node command outside the allowlist (engine.gateway)
    │   ├── TooLarge                      a request bigger than the API takes: 413 (engine.api)
    │   └── IdempotencyConflict           an Idempotency-Key reused for another request: 422 (engine.api)
    ├── AuthenticationError               wrong/unknown/revoked API key, unlinked channel identity
    │   ├── TooManyAttempts               too many failed logins from one source or for one key: wait
    │   └── Unauthorized                  the daemon refused this client's key: 401 (engine.api)
    ├── PolicyRefusal                     a named policy rule said no
    ├── IllegalTransition                 a state change outside the transition table
    ├── AuditError                        the audit chain failed verification
    ├── Unavailable                       something relied on cannot answer now; nothing was done
    │   ├── BrainUnavailable              the model API: the offline brain answers instead (engine.brain)
    │   ├── EngineUnavailable             the daemon at engine_url (engine.api)
    │   └── NodeUnavailable               an instance's clawnode (engine.nodes)
    ├── ProviderError                     a provider API said no
    │   └── ProviderAPIError …            the vendors' errors, drawn in engine.providers.errors
    ├── GatewayError                      the node gateway could not do it (engine.gateway)
    │   ├── NodeNotConnected              that node is not connected right now
    │   └── ArchiveFailed                 a node's export arrived incomplete or damaged
    ├── NodeCommandFailed                 a clawnode ran the command and reported failure (engine.nodes)
    ├── ChannelError                      Telegram / WhatsApp refused a call or stayed unreachable (engine.channels)
    │   └── MediaTooLarge                 a voice note or file over the download limit (engine.channels)
    ├── ArchiveError                      an archive could not be stored or verified: no delete (engine.operations)
    ├── StepStopped                       a job step saw its job stopping before it bought anything (engine.operations)
    └── TurnCrashed                       a turn failed unexpectedly; says what it had set going (engine.api)

Not in the tree, on purpose (they never reach an operator): the emulators' and the gateway's internal
control-flow exceptions (``EmuError``, ``_Refusal``, ``_BadRequest``, ``engine.api._remote._Retry``) and
``engine.gateway._upstream.UpstreamError``, a real OpenClaw gateway's refusal that the upstream link turns
into a log line and a retry, and ``engine.operations._service._HeldForConfirmation``, a plan the decision
gate held at the last moment, which the operation layer turns into a plan awaiting the operator's go.
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


class Unavailable(ClawOpsError):
    """Something the engine relies on (the model API, the daemon, a node) cannot answer now; nothing was done,
    and trying again later may work."""


class ProviderError(ClawOpsError):
    """A provider API call failed; drivers raise subclasses with details."""
