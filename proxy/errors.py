"""Errors the proxy makes, and their OpenAI-shaped JSON body.

Core code raises these; `api.errors` renders them. Each class fixes the
status, `type` and `code` of SPEC 5.1's error table:

    ProxyError (500 server_error / internal_error)
      InvalidRequestError (400 invalid_request_error)
        InvalidJSONError, InvalidPathError, InvalidUserIdError, MissingModelError,
        InvalidEncodingError, MethodNotAllowedError (405)
        MalformedRequestError (what the HTTP parser refuses),
        RequestTimeoutError (408 request_timeout), ExpectationFailedError (417)
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
