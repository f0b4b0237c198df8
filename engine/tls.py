"""The engine's one TLS client context for outbound HTTPS with httpx (the daemon's API, vendor webhooks).

What httpx would build for each client by default (the CA bundle, or ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when
set), built once per process: loading the CA bundle costs ~25-35 ms of CPU, and short-lived clients (one per
request to a remote daemon, one per pair a provisioning job announces) paid it every time.  A context holds no
per-connection state, so sharing it between clients, engines and event loops is safe.  (The anthropic SDK uses
its own HTTP library and keeps its own context: ``engine/brain/_llm``.)
"""

from __future__ import annotations

import ssl
from functools import cache

__all__ = ["default_tls_context"]


@cache
def default_tls_context() -> ssl.SSLContext:
    """httpx's default client context, made once per process."""
    import httpx

    return httpx.create_ssl_context()
