"""The budget-and-limits Lua script, its keys and its calls (SPEC 8.1).

One EVALSHA of `SCRIPT` settles what a tenant owes for a month, then checks and
reserves its queued requests (budget, RPM and TPM at once) in arrival order. Its keys
are tagged by tenant (`spend:{t}:YYYY-MM`, `reserved:{t}:YYYY-MM`, `rpm:{t}`,
`tpm:{t}` and its running total `tpm:{t}:used`), so a Redis Cluster runs it in one
slot. `script_call` lays out one call's keys and arguments, `decide` applies one
request's reply to its `Reservation`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from proxy.accounting.owed import Owed
from proxy.accounting.quota import WINDOW_S, Reservation, budget_exceeded, rate_limited

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


SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()


def script_call(
    tenant: str, month: str, owed: Owed | None, group: Sequence[Reservation], ttl: int
) -> list[Any]:
    """The EVALSHA arguments after the sha: key count, keys, then ARGV (see SCRIPT)."""
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


def decide(r: Reservation, outcome: int, wait_ms: int) -> None:
    """Grant or refuse one request from its two numbers of the script's reply."""
    if outcome == 0:
        r.grant(Reservation.GRANTED)
    elif outcome == 1:
        r.refuse(budget_exceeded(r.at))
    else:
        which = "requests-per-minute" if outcome == 2 else "tokens-per-minute"
        r.refuse(rate_limited(which, wait_ms / 1000))
