"""Budgets and limits in Redis, shared by every worker and replica (SPEC 8, 8.1, 15).

Admission is ONE script call per request: `SCRIPT` checks the budget, RPM and TPM
and, only when all three fit, reserves all three atomically. Its keys are tagged by
tenant (`spend:{t}:YYYY-MM`, `reserved:{t}:YYYY-MM`, `rpm:{t}`, `tpm:{t}` and its
running total `tpm:{t}:used`), so a Redis Cluster runs it in one slot. Requests that
arrive together are coalesced: one task sends every reservation queued since its
last round trip in one pipeline (one redis-py call costs 57-70 us of CPU; pipelined,
13-15 us each), so under load a batch grows while the previous one is in flight; the
queued requests of one tenant go in a single call, decided in arrival order.

Settlement is off the request path and rides along: `settle` only adds the request's
estimate to release, its actual cost and its TPM correction to what its tenant owes
Redis (amounts add up, so memory stays per tenant, not per request). The same call
that reserves a tenant's next requests first settles what it owes, so a busy tenant
costs one script call per round trip for both; a tenant with nothing to reserve is
settled within SETTLE_INTERVAL_S. What Redis did not take stays owed and is sent
again; the loop settles everything once more at shutdown (what Redis then refuses
is counted as dropped and logged).

Redis down (the gate: REDIS_TIMEOUT, then shut for a second): BUDGET_FAIL_MODE=open
admits against this process's own counters (`LocalQuota`) and still sends the cost
to the month's spend once Redis is back; `closed` refuses with 503
`budget_unavailable`. Tenants without a budget or limits are never affected.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from redis.exceptions import NoScriptError

from proxy.accounting.local_quota import LocalQuota
from proxy.accounting.quota import WINDOW_S, Reservation, budget_exceeded, rate_limited
from proxy.errors import BudgetUnavailableError
from proxy.redis_gate import RedisClient, RedisGate, RedisUnavailable

log = logging.getLogger("proxy.accounting")

SETTLE_INTERVAL_S = 0.05  # the longest a settlement waits for a reservation to ride on
MAX_CORRECTIONS = 10_000  # TPM corrections kept per tenant while Redis is away

# One call settles what a tenant owes for a month, then reserves its queued requests
# in arrival order. KEYS: spend, reserved, rpm, tpm, tpm used. ARGV: reservation TTL
# s, window ms, micro-USD to release, cost to add, the number of TPM corrections, per
# correction (member reserved, member with the actual tokens, difference in tokens),
# then per request: now_ms, member, budget (-1: none), estimate, rpm (-1), tpm (-1),
# tokens. Reply per request: 0, 0 reserved; 1, 0 budget; 2, wait_ms RPM; 3, wait_ms TPM.
# The TPM window keeps its running total beside it (`tpm used`), so admission costs
# O(log n) in the window's size; only a refusal walks the window for its Retry-After.
SCRIPT = """
local ttl, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local release, cost = tonumber(ARGV[3]), tonumber(ARGV[4])
if release > 0 and redis.call('DECRBY', KEYS[2], release) <= 0 then
  redis.call('DEL', KEYS[2])
end
if cost > 0 then redis.call('INCRBY', KEYS[1], cost) end
local first = 6 + 3 * tonumber(ARGV[5])
for i = 6, first - 1, 3 do
  local at = redis.call('ZSCORE', KEYS[4], ARGV[i])
  if at then
    redis.call('ZREM', KEYS[4], ARGV[i])
    redis.call('ZADD', KEYS[4], at, ARGV[i + 1])
    redis.call('INCRBY', KEYS[5], tonumber(ARGV[i + 2]))
  end
