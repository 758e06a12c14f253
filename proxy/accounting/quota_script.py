"""The budget-and-limits Lua script, its keys and its calls (SPEC 8.1).

One EVALSHA of `SCRIPT` settles what a tenant owes for a month, then checks and
reserves its queued requests (budget, RPM and TPM at once) in arrival order. Its keys
are tagged by tenant (`spend:{t}:YYYY-MM`, `reserved:{t}:YYYY-MM`, `rpm:{t}`,
`tpm:{t}` and its running total `tpm:{t}:used`), so a Redis Cluster runs it in one
slot. `script_call` lays out one call's keys and arguments; `CallHeads.pack` writes
the same call straight as RESP (`Packed`), with the constant head of each tenant's
calls and each set of a request's limits encoded once; `decide` applies one
request's reply to its `Reservation`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from proxy.accounting.owed import Owed
from proxy.accounting.quota import WINDOW_S, Reservation, budget_exceeded, rate_limited
from proxy.accounting.script_pipeline import HEADS, Packed, Prefix, bulk

# One call settles what a tenant owes for a month, then reserves its queued requests
# in arrival order. KEYS: spend, reserved, rpm, tpm, tpm used. ARGV: reservation TTL
# s, window ms, micro-USD to release, cost to add, the number of TPM corrections, per
# correction (the request's now_ms, member, tokens reserved, actual tokens), then per
# request: now_ms, member, budget (-1: none), estimate, rpm (-1), tpm (-1), tokens.
# Reply per request: 0, 0 reserved; 1, 0 budget; 2, wait_ms RPM; 3, wait_ms TPM.
# The TPM window keeps its running total beside it (`tpm used`), so admission costs
# O(log n) in the window's size; only a refusal walks the window for its Retry-After.
# Each redis.call costs Redis about a microsecond, the script's main cost: spend,
# reserved and the TPM total are read in one MGET and kept in locals, reserved and the
# total written once per call (SET with the TTL a reservation refreshes, KEEPTTL when
# only released or corrected), each window's TTL refreshed once per call, and a
# correction moves its entry by the score the gateway sent rather than one read back.
SCRIPT = """
-- A number handed to redis.call is formatted (%.17g), slower than the call itself:
-- what passes through unchanged is handed on as the ARGV string it came as.
local ttl, window = ARGV[1], tonumber(ARGV[2])
-- So a whole number the script computed is handed on as a string written with '%d':
-- the digits %.17g would write, without its costly float formatting.
local function whole(x)
  if x == math.floor(x) and x > -2^53 and x < 2^53 then return string.format('%d', x) end
  return x
end
local release, cost = tonumber(ARGV[3]), tonumber(ARGV[4])
-- spend, reserved and the TPM total are read once, when first needed, and kept here;
-- reserved and the TPM total are written once, at the end.
local spent, reserved, used
local function load()
  if spent == nil then
    local v = redis.call('MGET', KEYS[1], KEYS[2], KEYS[5])
    spent, reserved, used = tonumber(v[1] or '0'), tonumber(v[2] or '0'), tonumber(v[3] or '0')
  end
end
if release > 0 then
  load()
  reserved = reserved - release
  if reserved < 0 then reserved = 0 end
end
if cost > 0 then
  local total = redis.call('INCRBY', KEYS[1], ARGV[4])
  if spent ~= nil then spent = total end
end
local corrected = false
local first = 6 + 4 * tonumber(ARGV[5])
for i = 6, first - 1, 4 do
  local member = ARGV[i + 1]
  if redis.call('ZREM', KEYS[4], member .. ':' .. ARGV[i + 2]) == 1 then
    redis.call('ZADD', KEYS[4], ARGV[i], member .. ':' .. ARGV[i + 3])
    load()
    used = used + tonumber(ARGV[i + 3]) - tonumber(ARGV[i + 2])
    corrected = true
  end
end
local reserving, rpm_added, tpm_added, tpm_refreshed = false, false, false, false
local rpm_used -- the RPM window's size, once counted
local function tokens_of(entry) return tonumber(string.match(entry, ':(%d+)$')) end
local function reserve(i, now, member, budget, estimate, rpm, tpm, tokens)
  local oldest = whole(now - window)
  if budget >= 0 then
    load()
    if budget == 0 or spent + reserved + estimate > budget then return 1, 0 end
  end
  if rpm >= 0 then
    local gone = redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', oldest)
    if rpm_used == nil then
      rpm_used = redis.call('ZCARD', KEYS[3])
    else
      rpm_used = rpm_used - gone
    end
    if rpm_used + 1 > rpm then
      if rpm == 0 then return 2, window end
      local entry = redis.call('ZRANGE', KEYS[3], rpm_used - rpm, rpm_used - rpm, 'WITHSCORES')
      return 2, tonumber(entry[2]) + window - now
    end
  end
  if tpm >= 0 then
    load()
    local gone = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', oldest)
    if #gone > 0 then
      for i = 1, #gone do used = used - tokens_of(gone[i]) end
      if used < 0 then used = 0 end
      redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', oldest)
      tpm_refreshed = true
    end
    if used + tokens > tpm then
      if tokens > tpm then return 3, window end
      local left = used
      local entries = redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')
      for j = 1, #entries, 2 do
        left = left - tokens_of(entries[j])
        if left + tokens <= tpm then return 3, tonumber(entries[j + 1]) + window - now end
      end
      return 3, window
    end
  end
  if budget >= 0 and estimate > 0 then
    reserved = reserved + estimate
    reserving = true
  end
  if rpm >= 0 then
    rpm_used = rpm_used + redis.call('ZADD', KEYS[3], ARGV[i], member)
    rpm_added = true
  end
  if tpm >= 0 then
    redis.call('ZADD', KEYS[4], ARGV[i], member .. ':' .. ARGV[i + 6])
    used = used + tokens
    tpm_added, tpm_refreshed = true, true
  end
  return 0, 0
