"""The /v1/* edge: the request path's stages, composed in one place.

One `ProxyHandler` per app, built at startup with its stages. A request, top to
bottom in `handle`:

    edge        path and user id, method, authentication, body read and inspected
    tenant      the tenant's config (a sync L1 lookup first), the route for the model
    admission   budgets and rate limits reserve (accounting.admission, accounting.quota)
    exchange    fallbacks -> retries -> one send (upstream.exchange; SPEC 12)
    relay       the answer to the client: JSON whole, SSE chunk by chunk (api.relay)
    settle      price, count and record: exactly one usage record, whatever happened
                (accounting.settlement)

Stages after the edge are plain calls that hand back the coroutine of the step that
has something to await, so the layers cost no coroutine frames of their own.
"""

from __future__ import annotations

import asyncio
import time
from time import perf_counter

from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError

from proxy.accounting.admission import Admission
from proxy.accounting.quota import Reservation
from proxy.accounting.settlement import Settlement
from proxy.api.errors import error_response, internal_error_response
from proxy.api.models import is_models_path, models_response
from proxy.api.paths import split_path, split_user_target
from proxy.api.relay import Relay
from proxy.body import RequestBody, check_content_encoding, inspect_body
from proxy.errors import (
    ClientGoneError,
    InvalidEncodingError,
    MalformedRequestError,
    MethodNotAllowedError,
    ProxyError,
    RequestTooLargeError,
)
from proxy.ids import IdGenerator
from proxy.route import Route
from proxy.telemetry.metrics import Metrics
from proxy.tenancy.auth import Authenticator
from proxy.tenancy.config import TenantConfig
from proxy.tenancy.source import TenantSource
from proxy.upstream.call import Call
from proxy.upstream.exchange import Exchange
from proxy.usage_record import UsageRecord

PROXIED_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_LABEL = "(default)"


class ProxyHandler:
    def __init__(
        self,
        *,
        tenants: TenantSource,
        auth: Authenticator,
        admission: Admission,
        exchange: Exchange,
        relay: Relay,
        settlement: Settlement,
        ids: IdGenerator,
        metrics: Metrics,
        max_body_bytes: int,
        multi_tenant: bool = False,
    ) -> None:
        self._multi_tenant = multi_tenant
        self._tenants = tenants
        self._auth = auth
        self._admission = admission
        self._exchange = exchange
        self._relay = relay
        self._settlement = settlement
        self._ids = ids
        self._metrics = metrics
        self._max_body = max_body_bytes

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve a `/v1/...` (static) or `/users/{user_id}/v1/...` (multi-tenant) request."""
        started = perf_counter()
        headers = request.headers
        request_id = self._ids.request_id(headers.get("X-Request-ID"))
        record = UsageRecord(
            self._ids.event_id(), request_id, time.time(), request.method, request.path
        )
        call = Call(record, started, headers)
        metrics = self._metrics
        metrics.in_flight += 1
        reservation: Reservation | None = None  # settled in the finally, whatever happens
        try:
            self._target(request, call)
            pending = self._auth.authenticate(headers, record.tenant)
            if pending is not None:  # a proxy token not checked lately: one store query
                await pending
            record.authenticated = True
            config = self._tenants.cached(record.tenant)
            if config is None:
                config = await self._tenants.config_for(record.tenant)
            if call.path.startswith("/v1/models") and is_models_path(record.method, call.path):
                return self._models(call, config)
            raw = await self._read_body(request)
            body = inspect_body(raw, headers.get("Content-Type", "").lower())
            route = self._route(call, config, body)
            reservation = self._admission.admit(record, route, body, config)
            if reservation is not None:
                await reservation
            answer = await self._exchange.send(call, route)
            return await self._relay.respond(request, call, answer)
        except ProxyError as e:
            record.status, record.error = e.status, e.code
            if e.kind is not None:
                metrics.upstream_error(e.kind)
            response = error_response(e, request_id)
            if record.attempts:
                response.headers["x-proxy-attempts"] = str(record.attempts)
            return response
        except asyncio.CancelledError:
            record.status, record.error = 499, "client_disconnected"
            raise
        except Exception:
            record.status, record.error = 500, "internal_error"
            return internal_error_response(request, request_id)
        finally:
            metrics.in_flight -= 1
            self._settlement.settle(
                record, call.route, call.label, started, call.upstream_s, reservation
            )

    def _target(self, request: web.Request, call: Call) -> None:
        """The tenant (multi-tenant mode), the path to forward and its query."""
        record = call.record
        # Only the target's path and query are used: never its scheme or host, nor Host.
        # The whole target is checked and decoded first, the user id's segment included.
        if self._multi_tenant:
            record.tenant, path, call.query = split_user_target(request.raw_path)
        else:
            path, call.query = split_path(request.raw_path)
        if record.method not in PROXIED_METHODS:
            raise MethodNotAllowedError(f"{record.method} is not allowed on /v1 paths.")
        call.path = record.endpoint = path

    async def _read_body(self, request: web.Request) -> bytes:
        """The body, decoded (gzip, deflate: see proxy.body) and bounded."""
        encoding = request.headers.get("Content-Encoding")
        if encoding:
            check_content_encoding(encoding)
        try:
            return await request.read()  # decoded; bounded by the app's client_max_size
        except web.HTTPRequestEntityTooLarge:
            raise RequestTooLargeError(
                f"The request body exceeds {self._max_body} bytes."
            ) from None
        except ConnectionError:
            raise ClientGoneError("The client disconnected while sending the body.") from None
        except web.RequestPayloadError as e:  # its message may quote the body: never repeated
            if isinstance(e.__cause__, ContentEncodingError):
                raise InvalidEncodingError(
                    f"The request body is not valid {encoding} data.", param="Content-Encoding"
                ) from None
            raise MalformedRequestError("The request body is malformed.") from None

    def _route(self, call: Call, config: TenantConfig, body: RequestBody) -> Route:
        """The route for the body's model; the record names what the client asked for."""
        record = call.record
        model = body.model
        call.body = body
        record.model = model
        record.stream = body.stream
        route = config.route_for(model)
        call.route = route
        record.upstream_model = route.upstream_model or model
        record.provider = route.provider
        if model is not None:
            call.label = model if model in config.routes else _DEFAULT_LABEL
        return route

    def _models(self, call: Call, config: TenantConfig) -> web.Response:
        """GET /v1/models and /v1/models/{id}, answered from the config."""
        call.record.status = 200
        response = models_response(config, call.path)
        response.headers["x-request-id"] = call.record.request_id
        return response
