"""One TLS context for the tests' HTTP clients.

Every ``httpx.Client()`` / ``httpx.AsyncClient()`` built without ``verify=`` loads the CA bundle into a new
``ssl.SSLContext``: ~30 ms of CPU, more than most loopback requests a test makes with it.  Tests that build
a client per request or per test pass ``verify=tls()`` instead: the same default context, built once per
process (the clients speak plain HTTP to loopback servers, so nothing about what they check changes).
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx

__all__ = ["tls"]


@cache
def tls() -> ssl.SSLContext:
    """httpx's default context (certifi's CA bundle, ``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured), built once."""
    return httpx.create_ssl_context()