end
local out = {}
for i = first, #ARGV, 7 do
  local outcome, wait = reserve(i, tonumber(ARGV[i]), ARGV[i + 1], tonumber(ARGV[i + 2]),
    tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5]), tonumber(ARGV[i + 6]))
  out[#out + 1] = outcome
  out[#out + 1] = wait
end
-- Each reservation refreshes the reserved key's TTL; a release alone keeps it.
if reserving then
  redis.call('SET', KEYS[2], whole(reserved), 'EX', ttl)
elseif release > 0 then
  if reserved > 0 then
    redis.call('SET', KEYS[2], whole(reserved), 'KEEPTTL')
  else
    redis.call('DEL', KEYS[2])
  end
end
if rpm_added then redis.call('PEXPIRE', KEYS[3], ARGV[2]) end
if tpm_added then redis.call('PEXPIRE', KEYS[4], ARGV[2]) end
-- The TPM total lives as long as its window; a correction alone keeps its TTL.
if tpm_refreshed then
  redis.call('SET', KEYS[5], whole(used), 'PX', ARGV[2])
elseif corrected then
  redis.call('SET', KEYS[5], whole(used), 'KEEPTTL')
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
    call = script_args(None, owed, group)
    call[:1] = head_args(tenant, month, ttl)
    return call


def head_args(tenant: str, month: str, ttl: int) -> list[Any]:
    """What every call of a tenant's month starts with: key count, keys, TTL, window."""
    return [
        5,
        spend_key(tenant, month),
        reserved_key(tenant, month),
        rpm_key(tenant),
        tpm_key(tenant),
        tpm_used_key(tenant),
        ttl,
        round(WINDOW_S * 1000),
    ]


def script_args(head: Any, owed: Owed | None, group: Sequence[Reservation]) -> list[Any]:
    """`head` (what stands for `head_args`), what is owed, then each request in order."""
    if owed is None:
        call: list[Any] = [head, 0, 0, 0]
    else:
        call = [head, owed.release, owed.cost, len(owed.corrections) // 4, *owed.corrections]
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


class CallHeads:
    """Each tenant-month's `head_args`, written as RESP once (`Prefix`) and reused by
    every call, and each set of a request's limits (budget, RPM, TPM: the tenant's) as
    RESP; at most MAX_HEADS of each are kept, then they are made afresh."""

    MAX_HEADS = 4096

    def __init__(self, ttl: int) -> None:
        self._ttl = ttl
        self._heads: dict[tuple[str, str], Prefix] = {}
        self._limits: dict[tuple[int | None, int | None, int | None], tuple[str, str]] = {}

    def of(self, tenant: str, month: str) -> Prefix:
        head = self._heads.get((tenant, month))
        if head is None:
            if len(self._heads) >= self.MAX_HEADS:
                self._heads.clear()
            head = self._heads[tenant, month] = Prefix(head_args(tenant, month, self._ttl))
        return head

    def pack(
        self, tenant: str, month: str, owed: Owed | None, group: Sequence[Reservation]
    ) -> Packed:
        """The call `script_args` lays out, written as RESP (the same bytes)."""
        head = self._heads.get((tenant, month)) or self.of(tenant, month)
        count = len(head.args) + 3 + 7 * len(group)
        if owed is None:
            parts = [head.resp, "\r\n$1\r\n0\r\n$1\r\n0\r\n$1\r\n0"]
        else:
            fixes = owed.corrections
            n = len(fixes) // 4
            release, cost, fixed = str(owed.release), str(owed.cost), str(n)
            parts = [
                head.resp, HEADS[len(release)], release, HEADS[len(cost)], cost,
                HEADS[len(fixed)], fixed,
            ]  # fmt: skip
            for i in range(0, 4 * n, 4):
                at, member, held, used = fixes[i : i + 4]
                at, held, used = str(at), str(held), str(used)
                parts += (
                    HEADS[len(at)], at, bulk(member), HEADS[len(held)], held,
                    HEADS[len(used)], used,
                )  # fmt: skip
            count += len(fixes)
        limits = self._limits
        for r in group:
            terms = limits.get((r.budget_micro, r.rpm, r.tpm)) or self._terms(r)
            at, estimate, tokens = str(round(r.at * 1000)), str(r.estimate_micro), str(r.tpm_tokens)
            parts += (
                HEADS[len(at)], at, bulk(r.member), terms[0], HEADS[len(estimate)], estimate,
                terms[1], HEADS[len(tokens)], tokens,
            )  # fmt: skip
        return Packed(count, "".join(parts), lambda: script_args(head, owed, group))

    def _terms(self, r: Reservation) -> tuple[str, str]:
        """A request's budget, then its RPM and TPM limits, as RESP (-1: none)."""
        if len(self._limits) >= self.MAX_HEADS:
            self._limits.clear()
        terms = self._limits[r.budget_micro, r.rpm, r.tpm] = (
            bulk(-1 if r.budget_micro is None else r.budget_micro),
            bulk(-1 if r.rpm is None else r.rpm) + bulk(-1 if r.tpm is None else r.tpm),
        )
        return terms


def decide(r: Reservation, outcome: int, wait_ms: int) -> None:
    """Grant or refuse one request from its two numbers of the script's reply."""
    if outcome == 0:
        r.grant(Reservation.GRANTED)
    elif outcome == 1:
        r.refuse(budget_exceeded(r.at))
    else:
        which = "requests-per-minute" if outcome == 2 else "tokens-per-minute"
        r.refuse(rate_limited(which, wait_ms / 1000))
