"""Budgets and limits in Redis, shared by every worker and replica (SPEC 8, 8.1, 15).

Admission is ONE script call per request (`quota_script.SCRIPT`: budget, RPM and TPM
checked and, only when all three fit, reserved atomically). Requests that arrive
together are coalesced: one task sends every reservation queued since its last round
trip in one pipeline (`script_pipeline.ScriptPipeline`), so under load a batch grows
while the previous one is in flight; the queued requests of one tenant go in a single
call, decided in arrival order.

Settlement is off the request path and rides along: `settle` only adds the request's
estimate to release, its actual cost and its TPM correction to what its tenant owes
Redis (`owed.Owed`). The same call that reserves a tenant's next requests first
settles what it owes, so a busy tenant costs one script call per round trip for both;
a tenant with nothing to reserve is settled within SETTLE_INTERVAL_S. What Redis did
not take stays owed and is sent again; the loop settles everything once more at
shutdown (what Redis then refuses is counted as dropped and logged).

Redis down (the gate: REDIS_TIMEOUT, then shut for a second): BUDGET_FAIL_MODE=open
admits against this process's own counters (`LocalQuota`) and still sends the cost
to the month's spend once Redis is back; `closed` refuses with 503
`budget_unavailable`. Tenants without a budget or limits are never affected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from proxy.accounting.local_quota import LocalQuota
from proxy.accounting.owed import Owed
from proxy.accounting.quota import Reservation
from proxy.accounting.quota_script import SCRIPT, SCRIPT_SHA, CallHeads, decide
from proxy.accounting.script_pipeline import ScriptPipeline
from proxy.errors import BudgetUnavailableError
from proxy.redis_gate import RedisClient, RedisGate, RedisUnavailable

log = logging.getLogger("proxy.accounting")

SETTLE_INTERVAL_S = 0.05  # the longest a settlement waits for a reservation to ride on
_Key = tuple[str, str]  # (tenant, month)


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
        self._scripts = ScriptPipeline(redis, SCRIPT, SCRIPT_SHA)
        self._gate = gate
        self._fail_open = fail_open
        self._heads = CallHeads(max(1, round(reservation_ttl)))
        self._local = fallback or LocalQuota()
        self._interval = settle_interval
        self._reserving: list[Reservation] = []
        self._owed: dict[_Key, Owed] = {}
        self._undecided: list[tuple[Reservation, int, int]] = []
        self._due = False  # the loop has work: a reservation, a deadline, closing
        self._wakeup: asyncio.Future[None] | None = None  # what the idle loop awaits
        self._deadline: asyncio.TimerHandle | None = None  # wakes the loop to settle
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
        if not self._due:
            self._wake()

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
            owed = self._owed[r.tenant, r.month] = Owed()
            if self._deadline is None:
                self._settle_by_deadline()
        owed.owe(
            release,
            cost_micro,
            (round(r.at * 1000), r.member, r.tpm_tokens, tokens) if correct else None,
        )

    async def run(self) -> None:
        """Reserve what is queued, settle what is owed; until closed and settled."""
        loop = asyncio.get_running_loop()
        while True:
            if self._closing:
                if self._deadline is not None:
                    self._deadline.cancel()
                if not await self.flush():
                    self._drop_owed("shutting down with Redis unavailable")
                return
            if not self._due:  # await a reservation, or the deadline of what is owed
                self._wakeup = loop.create_future()
                await self._wakeup
            self._due = False
            settle_all = loop.time() >= self._settled_at + self._interval
            if settle_all:
                self._settled_at = loop.time()
            await self._cycle(settle_all)
            if self._owed and self._deadline is None:
                self._settle_by_deadline()

    def _settle_by_deadline(self) -> None:
        """Wake the loop when everything owed is due (one timer, not a wake per
        settlement: at one request at a time, a settlement rides on the next call)."""
        self._deadline = asyncio.get_running_loop().call_at(
            self._settled_at + self._interval, self._wake_to_settle
        )

    def _wake_to_settle(self) -> None:
        self._deadline = None
        self._wake()

    def _wake(self) -> None:
        """Give the loop work: `_due` set, and the idle loop's future resolved (the one
        place either happens; lighter than an asyncio.Event)."""
        self._due = True
        wakeup, self._wakeup = self._wakeup, None
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

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
        self._wake()
        await asyncio.wait([task])
        await self._scripts.close()

    async def _cycle(self, settle_all: bool) -> bool:
        batch, self._reserving = self._reserving, []
        groups: dict[_Key, list[Reservation]] = {}
        for r in batch:
            group = groups.get((r.tenant, r.month))
            if group is None:
                groups[r.tenant, r.month] = [r]
            else:
                group.append(r)
        keys = list(groups)
        if settle_all:
            keys += [k for k in self._owed if k not in groups]
        owed: dict[_Key, Owed] = {}
        if self._owed:
            for k in keys:
                o = self._owed.pop(k, None)
                if o is not None:
                    owed[k] = o
        heads = self._heads
        calls = [heads.pack(*k, owed.get(k), groups.get(k, ())) for k in keys]
        try:
            replies = (
                await self._gate.run_by(lambda by: self._scripts.send(calls, by), "budget")
                if calls
                else []
            )
        except RedisUnavailable:
            replies = [None] * len(calls)
        except BaseException:  # cancelled mid-flight: Redis may hold them; settle them
            for r in batch:
                if r.state == Reservation.PENDING:
                    r.grant(Reservation.GRANTED)
            for key, o in owed.items():
                self._owed.setdefault(key, Owed()).add(o)
            raise
        delivered = True
        for key, reply in zip(keys, replies, strict=True):
            delivered &= self._apply(key, reply, owed.get(key), groups.get(key, ()))
        undecided, self._undecided = self._undecided, []
        for r, cost_micro, tokens in undecided:
            self.settle(r, cost_micro, tokens)
        return delivered

    def _apply(
        self, key: _Key, reply: Any, owed: Owed | None, group: Sequence[Reservation]
    ) -> bool:
        if isinstance(reply, list):
            outcomes = iter(reply)
            for r, outcome, wait_ms in zip(group, outcomes, outcomes, strict=True):
                if outcome == 0:
                    r.grant(Reservation.GRANTED)
                else:
                    decide(r, int(outcome), int(wait_ms))
            return True
        if reply is not None:
            log.error("budget script failed", extra={"error": repr(reply)})
        for r in group:
            self._unavailable(r)
        if owed is not None:
            if reply is None:  # Redis away: owed still, sent again with the next call
                self.counters["settle_retried"] += owed.count
                self._owed.setdefault(key, Owed()).add(owed)
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