end
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
for i = first, #ARGV, 7 do
  local outcome, wait = reserve(tonumber(ARGV[i]), ARGV[i + 1], tonumber(ARGV[i + 2]),
    tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5]), tonumber(ARGV[i + 6]))
  out[#out + 1] = outcome
  out[#out + 1] = wait
end
return out
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


_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()
_Key = tuple[str, str]  # (tenant, month)


class _Owed:
    """What one tenant's finished requests of one month owe Redis."""

    __slots__ = ("release", "cost", "corrections", "count")

    def __init__(self) -> None:
        self.release = 0
        self.cost = 0
        self.corrections: list[Any] = []  # flat: member reserved, member actual, difference
        self.count = 0

    def add(self, other: _Owed) -> None:
        self.release += other.release
        self.cost += other.cost
        self.corrections += other.corrections[: 3 * MAX_CORRECTIONS - len(self.corrections)]
        self.count += other.count


class RedisQuota:
    """The Redis backend of `QuotaAdmission` (see the module docstring). `run` is the
    app's task; `close` settles what is owed and stops it."""

    def __init__(
        self,
        redis: RedisClient,
        gate: RedisGate,
        *,
        fail_open: bool,
        reservation_ttl: float,
        fallback: LocalQuota | None = None,
        settle_interval: float = SETTLE_INTERVAL_S,
    ) -> None:
        self._redis = redis
        self._gate = gate
        self._fail_open = fail_open
        self._ttl = max(1, round(reservation_ttl))
        self._local = fallback or LocalQuota()
        self._interval = settle_interval
        self._reserving: list[Reservation] = []
        self._owed: dict[_Key, _Owed] = {}
        self._undecided: list[tuple[Reservation, int, int]] = []
        self._due = asyncio.Event()
        self._closing = False
        self._settled_at = 0.0  # loop time of the last cycle that sent everything owed
        self.counters: dict[str, int] = {
            "admitted_locally": 0,  # Redis down, BUDGET_FAIL_MODE=open
            "refused_unavailable": 0,  # Redis down, BUDGET_FAIL_MODE=closed
            "settle_retried": 0,
            "settle_dropped": 0,
        }

    @property
    def local(self) -> LocalQuota:
        return self._local

    def reserve(self, reservation: Reservation) -> None:
        reservation.decided = asyncio.get_running_loop().create_future()
        self._reserving.append(reservation)
        self._due.set()

    def settle(self, reservation: Reservation, cost_micro: int, tokens: int) -> None:
        r = reservation
        if r.state == Reservation.PENDING:  # cancelled while its reservation was in flight
            self._undecided.append((r, cost_micro, tokens))
            return
        if r.state == Reservation.REFUSED:
            return
        if r.budget_micro is None:
            cost_micro = 0  # the month's spend is kept for tenants with a budget
        release, correct = r.estimate_micro, r.tpm is not None and tokens != r.tpm_tokens
        if r.state == Reservation.LOCAL:
            self._local.settle(r, cost_micro, tokens)
            release, correct = 0, False  # Redis holds nothing; it still gets the cost
        if not (release or cost_micro or correct):
            return
        owed = self._owed.get((r.tenant, r.month))
        if owed is None:
            owed = self._owed[r.tenant, r.month] = _Owed()
        owed.release += release
        owed.cost += cost_micro
        owed.count += 1
        if correct and len(owed.corrections) < 3 * MAX_CORRECTIONS:
            owed.corrections += (
                f"{r.member}:{r.tpm_tokens}",
                f"{r.member}:{tokens}",
                tokens - r.tpm_tokens,
            )

    async def run(self) -> None:
        """Reserve what is queued, settle what is owed; until closed and settled."""
        while True:
            if self._closing:
                if not await self.flush():
                    self._drop_owed("shutting down with Redis unavailable")
                return
            loop = asyncio.get_running_loop()
            due = self._settled_at + self._interval  # everything owed is sent by then
            if not self._reserving:
                try:
                    async with asyncio.timeout_at(due if self._owed else None):
                        await self._due.wait()
                except TimeoutError:
                    pass
            self._due.clear()
            settle_all = loop.time() >= due
            if settle_all:
                self._settled_at = loop.time()
            await self._cycle(settle_all)

    async def flush(self) -> bool:
        """Reserve and settle everything queued now; False when Redis did not take it."""
        for _ in range(3):  # a request cancelled mid-reservation settles one cycle later
            if not await self._cycle(settle_all=True):
                return False
            if not (self._reserving or self._owed or self._undecided):
                break
        return True

    async def close(self, task: asyncio.Task[Any]) -> None:
        """Stop after settling what is owed (in-flight requests have finished)."""
        self._closing = True
        self._due.set()
        await asyncio.wait([task])

    async def _cycle(self, settle_all: bool) -> bool:
        batch, self._reserving = self._reserving, []
        groups: dict[_Key, list[Reservation]] = {}
        for r in batch:
            groups.setdefault((r.tenant, r.month), []).append(r)
        keys = list(groups)
        keys += [k for k in self._owed if k not in groups] if settle_all else []
        owed = {k: self._owed.pop(k) for k in keys if k in self._owed}
        calls = [_call(k, owed.get(k), groups.get(k, ()), self._ttl) for k in keys]
        try:
            replies = await self._gate.run(lambda: self._send(calls), "budget") if calls else []
        except RedisUnavailable:
            replies = [None] * len(calls)
        except BaseException:  # cancelled mid-flight: Redis may hold them; settle them
            for r in batch:
                if r.state == Reservation.PENDING:
                    r.grant(Reservation.GRANTED)
            for key, o in owed.items():
                self._owed.setdefault(key, _Owed()).add(o)
            raise
        delivered = True
        for key, reply in zip(keys, replies, strict=True):
            delivered &= self._apply(key, reply, owed.get(key), groups.get(key, ()))
        undecided, self._undecided = self._undecided, []
        for r, cost_micro, tokens in undecided:
            self.settle(r, cost_micro, tokens)
        return delivered

    def _apply(
        self, key: _Key, reply: Any, owed: _Owed | None, group: Sequence[Reservation]
    ) -> bool:
        if isinstance(reply, list):
            for i, r in enumerate(group):
                _decide(r, int(reply[2 * i]), int(reply[2 * i + 1]))
            return True
        if reply is not None:
            log.error("budget script failed", extra={"error": repr(reply)})
        for r in group:
            self._unavailable(r)
        if owed is not None:
            if reply is None:  # Redis away: owed still, sent again with the next call
                self.counters["settle_retried"] += owed.count
                self._owed.setdefault(key, _Owed()).add(owed)
            else:
                self._drop(owed.count, "budget script failed")
        return reply is not None

    def _unavailable(self, r: Reservation) -> None:
        if r.state != Reservation.PENDING:
            return
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

    def _drop_owed(self, why: str) -> None:
        owed, self._owed = self._owed, {}
        self._drop(sum(o.count for o in owed.values()), why)

    def _drop(self, n: int, why: str) -> None:
        if n:
            self.counters["settle_dropped"] += n
            log.error("budget settlements dropped", extra={"count": n, "reason": why})

    async def _send(self, calls: Sequence[Sequence[Any]]) -> list[Any]:
        """One pipeline of EVALSHAs; the script is loaded (once) if Redis lacks it."""
        replies = await self._pipeline(calls)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            await self._redis.script_load(SCRIPT)
            again = await self._pipeline([calls[i] for i in missing])
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        return replies

    async def _pipeline(self, calls: Sequence[Sequence[Any]]) -> list[Any]:
        pipe = self._redis.pipeline(transaction=False)
        for call in calls:
            # Not pipe.evalsha: redis-py blocks that name in a cluster pipeline; the
            # command itself is routed by its keys (one slot: they share the tenant's
            # tag), and the pipeline sends each node its share at once.
            pipe.execute_command("EVALSHA", _SHA, *call)
        return list(await pipe.execute(raise_on_error=False))


def _call(key: _Key, owed: _Owed | None, group: Sequence[Reservation], ttl: int) -> list[Any]:
    tenant, month = key
    call: list[Any] = [
        5,
        spend_key(tenant, month),
        reserved_key(tenant, month),
        rpm_key(tenant),
        tpm_key(tenant),
        tpm_used_key(tenant),
        ttl,
        round(WINDOW_S * 1000),
    ]
    if owed is None:
        call += (0, 0, 0)
    else:
        call += (owed.release, owed.cost, len(owed.corrections) // 3, *owed.corrections)
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


def _decide(r: Reservation, outcome: int, wait_ms: int) -> None:
    if outcome == 0:
        r.grant(Reservation.GRANTED)
    elif outcome == 1:
        r.refuse(budget_exceeded(r.at))
    else:
        which = "requests-per-minute" if outcome == 2 else "tokens-per-minute"
        r.refuse(rate_limited(which, wait_ms / 1000))
