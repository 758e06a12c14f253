"""Budgets and limits in Redis, shared by every worker and replica (SPEC 8, 8.1, 15).

Admission is ONE script call per request: `RESERVE` checks the budget, RPM and TPM
and, only when all three fit, reserves all three atomically. Its keys are tagged by
tenant (`spend:{t}:YYYY-MM`, `reserved:{t}:YYYY-MM`, `rpm:{t}`, `tpm:{t}` and its
running total `tpm:{t}:used`), so a Redis Cluster runs it in one slot. Requests that
arrive together are coalesced: one task sends every reservation queued since its
last round trip in one pipeline (one redis-py call costs 57-70 us of CPU; pipelined,
13-15 us each), so under load a batch grows while the previous one is in flight; the
queued requests of one tenant go in a single call, decided in arrival order.

Settlement is off the request path and batched the same way: `settle` only queues;
a second task sends `SETTLE` calls, one per tenant and month in a batch (release the
estimates, add the actual costs to the month's spend, correct the TPM entries to the
actual tokens), in pipelines. What Redis
did not take is retried (bounded buffer; what overflows is counted as dropped) and
flushed once more at shutdown.

Redis down (the gate: REDIS_TIMEOUT, then shut for a second): BUDGET_FAIL_MODE=open
admits against this process's own counters (`LocalQuota`) and still sends the cost
to the month's spend once Redis is back; `closed` refuses with 503
`budget_unavailable`. Tenants without a budget or limits are never affected.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from proxy.accounting.local_quota import LocalQuota
from proxy.accounting.quota import WINDOW_S, Reservation, budget_exceeded, rate_limited
from proxy.cache.redis_client import RedisGate, RedisUnavailable
from proxy.errors import BudgetUnavailableError

log = logging.getLogger("proxy.accounting")

_T = TypeVar("_T")
RETRY_S = 1.0  # the gate's cooldown: a failed settlement batch is tried again after it
SETTLE_BUFFER = 100_000  # settlements kept for retry while Redis is down

# One call reserves every queued request of one tenant and month, in order.
# KEYS: spend, reserved, rpm, tpm, tpm used. ARGV: reservation TTL s, window ms, then
# per request: now_ms, member, budget (-1: none), estimate, rpm (-1), tpm (-1), tokens.
# Reply per request: 0, 0 reserved; 1, 0 budget; 2, wait_ms RPM; 3, wait_ms TPM.
# The TPM window keeps its running total beside it (`tpm used`), so admission costs
# O(log n) in the window's size; only a refusal walks the window for its Retry-After.
RESERVE = """
local ttl, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local function tokens_of(entry) return tonumber(string.match(entry, ':(%d+)$')) end
local function reserve(now, member, budget, estimate, rpm, tpm, tokens)
  local oldest = now - window
  if budget >= 0 then
    local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
    local reserved = tonumber(redis.call('GET', KEYS[2]) or '0')
    if budget == 0 or spent + reserved + estimate > budget then return 1, 0 end
  end
  if rpm >= 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', oldest)
    local used = redis.call('ZCARD', KEYS[3])
    if used + 1 > rpm then
      if rpm == 0 then return 2, window end
      local entry = redis.call('ZRANGE', KEYS[3], used - rpm, used - rpm, 'WITHSCORES')
      return 2, tonumber(entry[2]) + window - now
    end
  end
  if tpm >= 0 then
    local used = tonumber(redis.call('GET', KEYS[5]) or '0')
    local gone = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', oldest)
    if #gone > 0 then
      for i = 1, #gone do used = used - tokens_of(gone[i]) end
      if used < 0 then used = 0 end
      redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', oldest)
      redis.call('SET', KEYS[5], used, 'PX', window)
    end
    if used + tokens > tpm then
      if tokens > tpm then return 3, window end
      local entries = redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')
      for i = 1, #entries, 2 do
        used = used - tokens_of(entries[i])
        if used + tokens <= tpm then return 3, tonumber(entries[i + 1]) + window - now end
      end
      return 3, window
    end
  end
  if budget >= 0 and estimate > 0 then
    redis.call('INCRBY', KEYS[2], estimate)
    redis.call('EXPIRE', KEYS[2], ttl)
  end
  if rpm >= 0 then
    redis.call('ZADD', KEYS[3], now, member)
    redis.call('PEXPIRE', KEYS[3], window)
  end
  if tpm >= 0 then
    redis.call('ZADD', KEYS[4], now, member .. ':' .. tokens)
    redis.call('INCRBY', KEYS[5], tokens)
    redis.call('PEXPIRE', KEYS[4], window)
    redis.call('PEXPIRE', KEYS[5], window)
  end
  return 0, 0
