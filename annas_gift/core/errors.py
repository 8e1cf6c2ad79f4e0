"""Gateway errors: each maps to one OpenAI-shaped error body and HTTP status.

The one hierarchy of the gateway: every layer raises these, the API turns them into responses.
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """An error a client sees as `{"error": {"message", "type", "code", "param"}}`."""

    status = 500
    type = "server_error"
    code = "internal_error"
    # Worth trying the next model in the fallback order (429, 5xx, timeout, connection).
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        provider: str | None = None,
        model: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.retry_after = retry_after
        self.provider = provider
        self.model = model
        self.details = details
        if code is not None:
            self.code = code

    def body(self) -> dict[str, Any]:
        """The OpenAI-shaped error body."""
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.type,
            "code": self.code,
            "param": self.param,
        }
        if self.details:
            error.update(self.details)
        return {"error": error}

    def health_status(self) -> int | None:
        """The provider status health tracking should count (None: no answer at all)."""
        return self.status

    def headers(self) -> dict[str, str]:
        """Response headers the error carries (Retry-After for rate limits)."""
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, round(self.retry_after)))}


class InvalidRequest(GatewayError):
    status, type, code = 400, "invalid_request_error", "invalid_request"


class AuthenticationFailed(GatewayError):
    status, type, code = 401, "authentication_error", "invalid_api_key"


class ModelNotFound(GatewayError):
    status, type, code = 404, "invalid_request_error", "model_not_found"


class NotFound(GatewayError):
    status, type, code = 404, "invalid_request_error", "not_found"


class PayloadTooLarge(GatewayError):
    status, type, code = 413, "invalid_request_error", "payload_too_large"


class UnsupportedMediaType(GatewayError):
    status, type, code = 415, "invalid_request_error", "unsupported_media_type"


class ServiceUnavailable(GatewayError):
    """A part of the gateway needed for this request is not running."""

    status, type, code = 503, "service_unavailable", "service_unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    """The usage database does not answer (readiness says the same)."""

    code = "database_unavailable"


class ProviderNotConfigured(GatewayError):
    """The model's provider key (env var) is missing: the operator must set it."""

    status, type, code = 503, "service_unavailable", "provider_not_configured"


class ContextWindowExceeded(InvalidRequest):
    code = "context_length_exceeded"


class RateLimited(GatewayError):
    status, type, code, retryable = 429, "rate_limit_error", "rate_limit_exceeded", True


class ModelUnavailable(GatewayError):
    """The model's circuit is open after repeated failures; another model may serve."""

    status, type, code, retryable = 503, "service_unavailable", "model_unavailable", True


class ProviderAuthFailed(GatewayError):
    # The provider rejected *our* key: a gateway-side fault, not the client's, hence 502.
    status, type, code, retryable = 502, "upstream_error", "provider_authentication_failed", True


class UpstreamTimeout(GatewayError):
    status, type, code, retryable = 504, "upstream_error", "upstream_timeout", True

    def health_status(self) -> int | None:
        """No answer came back: a timeout, which the breaker counts like a 5xx."""
        return None


class UpstreamConnectionError(GatewayError):
    status, type, code, retryable = 502, "upstream_error", "upstream_connection_error", True

    def health_status(self) -> int | None:
        """A provider-side failure, whatever status the client is answered with."""
        return 503


class UpstreamServerError(GatewayError):
    status, type, code, retryable = 502, "upstream_error", "upstream_server_error", True

    def health_status(self) -> int | None:
        """A provider-side failure, whatever status the client is answered with."""
        return 503


class AllAttemptsFailed(GatewayError):
    """Every model in the fallback order failed; `details.attempts` lists them."""

    status, type, code = 503, "service_unavailable", "all_models_failed"


class ProxyNotSupported(GatewayError):
    """This model's LiteLLM provider cannot be sent through a proxy; it is never sent direct."""

    status, type, code, retryable = 502, "upstream_error", "proxy_not_supported", True


class VPNUnavailable(GatewayError):
    """The provider must go through the VPN, but no endpoint may carry it."""

    status, type, code, retryable = 503, "service_unavailable", "vpn_unavailable", True


def error_for_status(
    status: int | None,
    message: str,
    *,
    provider: str,
    model: str,
    upstream_model: str,
    code: str | None = None,
    retry_after: float | None = None,
) -> GatewayError:
    """The gateway error for a provider's failed answer; both upstream paths use this table.

    `message` is the provider's own words, `code` its error code if it sent one; `status` is
    None when the failure carries no HTTP status (it is then a provider-side failure).
    """
    if status == 429:
        return RateLimited(
            f"{model} is rate limited by {provider}: {message}",
            retry_after=retry_after,
            provider=provider,
            model=model,
        )
    if status in (401, 403):
        return ProviderAuthFailed(
            f"{provider} rejected the gateway's credentials for {model}",
            provider=provider,
            model=model,
        )
    if status in (400, 413, 422):
        if code == "context_length_exceeded" or "context length" in message.lower():
            return ContextWindowExceeded(message, param="messages", provider=provider, model=model)
        return InvalidRequest(
            f"{provider} rejected the request: {message}", provider=provider, model=model
        )
    if status == 404:
        return UpstreamServerError(
            f"{provider} does not know model {upstream_model}", provider=provider, model=model
        )
    shown = f" (HTTP {status})" if status is not None else ""
    return UpstreamServerError(
        f"{provider} failed for {model}{shown}: {message}", provider=provider, model=model
    )


# --- keys, roles and budgets (issue 11) ---------------------------------------------------------


class InsufficientPermissions(GatewayError):
    """A client key called an admin route: 403, and nothing changed."""

    status, type, code = 403, "permission_error", "insufficient_permissions"


class ModelNotAllowed(GatewayError):
    """The key's allowed models do not include the requested one."""

    status, type, code = 403, "permission_error", "model_not_allowed"


class BudgetExceeded(GatewayError):
    """A daily or monthly budget is used up until it resets (message and Retry-After say when)."""

    status, type, code = 429, "insufficient_quota", "budget_exceeded"


class TotalBudgetExceeded(BudgetExceeded):
    """A total budget is used up: waiting will not help, an admin must raise it."""

    status = 403


class Conflict(GatewayError):
    """The change clashes with what exists (e.g. a key name already taken)."""

    status, type, code = 409, "invalid_request_error", "conflict"
