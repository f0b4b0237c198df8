"""Trust's one new error, kept in the engine's tree (subclass of :class:`~engine.errors.ClawOpsError`).

``engine/errors.py`` is shared and fixed for this piece of work; the lead may
move :class:`AuthenticationError` there unchanged.
"""

from __future__ import annotations

from engine.errors import ClawOpsError

__all__ = ["AuthenticationError"]


class AuthenticationError(ClawOpsError):
    """A wrong, unknown or revoked API key, or a channel identity nobody registered.

    The message never says *which* part was wrong beyond what the caller
    already knows, and never repeats the key.
    """

    exit_code = 77  # EX_NOPERM