end
local out = {}
for i = 3, #ARGV, 7 do
  local outcome, wait = reserve(tonumber(ARGV[i]), ARGV[i + 1], tonumber(ARGV[i + 2]),
    tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5]), tonumber(ARGV[i + 6]))
  out[#out + 1] = outcome
  out[#out + 1] = wait
end
return out
"""

# One call settles every queued request of one tenant and month.
# KEYS: spend, reserved, tpm, tpm used. ARGV: the micro-USD to release, the cost to
# add, then per TPM correction: the member reserved, the member with the actual
# tokens, the difference in tokens.
SETTLE = """
local release, cost = tonumber(ARGV[1]), tonumber(ARGV[2])
if release > 0 and redis.call('DECRBY', KEYS[2], release) <= 0 then
  redis.call('DEL', KEYS[2])
end
if cost > 0 then redis.call('INCRBY', KEYS[1], cost) end
for i = 3, #ARGV, 3 do
  local at = redis.call('ZSCORE', KEYS[3], ARGV[i])
  if at then
    redis.call('ZREM', KEYS[3], ARGV[i])
    redis.call('ZADD', KEYS[3], at, ARGV[i + 1])
    redis.call('INCRBY', KEYS[4], tonumber(ARGV[i + 2]))
  end
end
return 1
"""


def spend_key(tenant: str, month: str) -> str:
    return f"spend:{{{tenant}}}:{month}"


def reserved_key(tenant: str, month: str) -> str:
    return f"reserved:{{{tenant}}}:{month}"


def rpm_key(tenant: str) -> str:
    return f"rpm:{{{tenant}}}"


def tpm_key(tenant: str) -> str:
    return f"tpm:{{{tenant}}}"


def tpm_used_key(tenant: str) -> str:
    return f"tpm:{{{tenant}}}:used"


class _Script:
    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()


_RESERVE, _SETTLE = _Script(RESERVE), _Script(SETTLE)
# A settlement: the reservation, the micro-USD it releases, the actual cost, the
# actual tokens, and whether its TPM entry is corrected.
_Settling = tuple[Reservation, int, int, int, bool]


class RedisQuota:
    """The Redis backend of `QuotaAdmission` (see the module docstring). Its two loops,
    `run_admission` and `run_settlement`, are the app's tasks; `close` flushes."""

    def __init__(
        self,
        redis: Redis,
        gate: RedisGate,
        *,
        fail_open: bool,
        reservation_ttl: float,
        fallback: LocalQuota | None = None,
        settle_buffer: int = SETTLE_BUFFER,
        retry_s: float = RETRY_S,
    ) -> None:
        self._redis = redis
        self._gate = gate
        self._fail_open = fail_open
        self._ttl = max(1, round(reservation_ttl))
        self._local = fallback or LocalQuota()
        self._buffer = settle_buffer
        self._retry_s = retry_s
        self._reserving: list[Reservation] = []
        self._settling: list[_Settling] = []
        self._reserve_due = asyncio.Event()
        self._settle_due = asyncio.Event()
        self._closing = False
        self.counters: dict[str, int] = {
            "admitted_locally": 0,  # Redis down, BUDGET_FAIL_MODE=open
            "refused_unavailable": 0,  # Redis down, BUDGET_FAIL_MODE=closed
            "settle_retried": 0,
            "settle_dropped": 0,
        }

    # -- admission --------------------------------------------------------------

    def reserve(self, reservation: Reservation) -> None:
        reservation.decided = asyncio.get_running_loop().create_future()
        self._reserving.append(reservation)
        self._reserve_due.set()

    async def run_admission(self) -> None:
        while True:
            await self._reserve_due.wait()
            self._reserve_due.clear()
            batch, self._reserving = self._reserving, []
            try:
                await self._reserve_batch(batch)
            finally:
                # Cancelled mid-flight: Redis may hold them, so settlement releases them.
                for r in batch:
                    if r.state == Reservation.PENDING:
                        r.grant(Reservation.GRANTED)

    async def _reserve_batch(self, batch: Sequence[Reservation]) -> None:
        groups = _by_tenant(batch, lambda r: r)
        calls = [_reserve_call(group, self._ttl) for group in groups]
        try:
            replies = await self._gate.run(lambda: self._send(_RESERVE, calls), "budget reserve")
        except RedisUnavailable:
            replies = [None] * len(groups)
        for group, reply in zip(groups, replies, strict=True):
            if isinstance(reply, list):
                for i, r in enumerate(group):
                    _decide(r, int(reply[2 * i]), int(reply[2 * i + 1]))
                continue
            if reply is not None:
                log.error("budget script failed", extra={"error": repr(reply)})
            for r in group:
                self._unavailable(r)

    def _unavailable(self, r: Reservation) -> None:
        if self._fail_open:
            self.counters["admitted_locally"] += 1
            self._local.reserve(r)
        else:
            self.counters["refused_unavailable"] += 1
            r.refuse(
                BudgetUnavailableError(
                    "Budgets and rate limits cannot be checked right now.", retry_after=1
                )
            )

    # -- settlement -------------------------------------------------------------

    def settle(self, reservation: Reservation, cost_micro: int, tokens: int) -> None:
        r = reservation
        if r.state == Reservation.REFUSED:
            return
        if r.budget_micro is None:
            cost_micro = 0  # the month's spend is kept for tenants with a budget
        if r.state == Reservation.LOCAL:
            self._local.settle(r, cost_micro, tokens)
            if cost_micro:  # the month's spend in Redis stays the truth
                self._queue((r, 0, cost_micro, tokens, False))
            return
        correct = r.tpm is not None and tokens != r.tpm_tokens
        if r.state == Reservation.PENDING or r.estimate_micro or cost_micro or correct:
            self._queue((r, r.estimate_micro, cost_micro, tokens, correct))

    def _queue(self, item: _Settling) -> None:
        self._settling.append(item)
        self._settle_due.set()

    async def run_settlement(self) -> None:
        while not (self._closing and not self._settling):
            if not self._settling or self._closing:
                await self._settle_due.wait()
            else:  # a failed batch waits for the gate, or for more work
                try:
                    await asyncio.wait_for(self._settle_due.wait(), self._retry_s)
                except TimeoutError:
                    pass
            self._settle_due.clear()
            delivered = await self.flush()
            if self._closing and not delivered:
                self._drop(len(self._settling), "shutting down with Redis unavailable")
                self._settling = []

    async def flush(self) -> bool:
        """Send every queued settlement once; False when Redis did not take them."""
        batch, self._settling = self._settling, []
        if not batch:
            return True
        for r, *_ in batch:
            if r.state == Reservation.PENDING:
                await r.decided  # its admission batch is in flight: decided soon
        sent = [item for item in batch if item[0].state != Reservation.REFUSED]
        calls = [_settle_call(group) for group in _by_tenant(sent, lambda item: item[0])]
        try:
            replies = await self._gate.run(lambda: self._send(_SETTLE, calls), "budget settle")
        except RedisUnavailable:
            self.counters["settle_retried"] += len(sent)
            self._settling[:0] = sent
            if len(self._settling) > self._buffer:
                excess = len(self._settling) - self._buffer
                del self._settling[:excess]
                self._drop(excess, "settlement buffer full")
            return False
        for reply in replies:
            if isinstance(reply, Exception):
                self._drop(1, repr(reply))
        return True

    def _drop(self, n: int, why: str) -> None:
        if n:
            self.counters["settle_dropped"] += n
            log.error("budget settlements dropped", extra={"count": n, "reason": why})

    async def close(self, settler: asyncio.Task[Any]) -> None:
        """Stop after one last flush (in-flight requests have finished)."""
        self._closing = True
        self._settle_due.set()
        await asyncio.wait([settler])

    # -- the pipeline ---------------------------------------------------------------

    async def _send(self, script: _Script, calls: Sequence[Sequence[Any]]) -> list[Any]:
        """One pipeline of EVALSHAs; the script is loaded (once) if Redis lacks it."""
        replies = await self._pipeline(script, calls)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            await self._redis.script_load(script.text)
            again = await self._pipeline(script, [calls[i] for i in missing])
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        return replies

    async def _pipeline(self, script: _Script, calls: Sequence[Sequence[Any]]) -> list[Any]:
        pipe = self._redis.pipeline(transaction=False)
        for call in calls:
            pipe.evalsha(script.sha, *call)
        return list(await pipe.execute(raise_on_error=False))

    @property
    def local(self) -> LocalQuota:
        return self._local


def _by_tenant(items: Sequence[_T], reservation: Callable[[_T], Reservation]) -> list[list[_T]]:
    """Items grouped by their reservation's tenant and month, in order: one script call
    each (keys of one tenant share a Cluster slot; several tenants' cannot)."""
    groups: dict[tuple[str, str], list[_T]] = {}
    for item in items:
        r = reservation(item)
        groups.setdefault((r.tenant, r.month), []).append(item)
    return list(groups.values())


def _reserve_call(group: Sequence[Reservation], ttl: int) -> list[Any]:
    first = group[0]
    call: list[Any] = [
        5,
        spend_key(first.tenant, first.month),
        reserved_key(first.tenant, first.month),
        rpm_key(first.tenant),
        tpm_key(first.tenant),
        tpm_used_key(first.tenant),
        ttl,
        round(WINDOW_S * 1000),
    ]
    for r in group:
        call += (
            round(r.at * 1000),
            r.member,
            -1 if r.budget_micro is None else r.budget_micro,
            r.estimate_micro,
            -1 if r.rpm is None else r.rpm,
            -1 if r.tpm is None else r.tpm,
            r.tpm_tokens,
        )
    return call


def _settle_call(group: Sequence[_Settling]) -> list[Any]:
    first = group[0][0]
    corrections: list[Any] = []
    for r, _, _, tokens, correct in group:
        if correct:
            corrections += (
                f"{r.member}:{r.tpm_tokens}",
                f"{r.member}:{tokens}",
                tokens - r.tpm_tokens,
            )
    return [
        4,
        spend_key(first.tenant, first.month),
        reserved_key(first.tenant, first.month),
        tpm_key(first.tenant),
        tpm_used_key(first.tenant),
        sum(item[1] for item in group),
        sum(item[2] for item in group),
        *corrections,
    ]


def _decide(r: Reservation, outcome: int, wait_ms: int) -> None:
    if outcome == 0:
        r.grant(Reservation.GRANTED)
    elif outcome == 1:
        r.refuse(budget_exceeded(r.at))
    else:
        which = "requests-per-minute" if outcome == 2 else "tokens-per-minute"
        r.refuse(rate_limited(which, wait_ms / 1000))
