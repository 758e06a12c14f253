"""Errors the proxy makes, and their OpenAI-shaped JSON body.

Core code raises these; `api.errors` renders them. Each class fixes the
status, `type` and `code` of SPEC 5.1's error table:

    ProxyError (500 server_error / internal_error)
      InvalidRequestError (400 invalid_request_error)
        InvalidJSONError, InvalidPathError, InvalidUserIdError, MissingModelError,
        InvalidConfigError (a tenant document the management API refuses; `param` names the field),
        InvalidEncodingError, MethodNotAllowedError (405)
        MalformedRequestError (what the HTTP parser refuses),
        RequestTimeoutError (408 request_timeout), ExpectationFailedError (417)
        UnsupportedParameterError (unsupported_parameter)
        RequestTooLargeError (413 request_too_large)
      AuthenticationError (401 authentication_error)
        MissingCredentialsError, InvalidTokenError, MissingUpstreamKeyError
      PermissionDeniedError (403 permission_error)
        TenantMismatchError, ModelNotAllowedError, UpstreamForbiddenError
      NotFoundError (404 not_found_error / not_found)
        ConfigNotFoundError, ModelNotFoundError
      ConfigInvalidError (500 config_invalid)
      UpstreamUnreachableError (502 upstream_error / upstream_unreachable)
      UpstreamTimeoutError (504 upstream_error / upstream_timeout)
      ConfigUnavailableError (503 service_unavailable / config_unavailable)
      TenantExistsError (409 invalid_request_error / tenant_exists)
      TenantChangedError (409 invalid_request_error / tenant_changed)
      StoreUnavailableError (503 service_unavailable / store_unavailable)
      SealedKeyError (500 server_error / internal_error; .key_id, .reason for the log)
      EncryptionNotConfiguredError (400 invalid_request_error / encryption_not_configured)

Messages are for the client: they never contain keys, tokens or addresses.
"""

from __future__ import annotations

import orjson


class ProxyError(Exception):
    status = 500
    error_type = "server_error"
    code: str | None = "internal_error"
    # The connection is closed after this answer (the rest of the request is unreadable).
    closes_connection = False

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

    def sse_event(self) -> bytes:
        """The error as a final SSE event, for a stream whose headers already went out."""
        return b"data: " + self.body() + b"\n\n"


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
    code = "upstream_forbidden"


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


class UpstreamTimeoutError(ProxyError):
    status, error_type, code = 504, "upstream_error", "upstream_timeout"


class ConfigUnavailableError(ProxyError):
    status, error_type, code = 503, "service_unavailable", "config_unavailable"


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
