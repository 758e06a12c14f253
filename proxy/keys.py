"""Every web.AppKey of the app, in one place.

Only the wiring layer (app, contexts) and the edge (api, admin) read or write the
app; below them collaborators are constructor arguments. So this module sits just
under the edge in the import contract: it may name the types of the packages below
(tenancy, telemetry, cache, ...), never the edge's, and nothing below imports it.
The /v1 handler is stored as a plain handler callable for that reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    import aiohttp
    from aiohttp.abc import AbstractResolver
    from aiohttp.typedefs import Handler
    from redis.asyncio import Redis

    from proxy.accounting.ledger import UsageLedger
    from proxy.accounting.quota import QuotaBackend
    from proxy.cache.invalidation import InvalidationSubscriber
    from proxy.ids import IdGenerator
    from proxy.lifecycle import Lifecycle
    from proxy.readiness import ReadinessCheck
    from proxy.redis_gate import RedisGate
    from proxy.settings import Settings
    from proxy.store import TenantStore
    from proxy.store.usage import UsageTable
    from proxy.tasks import TaskSet
    from proxy.telemetry.metrics import Metrics
    from proxy.telemetry.webhook import WebhookSink
    from proxy.tenancy.auth import Authenticator
    from proxy.tenancy.changes import TenantChanges
    from proxy.tenancy.resolver import TenantResolver
    from proxy.tenancy.source import TenantSource
    from proxy.throttled_log import RateLimitedLog
    from proxy.usage_record import UsageSink

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
IDS: web.AppKey[IdGenerator] = web.AppKey("ids")
TASKS: web.AppKey[TaskSet] = web.AppKey("tasks")
LIFECYCLE: web.AppKey[Lifecycle] = web.AppKey("lifecycle")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
HTTP: web.AppKey[aiohttp.ClientSession] = web.AppKey("http")  # tenant upstreams (guarded)
CONTROL_HTTP: web.AppKey[aiohttp.ClientSession] = web.AppKey("control_http")  # operator endpoints
# Upstream warnings (refused connections, refused destinations), rate-limited per host.
UPSTREAM_WARNINGS: web.AppKey[RateLimitedLog] = web.AppKey("upstream_warnings")
DNS_RESOLVER: web.AppKey[AbstractResolver] = web.AppKey("dns_resolver")  # DNS, injectable for tests
REDIS: web.AppKey[Redis] = web.AppKey("redis")
REDIS_GATE: web.AppKey[RedisGate] = web.AppKey("redis_gate")
TENANT_RESOLVER: web.AppKey[TenantResolver] = web.AppKey("tenant_resolver")
INVALIDATION: web.AppKey[InvalidationSubscriber] = web.AppKey("invalidation")
STORE: web.AppKey[TenantStore] = web.AppKey("store")  # built-in-store mode, one per worker
USAGE: web.AppKey[UsageTable] = web.AppKey("usage")  # the usage ledger's tables (store mode)
LEDGER: web.AppKey[UsageLedger] = web.AppKey("ledger")  # the usage ledger's sink (store mode)
CHANGES: web.AppKey[TenantChanges] = web.AppKey("changes")  # invalidation of a changed tenant
TELEMETRY: web.AppKey[WebhookSink] = web.AppKey("telemetry")
SINK: web.AppKey[UsageSink] = web.AppKey("sink")
# Budgets and limits: RedisQuota with Redis, else LocalQuota (per process).
QUOTA: web.AppKey[QuotaBackend] = web.AppKey("quota")
TENANTS: web.AppKey[TenantSource] = web.AppKey("tenants")
AUTH: web.AppKey[Authenticator] = web.AppKey("auth")
PROXY: web.AppKey[Handler] = web.AppKey("proxy")  # ProxyHandler.handle (proxy.contexts)
READINESS: web.AppKey[list[ReadinessCheck]] = web.AppKey("readiness")
