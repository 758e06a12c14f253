"""Errors the proxy makes, and their OpenAI-shaped JSON body.

Core code raises these; `api.errors` renders them. Each class fixes the status,
`type` and `code` of SPEC 5.1's error table; every ProxyError of the proxy is
defined here (tests/test_errors.py checks):

    ProxyError (500 server_error / internal_error)
      InternalError
      InvalidRequestError (400 invalid_request_error / invalid_request)
        InvalidJSONError, InvalidPathError, InvalidUserIdError, MissingModelError
        InvalidConfigError (invalid_config: a tenant document the management API
          refuses; `param` names the field)
        InvalidEncodingError (invalid_encoding)
        UnsupportedParameterError (unsupported_parameter)
        EncryptionNotConfiguredError (encryption_not_configured)
        MethodNotAllowedError (405 method_not_allowed)
        MalformedRequestError (what the HTTP parser refuses)                closes
        RequestTimeoutError (408 request_timeout)                           closes
        ExpectationFailedError (417)                                        closes
        RequestTooLargeError (413 request_too_large)
      ClientGoneError (499 client_disconnected: records and logs only, never sent)
      AuthenticationError (401 authentication_error / invalid_token)
        MissingCredentialsError, InvalidTokenError, MissingUpstreamKeyError
      PermissionDeniedError (403 permission_error / permission_denied)
        TenantMismatchError, ModelNotAllowedError
        UpstreamForbiddenError (upstream_forbidden)                  kind "forbidden"
      NotFoundError (404 not_found_error / not_found)
        ConfigNotFoundError, ModelNotFoundError
      ConfigInvalidError (500 config_invalid)
      UpstreamUnreachableError (502 upstream_error / upstream_unreachable)
        UpstreamConnectError                                         kind "connect"
        UpstreamDisconnectError                                      kind "disconnect"
      UpstreamStreamError (502 upstream_error / upstream_stream_error: a stream broke)
      UpstreamTimeoutError (504 upstream_error / upstream_timeout)   kind "timeout"
      ConfigUnavailableError (503 service_unavailable / config_unavailable)
      UpstreamUnavailableError (503 service_unavailable / upstream_unavailable)  retry_after
      AdminUnavailableError (503 service_unavailable / cache_unavailable)
      StoreUnavailableError (503 service_unavailable / store_unavailable)
      RetryLaterError (a refusal that always carries Retry-After)
        RateLimitedError (429 rate_limit_error / rate_limited)
        BudgetExceededError (429 insufficient_quota / budget_exceeded)
        BudgetUnavailableError (503 service_unavailable / budget_unavailable)
      TenantExistsError (409 invalid_request_error / tenant_exists)
      TenantChangedError (409 invalid_request_error / tenant_changed)
      SealedKeyError (500 server_error / internal_error; .key_id, .reason for the log)

`kind` names an upstream failure for `tenant_proxy_upstream_errors_total` (None: not
an upstream failure); `retry_after`, when set, is sent as `Retry-After` (seconds);
`closes_connection` (marked "closes") closes the connection after the answer, the
rest of the request being unreadable.
Messages are for the client: they never contain keys, tokens or addresses.
"""

from __future__ import annotations

import orjson


class ProxyError(Exception):
    status = 500
    error_type = "server_error"
    code: str | None = "internal_error"
    kind: str | None = None  # which upstream failure, for metrics
    retry_after: float | None = None  # seconds, sent as Retry-After
    closes_connection: bool = False  # the rest of the request is unreadable

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def body(self) -> bytes:
        return orjson.dumps(
            {
                "error": {
                    "message": self.message,
                    "type": self.error_type,
                    "code": self.code,
                    "param": self.param,
                }
            }
        )


class InternalError(ProxyError):
    pass


class InvalidRequestError(ProxyError):
    status, error_type, code = 400, "invalid_request_error", "invalid_request"


class InvalidJSONError(InvalidRequestError):
    code = "invalid_json"


class InvalidPathError(InvalidRequestError):
    code = "invalid_path"


class InvalidUserIdError(InvalidRequestError):
    code = "invalid_user_id"


class InvalidConfigError(InvalidRequestError):
    code = "invalid_config"


class InvalidEncodingError(InvalidRequestError):
    code = "invalid_encoding"


class MissingModelError(InvalidRequestError):
    code = "missing_model"


class MethodNotAllowedError(InvalidRequestError):
    status, code = 405, "method_not_allowed"


class MalformedRequestError(InvalidRequestError):
    closes_connection = True


class RequestTimeoutError(InvalidRequestError):
    status, code = 408, "request_timeout"
    closes_connection = True


