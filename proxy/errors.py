"""Errors the proxy makes, and their OpenAI-shaped JSON body.

Core code raises these; `api.errors` renders them. Each class fixes the status,
`type` and `code` of SPEC 5.1's error table; every ProxyError of the proxy is
defined here (tests/test_errors.py checks):

    ProxyError (500 server_error / internal_error)
      InternalError
      InvalidRequestError (400 invalid_request_error / invalid_request)
        InvalidJSONError, InvalidPathError, InvalidUserIdError, MissingModelError
        MethodNotAllowedError (405 method_not_allowed)
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
      UpstreamTimeoutError (504 upstream_error / upstream_timeout)   kind "timeout"
      ConfigUnavailableError (503 service_unavailable / config_unavailable)
      AdminUnavailableError (503 service_unavailable / cache_unavailable)

`kind` names an upstream failure for `tenant_proxy_upstream_errors_total` (None: not
an upstream failure); `retry_after`, when set, is sent as `Retry-After` (seconds).
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


class MissingModelError(InvalidRequestError):
    code = "missing_model"


class MethodNotAllowedError(InvalidRequestError):
    status, code = 405, "method_not_allowed"


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


class UpstreamTimeoutError(ProxyError):
    status, error_type, code = 504, "upstream_error", "upstream_timeout"
    kind = "timeout"


class ConfigUnavailableError(ProxyError):
    status, error_type, code = 503, "service_unavailable", "config_unavailable"


class AdminUnavailableError(ProxyError):
    status, error_type, code = 503, "service_unavailable", "cache_unavailable"
