"""Provider errors: one hierarchy under :class:`engine.errors.ProviderError`.

Every vendor's error body (Hetzner ``{"error":{code,message}}``, DigitalOcean
``{id,message,request_id}``, Vultr ``{error,status}``, Contabo NestJS
``{statusCode,message}``, Hostinger ``{message,correlation_id}``) is normalised
into one of these, carrying provider, operation, HTTP status, vendor code and the
vendor's own message, and its ``str()`` is one operator-facing sentence that says
what to do::

    ProviderError (engine.errors)
    └── ProviderAPIError             provider, operation, status, code, vendor_message, request_id
        ├── ProviderAuthError        401 / 403 forbidden: wrong or under-scoped token
        ├── ProviderNotFound         404: the server (or action) is gone
        ├── ProviderInvalidRequest   400 / 422: unknown region, plan, image, bad input
        ├── ProviderConflict         409 / 423: name taken, server locked, not stopped …
        ├── ProviderQuotaExceeded    402 / 403 resource_limit_exceeded / 412 sold out
        ├── ProviderRateLimited      429 (``retry_after`` seconds when the vendor said)
        ├── ProviderUnavailable      5xx, maintenance, region outage
        ├── ProviderTimeout          no answer in time (the call may or may not have happened)
        ├── ProviderUnreachable      connection refused / DNS: the call did not happen
        ├── ProviderBadResponse      a body with missing fields or wrong types
        ├── ProviderUnsupported      the vendor has no such operation (capability flag)
        └── PurchaseUncertain        a purchase-create whose outcome is unknown: never retried blindly
"""

from __future__ import annotations

from engine.errors import ProviderError

_ENV_TOKEN = {
    "hetzner": "CLAWOPS_HETZNER_TOKEN",
    "digitalocean": "CLAWOPS_DIGITALOCEAN_TOKEN",
    "vultr": "CLAWOPS_VULTR_TOKEN",
    "contabo": "CLAWOPS_CONTABO_CLIENT_ID / _CLIENT_SECRET / _USER / _PASSWORD",
    "hostinger": "CLAWOPS_HOSTINGER_TOKEN",
}


class ProviderAPIError(ProviderError):
    """A provider call failed.  ``str()`` says provider, operation, status, the vendor's words and a hint."""

    retryable = False
    hint = "check the provider's console and try again."

    def __init__(
        self,
        provider: str,
        operation: str,
        *,
        status: int | None = None,
        code: str | None = None,
        vendor_message: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        self.provider = provider
        self.operation = operation
        self.status = status
        self.code = code
        self.vendor_message = vendor_message
        self.request_id = request_id
        self.retry_after = retry_after
        if hint is not None:
            self.hint = hint
        super().__init__(self._sentence())

    def _sentence(self) -> str:
        what = f"{self.provider} {self.operation} failed"
        detail = []
        if self.status is not None:
            detail.append(f"HTTP {self.status}")
        if self.code:
            detail.append(self.code)
        if detail:
            what += f" ({' '.join(detail)})"
        if self.vendor_message:
            what += f": {self.vendor_message.rstrip('.')}"
        if self.request_id:
            what += f" [request {self.request_id}]"
        return f"{what}; {self.hint}"


class ProviderAuthError(ProviderAPIError):
    def __init__(self, provider: str, operation: str, **kw: object) -> None:
        kw.setdefault(
            "hint",
            f"check the API token ({_ENV_TOKEN.get(provider, 'the provider token')}) and its scopes.",
        )
        super().__init__(provider, operation, **kw)  # type: ignore[arg-type]


class ProviderNotFound(ProviderAPIError):
    hint = "it may have been deleted outside ClawOps; run reconciliation before acting on it."


class ProviderInvalidRequest(ProviderAPIError):
    hint = "check the region, plan and image against the provider's lists (list_regions / list_plans)."


class ProviderConflict(ProviderAPIError):
    retryable = False
    hint = "the server is busy, locked or in the wrong state (e.g. must be off); wait and retry."


class ProviderQuotaExceeded(ProviderAPIError):
    hint = "the account's limit or stock is exhausted; raise the limit with the provider or pick another region."


class ProviderRateLimited(ProviderAPIError):
    retryable = True
    hint = "the provider's rate limit was hit; ClawOps backs off and retries idempotent calls."


class ProviderUnavailable(ProviderAPIError):
    retryable = True
    hint = "the provider is failing or in maintenance; check provider_health and retry later."


class ProviderTimeout(ProviderAPIError):
    retryable = True
    hint = "no answer in time; the call may have taken effect, so ClawOps looks before it retries."


class ProviderUnreachable(ProviderAPIError):
    retryable = True
    hint = "the API could not be reached (network or DNS); check connectivity and the base URL."


class ProviderBadResponse(ProviderAPIError):
    hint = "the provider answered in an unexpected shape; its API may have changed, report it."


class ProviderUnsupported(ProviderAPIError):
    def __init__(self, provider: str, operation: str, **kw: object) -> None:
        kw.setdefault("hint", f"{provider} has no API for this; do it in the provider's console or plan around it.")
        super().__init__(provider, operation, **kw)  # type: ignore[arg-type]

    def _sentence(self) -> str:
        return f"{self.provider} cannot {self.operation.replace('_', ' ')}; {self.hint}"


class PurchaseUncertain(ProviderAPIError):
    """A purchase-create failed ambiguously and no server with our name was found: a human must look."""

    def __init__(self, provider: str, operation: str, *, name: str, cause: ProviderAPIError) -> None:
        self.name = name
        self.cause = cause
        super().__init__(
            provider,
            operation,
            status=cause.status,
            code=cause.code,
            vendor_message=cause.vendor_message,
            request_id=cause.request_id,
            hint=(
                f"it is a purchase, so ClawOps did not retry it; look for a server named '{name}' "
                "in the provider's console before trying again."
            ),
        )


def error_for_status(status: int, code: str | None = None) -> type[ProviderAPIError]:
    """The exception class for an HTTP status and vendor code."""
    code = (code or "").lower()
    if status == 401 or code in ("unauthorized", "invalid_token"):
        return ProviderAuthError
    if code in ("resource_limit_exceeded", "quota_exceeded", "resource_unavailable", "limit_exceeded"):
        return ProviderQuotaExceeded
    if code == "maintenance":
        return ProviderUnavailable
    if status == 403:
        return ProviderAuthError
    if status == 404:
        return ProviderNotFound
    if status in (402, 412):
        return ProviderQuotaExceeded
    if status in (409, 423):
        return ProviderConflict
    if status == 429:
        return ProviderRateLimited
    if status >= 500:
        return ProviderUnavailable
    if status in (400, 405, 410, 413, 415, 422):
        return ProviderInvalidRequest
    return ProviderAPIError