class ExpectationFailedError(InvalidRequestError):
    status = 417
    closes_connection = True  # the body that was to follow will not be read


class RequestTooLargeError(InvalidRequestError):
    status, code = 413, "request_too_large"


class ClientGoneError(ProxyError):
    """The client disconnected; nobody will read this response."""

    status, error_type, code = 499, "invalid_request_error", "client_disconnected"


class AuthenticationError(ProxyError):
    status, error_type, code = 401, "authentication_error", "invalid_token"


class MissingCredentialsError(AuthenticationError):
    code = "missing_credentials"


class InvalidTokenError(AuthenticationError):
    code = "invalid_token"


class MissingUpstreamKeyError(AuthenticationError):
    code = "missing_upstream_key"


class PermissionDeniedError(ProxyError):
    status, error_type, code = 403, "permission_error", "permission_denied"


class TenantMismatchError(PermissionDeniedError):
    code = "tenant_mismatch"


class ModelNotAllowedError(PermissionDeniedError):
    code = "model_not_allowed"


class UpstreamForbiddenError(PermissionDeniedError):
    code, kind = "upstream_forbidden", "forbidden"


class NotFoundError(ProxyError):
    status, error_type, code = 404, "not_found_error", "not_found"


class ConfigNotFoundError(NotFoundError):
    code = "config_not_found"


class ModelNotFoundError(NotFoundError):
    code = "model_not_found"


class ConfigInvalidError(ProxyError):
    code = "config_invalid"


class UpstreamUnreachableError(ProxyError):
    status, error_type, code = 502, "upstream_error", "upstream_unreachable"


class UpstreamConnectError(UpstreamUnreachableError):
    kind = "connect"


class UpstreamDisconnectError(UpstreamUnreachableError):
    kind = "disconnect"


class UpstreamStreamError(ProxyError):
    """A stream that had started broke (SPEC 12): its final event and its record."""

    status, error_type, code = 502, "upstream_error", "upstream_stream_error"


class UpstreamUnavailableError(ProxyError):
    """Every route's circuit breaker was open (SPEC 12); `retry_after`: the cooldown left."""

    status, error_type, code = 503, "service_unavailable", "upstream_unavailable"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamTimeoutError(ProxyError):
    status, error_type, code = 504, "upstream_error", "upstream_timeout"
    kind = "timeout"


class ConfigUnavailableError(ProxyError):
    status, error_type, code = 503, "service_unavailable", "config_unavailable"


class AdminUnavailableError(ProxyError):
    status, error_type, code = 503, "service_unavailable", "cache_unavailable"


class RetryLaterError(ProxyError):
    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitedError(RetryLaterError):
    """The tenant's RPM or TPM limit: `retry_after` is when enough of the window passed."""

    status, error_type, code = 429, "rate_limit_error", "rate_limited"


class BudgetExceededError(RetryLaterError):
    """The request's estimate does not fit the month's budget: `retry_after` is the
    seconds until the UTC month ends."""

    status, error_type, code = 429, "insufficient_quota", "budget_exceeded"


class BudgetUnavailableError(RetryLaterError):
    """BUDGET_FAIL_MODE=closed and Redis did not answer: budgets and limits cannot be
    checked, so the request is not forwarded."""

    status, error_type, code = 503, "service_unavailable", "budget_unavailable"


class TenantExistsError(ProxyError):
    status, error_type, code = 409, "invalid_request_error", "tenant_exists"


class TenantChangedError(ProxyError):
    """The tenant changed since it was read (optimistic concurrency): read and merge again."""

    status, error_type, code = 409, "invalid_request_error", "tenant_changed"


class StoreUnavailableError(ProxyError):
    """The tenant store is down, refused, or did not answer within its timeout."""

    status, error_type, code = 503, "service_unavailable", "store_unavailable"


class SealedKeyError(ProxyError):
    """A stored upstream key does not open: sealed under a key id no longer in the key
    ring, damaged, or sealed for another tenant. Such a row is never forwarded.

    The message is the same for all (clients see a plain 500); log `key_id` and `reason`."""

    def __init__(self, key_id: str, *, tenant_id: str, reason: str) -> None:
        super().__init__("the tenant's upstream key cannot be decrypted")
        self.key_id = key_id
        self.tenant_id = tenant_id
        self.reason = reason


class EncryptionNotConfiguredError(InvalidRequestError):
    """A document holds an `api_key` but no key ring is configured: keys are never stored plain."""

    code = "encryption_not_configured"


class UnsupportedParameterError(InvalidRequestError):
    """A request field the route's provider format cannot express (SPEC 13); `param` names it."""

    code = "unsupported_parameter"
