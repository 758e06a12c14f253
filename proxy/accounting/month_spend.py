"""A tenant's month of spend and reservations, as admission sees them (for the
metering API's `budget` block).

With Redis: the month counters `spend:{t}:YYYY-MM` and `reserved:{t}:YYYY-MM` (one
MGET through the gate; Redis not answering is 503 `budget_unavailable`). Without
Redis: this worker's own counters (`LocalQuota`). Integers of micro-USD.
"""

from __future__ import annotations

from redis.asyncio import Redis

from proxy.accounting.local_quota import LocalQuota
from proxy.accounting.quota import QuotaBackend
from proxy.accounting.redis_quota import reserved_key, spend_key
from proxy.errors import BudgetUnavailableError
from proxy.redis_gate import RedisGate, RedisUnavailable


class MonthSpend:
    def __init__(
        self, quota: QuotaBackend, redis: Redis | None = None, gate: RedisGate | None = None
    ) -> None:
        self._quota = quota
        self._redis = redis if gate is not None else None
        self._gate = gate

    async def read(self, tenant: str, month: str) -> tuple[int, int]:
        """(spent, reserved) in micro-USD for the UTC month `YYYY-MM`."""
        if self._redis is None or self._gate is None:
            local = self._quota if isinstance(self._quota, LocalQuota) else LocalQuota()
            return local.spent_micro(tenant, month), local.reserved_micro(tenant, month)
        redis = self._redis
        keys = (spend_key(tenant, month), reserved_key(tenant, month))
        try:
            spent, reserved = await self._gate.run(lambda: redis.mget(keys), "read month spend")
        except RedisUnavailable:
            raise BudgetUnavailableError(
                "Redis did not answer: the month's spend cannot be read now.", retry_after=1
            ) from None
        return int(spent or 0), int(reserved or 0)
